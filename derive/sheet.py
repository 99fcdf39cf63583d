"""The correction sheet: gather every answer unit's context, render Markdown, LaTeX, Typst, PDF, write atomically.

Everything is built in a temporary folder beside the output folder; files are moved into place
(``os.replace``) only once every requested format has been produced, so a failure leaves the
output folder as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from derive import answers, cache, render
from derive.errors import DeriveError

FORMATS = ("md", "tex", "typ", "pdf")
STEM = "corrige"
SEED = 0  # the seed of every experiment and certificate the sheet quotes
# The certificate checks a sample of each tensor's entries; `derive check` runs the exhaustive version.
EXHAUSTIVE = False


class BuildFailed(Exception):
    """The sheet could not be produced: a check failed, or a converter or PDF engine reported an error."""


@dataclass
class Inputs:
    """What the answer units compute from, each piece computed once, on first use."""

    spec: object
    figdir: Path
    cache_dir: Path | None = None  # holds experiments/ and certificate/; None: each one's default folder
    seed: int = SEED
    quick: bool = False
    figures: dict[str, str] = field(default_factory=dict)
    runs: dict[str, object] = field(default_factory=dict)
    certificates: dict[bool, dict] = field(default_factory=dict)
    certificate_keys: dict[bool, str] = field(default_factory=dict)
    pending: dict[tuple, object] = field(default_factory=dict)  # futures of what workers compute

    @cached_property
    def report(self) -> dict:
        """The count-params report of the spec."""
        from derive import params

        return params.report(self.spec)

    def job(self, name: str):
        """The experiment ``name`` on this spec and seed: its cache key and folder."""
        from derive.experiments import runner

        where = None if self.cache_dir is None else Path(self.cache_dir) / "experiments"
        return runner.plan(name, spec=self.spec, seed=self.seed, quick=self.quick, cache_dir=where)

    def experiment(self, name: str):
        """The result of one experiment on this spec and seed (cached on disk by the experiments' runner)."""
        if name not in self.runs:
            from derive.experiments import runner

            job = self.job(name)
            self._wait(("experiment", name))
            if runner.load(job) is None:
                runner.compute(job)
            self.runs[name] = runner.load(job)
        return self.runs[name]

    def certificate_key(self, shared: bool) -> str:
        """The cache key of the certificate's run with tied or untied branches."""
        from derive import cache

        if shared not in self.certificate_keys:
            self.certificate_keys[shared] = cache.key(
                self.spec.with_options(shared=shared), self.seed, cache.closure(["derive.certificate"]),
                exhaustive=EXHAUSTIVE)
        return self.certificate_keys[shared]

    def certificate(self, shared: bool) -> dict:
        """The certificate's report for the spec with tied or untied branches (cached by spec, seed and code)."""
        if shared not in self.certificates:
            from derive import cache, certificate

            net, key = self.spec.with_options(shared=shared), self.certificate_key(shared)
            self._wait(("certificate", shared))
            self.certificates[shared] = cache.cached(
                "certificate", key, lambda: certificate.run(net, seed=self.seed, exhaustive=EXHAUSTIVE),
                directory=self.cache_dir)
        return self.certificates[shared]

    def start(self, pool, names=None, certificates=(False, True)) -> None:
        """Hand the pool every certificate and experiment (default: all) not stored yet.

        The certificates go first, since the first answers need them; then the experiments, the
        longest first, so that the workers finish together.
        """
        from derive import cache, certificate
        from derive.experiments import NAMES, runner

        for shared in certificates:
            key = self.certificate_key(shared)
            if not cache.stored("certificate", key, self.cache_dir):
                self.pending[("certificate", shared)] = pool.submit(
                    cache.fill, "certificate", key, self.cache_dir, certificate.run,
                    self.spec.with_options(shared=shared), seed=self.seed, exhaustive=EXHAUSTIVE)
        jobs = [self.job(name) for name in (NAMES if names is None else names)]
        for job in sorted(jobs, key=lambda j: -runner.COST.get(j.name, 0)):
            if runner.load(job) is None:
                self.pending[("experiment", job.name)] = pool.submit(runner.work, job)

    def _wait(self, tag: tuple) -> None:
        future = self.pending.pop(tag, None)
        if future is not None:
            future.result()

    def export(self, target: Path) -> None:
        """Copy the experiment and certificate results this sheet used into `target`, laid out as a cache."""
        from derive import cache

        for name, run in self.runs.items():
            shutil.copytree(run.directory, target / "experiments" / name / run.key)
        for shared in self.certificates:
            key = self.certificate_keys[shared]
            source = Path(self.cache_dir or cache.DEFAULT_DIR) / "certificate" / f"{key}.json"
            (target / "certificate").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / "certificate" / f"{key}.json")

    def experiment_figures(self, name: str) -> _Figures:
        """An experiment's figures by file stem; each is copied into the sheet's figures/ folder when used."""
        return _Figures(self, {Path(p).stem: p for p in self.experiment(name).figures})

    def figure(self, name: str, draw) -> str:
        """Draw a figure once into the sheet's figures/ folder; returns its path relative to the sheet."""
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


