"""What the answer units compute from: the spec, its count report, experiments, certificates and figures.

Each piece is computed once, on first use; with a worker pool, the experiments and certificates not
stored yet are handed to the workers at the start and waited for when a unit asks for them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

SEED = 0  # the seed of every experiment and certificate the sheet quotes
# The certificate checks a sample of each tensor's entries; `derive check` runs the exhaustive version.
EXHAUSTIVE = False


@dataclass
class Inputs:
    """What the answer units compute from, each piece computed once, on first use."""

    spec: object
    figdir: Path
    cache_dir: Path | None = None  # holds experiments/ and certificate/; None: each one's default folder
    seed: int = SEED
    quick: bool = False
    lang: str = "fr"  # the language of the figures drawn or copied for this sheet
    reference: object = None  # the spec the experiments run on, when not this one (a variant's sheet)
    figures: dict[str, str] = field(default_factory=dict)
    runs: dict[str, object] = field(default_factory=dict)
    certificates: dict[bool, dict] = field(default_factory=dict)
    certificate_entries: dict[bool, object] = field(default_factory=dict)
    pending: dict[tuple, object] = field(default_factory=dict)  # futures of what workers compute

    @cached_property
    def report(self) -> dict:
        """The count-params report of the spec."""
        from derive import count

        return count.report(self.spec)

    @property
    def store(self) -> Path:
        """The root of the result store."""
        from derive.runtime import cache

        return Path(self.cache_dir) if self.cache_dir is not None else cache.DEFAULT_DIR

    def job(self, name: str):
        """The experiment ``name`` on this spec (or the reference one) and seed: its entry in the store."""
        from derive.experiments import runner

        spec = self.spec if self.reference is None else self.reference
        return runner.plan(name, spec=spec, seed=self.seed, quick=self.quick, cache_dir=self.store)

    def experiment(self, name: str):
        """The result of one experiment on this spec and seed (from the store, or computed here)."""
        if name not in self.runs:
            from derive.experiments import runner

            job = self.job(name)
            self._wait(("experiment", name))
            if runner.load(job) is None:
                runner.compute(job)
            self.runs[name] = runner.load(job)
        return self.runs[name]

    def certificate_entry(self, shared: bool):
        """The store entry of the certificate's run with tied or untied branches."""
        from derive.certify import certificate

        if shared not in self.certificate_entries:
            self.certificate_entries[shared] = certificate.entry(self.spec.with_options(shared=shared), self.seed,
                                                                 self.store, exhaustive=EXHAUSTIVE)
        return self.certificate_entries[shared]

    def certificate(self, shared: bool) -> dict:
        """The certificate's report for the spec with tied or untied branches (stored by spec, seed and code)."""
        if shared not in self.certificates:
            from derive.certify import certificate

            net = self.spec.with_options(shared=shared)
            self._wait(("certificate", shared))
            self.certificates[shared] = self.certificate_entry(shared).get(
                lambda: certificate.run(net, seed=self.seed, exhaustive=EXHAUSTIVE), check=certificate.valid)
        return self.certificates[shared]

    def start(self, pool, names=None, certificates=(False, True)) -> None:
        """Hand the pool every certificate and experiment (default: all) not stored yet.

        The certificates go first, since the first answers need them; then the experiments, the
        longest first, so that the workers finish together; experiments that train the same run go
        to one worker together (:func:`derive.experiments.runner.groups`).
        """
        from derive.certify import certificate
        from derive.experiments import NAMES, runner

        for shared in certificates:
            entry = self.certificate_entry(shared)
            if entry.load(certificate.valid) is None:
                self.pending[("certificate", shared)] = pool.submit(
                    certificate.store, entry, self.spec.with_options(shared=shared), seed=self.seed,
                    exhaustive=EXHAUSTIVE)
        jobs = [self.job(name) for name in (NAMES if names is None else names)]
        for group in runner.groups(job for job in jobs if runner.load(job) is None):
            future = pool.submit(runner.work_all, group)
            for job in group:
                self.pending[("experiment", job.name)] = future

    def _wait(self, tag: tuple) -> None:
        future = self.pending.pop(tag, None)
        if future is not None:
            future.result()

    def export(self, target: Path) -> None:
        """Copy the experiment and certificate results this sheet used into another store, ``target``."""
        from derive.runtime import cache

        cache.export([self.job(name).entry for name in sorted(self.runs)]
                     + [self.certificate_entries[shared] for shared in sorted(self.certificates)], target)

    def experiment_figures(self, name: str) -> _Figures:
        """An experiment's figures in the sheet's language, by stem; each is copied into figures/ when used."""
        suffix = f".{self.lang}"
        return _Figures(self, {Path(p).stem[:-len(suffix)]: p for p in self.experiment(name).figures
                               if Path(p).stem.endswith(suffix)})

    def figure(self, name: str, draw) -> str:
        """Draw a figure once into the sheet's figures/ folder (its name ends with the language: a.fr.png).

        Returns its path relative to the sheet.
        """
        stem, dot, ext = name.rpartition(".")
        if not stem.endswith(f".{self.lang}"):
            name = f"{stem}.{self.lang}{dot}{ext}"
        if name not in self.figures:
            self.figdir.mkdir(parents=True, exist_ok=True)
            draw(self.figdir / name)
            self.figures[name] = f"figures/{name}"
        return self.figures[name]

    def copy_figure(self, source: str | Path, name: str | None = None) -> str:
        """Copy a figure made elsewhere (an experiment's) into the sheet's figures/ folder."""
        source = Path(source)
        return self.figure(name or source.name, lambda target: shutil.copyfile(source, target))


class _Figures:
    """Figures made elsewhere, copied into the sheet only when a template asks for one (figs.stem)."""

    def __init__(self, inputs: Inputs, paths: dict):
        self._inputs, self._paths = inputs, paths

    def __getitem__(self, stem: str) -> str:
        return self._inputs.copy_figure(self._paths[stem])

    def __getattr__(self, stem: str) -> str:
        if stem.startswith("_"):
            raise AttributeError(stem)
        try:
            return self[stem]
        except KeyError:
            raise AttributeError(stem) from None