@dataclass
class Solved:
    """One answered question: its unit, its computed context and the evidence checked on it."""

    unit: answers.Unit
    context: dict
    checks: list[answers.Check]


def parse_formats(text: str) -> tuple[str, ...]:
    """The formats of a --format value such as "md,tex,pdf", in canonical order."""
    asked = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in asked if f not in FORMATS]
    if bad or not asked:
        raise DeriveError(f"unknown format '{','.join(bad) or text}' (expected a comma-separated list of "
                          f"{', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in asked)


def steps(formats: tuple[str, ...]) -> int:
    """How many progress steps a build of these formats reports."""
    return len(answers.load_all()) + 2 + ("tex" in formats or "pdf" in formats) + ("pdf" in formats)


def solve_all(spec, figdir: Path, progress=None, cache_dir=None, pool=None) -> tuple[list[Solved], Inputs]:
    """Compute every unit's context and check its evidence; a failed check stops the build.

    With a :class:`derive.workers.Pool`, the experiments and certificates not cached yet are computed
    in its workers while the units that need none of them are solved here.
    """
    inputs = Inputs(spec, figdir, cache_dir)
    if pool is not None:
        inputs.start(pool)
    solved = []
    for unit in answers.load_all():
        _tick(progress, f"{unit.id}")
        context = unit.solve(inputs)
        checks = unit.check(context)
        failed = [c for c in checks if not c.ok]
        if failed:
            raise BuildFailed("; ".join(f"{unit.id}: check failed: {c.text('en')} ({c.note('en')})" for c in failed))
        solved.append(Solved(unit, context, checks))
    return solved, inputs


def check_request(lang: str, engine: str, out, cache_dir=None, evidence=None) -> None:
    """Refuse, before any work, a language, engine or folder the sheet cannot use (a DeriveError)."""
    if lang not in answers.LANGS:
        raise DeriveError(f"unknown language '{lang}' (expected one of {', '.join(answers.LANGS)})")
    if engine not in render.ENGINES:
        raise DeriveError(f"unknown PDF engine '{engine}' (expected one of {', '.join(render.ENGINES)})")
    for folder in (out, cache_dir, evidence):
        if folder is not None:
            cache.check_folder(folder)


def build(spec, lang: str = "fr", formats=("md", "tex", "pdf"), engine: str = "typst",
          out: str | Path = "build", progress=None, cache_dir=None, evidence=None, workers: int | None = None
          ) -> list[Path]:
    """Write corrige.<lang>.<fmt> and figures/ into `out`; returns the written paths.

    ``cache_dir`` holds the experiments' and certificates' results (default: .derive-cache/);
    ``evidence``, if given, is replaced by a copy of the results this sheet used (laid out as a cache);
    ``workers`` > 0 computes the missing results in that many worker processes (default: one per
    core), 0 in this process.
    """
    from derive import document
    from derive.workers import Pool, default_count

    check_request(lang, engine, out, cache_dir, evidence)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".derive-sheet-", dir=out.parent.resolve()))
    except OSError as exc:
        raise DeriveError(f"{out}: cannot write the sheet there ({exc.strerror})") from None
    try:
        workers = default_count() if workers is None else workers
        with Pool(workers) if workers else contextlib.nullcontext() as pool:
            solved, inputs = solve_all(spec, tmp / "figures", progress, cache_dir, pool)
        doc = document.Document(spec, lang, solved, runs=inputs.runs, certificates=inputs.certificates)
        _tick(progress, "markdown")
        written = [_write(tmp / f"{STEM}.{lang}.md", doc.markdown())]
        if "tex" in formats or (engine == "latex" and "pdf" in formats):
            _tick(progress, "latex")
            written.append(_write(tmp / f"{STEM}.{lang}.tex", doc.latex()))
        if "typ" in formats or (engine == "typst" and "pdf" in formats):
            _tick(progress, "typst")
            written.append(_write(tmp / f"{STEM}.{lang}.typ", doc.typst()))
        if "pdf" in formats:
            _tick(progress, f"pdf ({engine})")
            compile_pdf = render.pdf_typst if engine == "typst" else render.pdf_latex
            try:
                written.append(compile_pdf(tmp / f"{STEM}.{lang}.{'typ' if engine == 'typst' else 'tex'}"))
            except RuntimeError as exc:
                raise BuildFailed(str(exc)) from exc
        keep = [p for p in written if p.suffix.lstrip(".") in formats]
        keep += sorted((tmp / "figures").glob("*")) if (tmp / "figures").exists() else []
        if evidence is not None:
            inputs.export(tmp / "evidence")
        _tick(progress, "write")
        written = _move(keep, tmp, out)
        if evidence is not None:
            _replace_folder(tmp / "evidence", Path(evidence))
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _move(paths: list[Path], tmp: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for p in paths:
        target = out / p.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, target)
        done.append(target)
    return done


def _replace_folder(source: Path, target: Path) -> None:
    """Put folder `source` in place of `target` (renames, so readers never see a half-copied folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


def _tick(progress, label: str) -> None:
    if progress is not None:
        progress(label)
