"""The experiment registry and the runner.

Each experiment is a module of this package exposing ``QUESTION``, ``TITLE``, ``SIZES``
(``{"quick": {...}, "full": {...}}``), ``NEEDS`` (a subset of ``{"spec", "data"}``),
``compute(ctx) -> Outcome`` and ``summary(conclusion) -> str``. A result is an entry of the one
result store (:mod:`derive.runtime.cache`), ``<cache>/experiments/<name>/<key>/``: its numbers and
one PNG per figure; the key hashes everything the numbers depend on, the code included.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from derive.errors import DeriveError, quote
from derive.runtime import cache, tuning

NAMES = ("branches", "loss", "dropout", "sparsity", "convolution", "vanishing", "glorot", "alexnet")
FIGURE_DPI = 110
# Seconds each experiment computes at full size on a 2-core machine: only the order in which workers
# take them depends on it (the longest first, so that they finish together).
COST = {"branches": 74, "alexnet": 24, "dropout": 16, "sparsity": 11, "convolution": 3, "glorot": 2, "vanishing": 1,
        "loss": 1}
# Experiments that train the same run (network, recipe, data, seed and steps; alexnet's 'momentum' is
# dropout's 'none'): one worker computes them one after the other, in this order, so that the second
# takes the first's finished run (common.train_run) instead of training it again.
TOGETHER = (("alexnet", "dropout"),)


@dataclass(frozen=True)
class Result:
    """What one experiment measured: all its numbers, the ones the sheet quotes, its figures."""

    name: str
    question: str
    title: str
    seed: int
    quick: bool
    key: str
    directory: Path
    sizes: dict
    numbers: dict
    conclusion: dict
    figures: tuple[Path, ...]
    cached: bool = False

    def summary(self) -> str:
        """One line stating the experiment's conclusion with its numbers."""
        return _module(self.name).summary(self.conclusion)

    def to_dict(self) -> dict:
        """A JSON-ready view (paths as strings)."""
        return {"name": self.name, "question": self.question, "title": self.title, "seed": self.seed,
                "quick": self.quick, "key": self.key, "directory": str(self.directory), "sizes": self.sizes,
                "conclusion": self.conclusion, "figures": [str(p) for p in self.figures],
                "numbers_file": str(self.directory / cache.RECORD), "cached": self.cached}


@dataclass
class Outcome:
    """What ``compute`` returns: numbers, the quoted conclusion, and figures by file stem.

    Each figure is a function of the language (``"fr"`` or ``"en"``) that draws it with its labels
    in that language; the runner stores one PNG per stem and language (``stem.fr.png``).
    """

    numbers: dict
    conclusion: dict
    figures: dict = field(default_factory=dict)


@dataclass
class Context:
    """Everything an experiment may use: seed, sizes, spec, data source, progress reporting."""

    name: str
    seed: int
    quick: bool
    sizes: dict
    spec: Any = None
    data: str = "shapeset"
    progress: Callable = None

    def rng(self, *stream: int):
        """A NumPy generator for one named stream of this run (independent of the others)."""
        import numpy as np

        return np.random.default_rng([self.seed, *stream])

    def bar(self, label: str, total: int):
        """A progress context (``.update(n)``) from the caller's factory, or a silent one."""
        if self.progress is None:
            return contextlib.nullcontext(_Silent())
        return self.progress(f"{self.name}: {label}", total)


class _Silent:
    def update(self, n: int = 1) -> None:
        """Ignore progress."""


def describe(name: str) -> dict:
    """The exam question and title of one experiment."""
    mod = _module(name)
    return {"name": name, "question": mod.QUESTION, "title": mod.TITLE}


@dataclass(frozen=True)
class Job:
    """One experiment to run: its inputs and the store entry its result goes to."""

    name: str
    spec: Any
    seed: int
    quick: bool
    source: Any
    entry: cache.Entry

    @property
    def key(self) -> str:
        """The result's key in the store."""
        return self.entry.key

    @property
    def directory(self) -> Path:
        """The result's folder."""
        return self.entry.folder


def plan(name: str, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
         cache_dir: str | Path | None = None) -> Job:
    """Check the inputs of one experiment and name its result (its entry in the store); nothing is run."""
    mod = _module(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DeriveError(f"the seed must be a non-negative integer, got {seed!r}")
    if "spec" in mod.NEEDS and spec is None:
        from derive.spec import default_spec

        spec = default_spec()
    from derive.engine.data import parse_data

    source = parse_data(data) if "data" in mod.NEEDS else None
    spec = spec if "spec" in mod.NEEDS else None
    root = Path(cache_dir) if cache_dir is not None else cache.DEFAULT_DIR
    return Job(name, spec, seed, quick, source, cache.Entry(root, f"experiments/{name}",
                                                             cache_key(name, spec, source, seed, quick)))


def load(job: Job) -> Result | None:
    """The stored result of a job, or None when it has not been computed (or is damaged)."""
    return _load(job)


def compute(job: Job, progress: Callable | None = None) -> float:
    """Compute a job in this process and store its result; returns the seconds it took."""
    from derive.experiments import common

    start = time.perf_counter()
    mod = _module(job.name)
    ctx = Context(job.name, job.seed, job.quick, dict(mod.SIZES["quick" if job.quick else "full"]), job.spec,
                  job.source, progress)
    # One BLAS thread: the network runs its two branches in two threads itself, and on a machine shared
    # with other jobs a multi-threaded BLAS spins waiting for busy cores.
    with common.plotting(), tuning.blas_threads(1):
        outcome = mod.compute(ctx)
        _store(job, mod, ctx, outcome)
    return time.perf_counter() - start


def work(job: Job) -> float:
    """:func:`compute` in a worker process, its progress forwarded to the caller."""
    from derive.runtime import workers

    return compute(job, workers.progress())


def work_all(jobs) -> list[float]:
    """:func:`work` for jobs one after the other in one worker (a group of :func:`groups`): seconds of each."""
    return [work(job) for job in jobs]


def groups(jobs) -> list[tuple[Job, ...]]:
    """The jobs as the workers take them: those that train the same run together, the longest groups first."""
    jobs = list(jobs)
    out, taken = [], set()
    for names in TOGETHER:
        group = tuple(job for name in names for job in jobs if job.name == name)
        if len(group) > 1:
            out.append(group)
            taken.update(job.name for job in group)
    out += [(job,) for job in jobs if job.name not in taken]
    return sorted(out, key=lambda g: -sum(COST.get(job.name, 0) for job in g))


def run(name: str, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
        cache_dir: str | Path | None = None, progress: Callable | None = None, force: bool = False,
        workers: int = 0) -> Result:
    """Run one experiment, or reuse its cached result when nothing it depends on has changed (see run_all)."""
    return run_all([name], spec=spec, seed=seed, quick=quick, data=data, cache_dir=cache_dir, progress=progress,
                   force=force, workers=workers)[0]


def run_all(names=None, *, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
            cache_dir: str | Path | None = None, progress: Callable | None = None, force: bool = False,
            workers: int = 0, done: Callable | None = None) -> Results:
    """Run the named experiments (default: all of ``NAMES``) with the same options; results in that order.

    ``workers`` > 0 computes the missing results in that many worker processes at once, the longest
    first; 0 computes them here one after the other. ``done(result, seconds)``, if given, is called
    as each result is ready (seconds of computing, 0 when it came from the cache).
    """
    from derive.runtime import workers as pools

    names = list(NAMES if names is None else names)
    for name in names:
        _module(name)  # an unknown name is rejected before anything runs
    jobs = [plan(name, spec, seed, quick, data, cache_dir) for name in dict.fromkeys(names)]
    root = Path(cache_dir) if cache_dir is not None else cache.DEFAULT_DIR
    cache.check_folder(root)
    check_memory(jobs)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeriveError(f"{root}: cannot create the cache folder ({exc.strerror})") from None
    results = {job.name: None if force else load(job) for job in jobs}
    todo = groups(job for job in jobs if results[job.name] is None)

    def finish(job, elapsed):
        results[job.name] = _load(job, cached=False)
        if done is not None:
            done(results[job.name], elapsed)

    for job in jobs:
        if results[job.name] is not None and done is not None:
            done(results[job.name], 0.0)
    if todo and workers:
        with pools.Pool(workers, progress) as pool:
            futures = {pool.submit(work_all, group): group for group in todo}
            for future in as_completed(futures):
                for job, elapsed in zip(futures[future], future.result()):
                    finish(job, elapsed)
    else:
        for job in (job for group in todo for job in group):
            finish(job, compute(job, progress))
    return Results(results[name] for name in names)


class Results(list):
    """Experiment results in the order asked, and their rendering."""

    def render(self, fmt: str = "text") -> str:
        """One summary line per experiment with its files, or the JSON list of the results."""
        if fmt == "json":
            return json.dumps([r.to_dict() for r in self], indent=2, sort_keys=True) + "\n"
        lines = []
        for r in self:
            lines += [f"{r.name} ({r.question}): {r.summary()}", f"  numbers: {r.directory / cache.RECORD}"]
            lines += [f"  figure:  {path}" for path in r.figures]
        return "\n".join(lines) + "\n"


def check_memory(jobs) -> None:
    """Refuse, before any work, experiments on a network this machine cannot hold (one line, a DeriveError).

    Those that train the spec's network draw their images and run batches of 32 pairs and chunks of 256
    images, float32 (a worker each, at most two at once).
    """
    from derive.runtime import tuning
    from derive.shapes import working_set

    need = 0
    for job in jobs:
        if job.spec is None:
            continue
        sizes = _module(job.name).SIZES["quick" if job.quick else "full"]
        h, w, c = job.spec.input
        data = 4 * 2 * (sizes.get("train_images", 0) + sizes.get("test_images", 0)) * h * w * c
        step = max(working_set(job.spec, 32, 4), working_set(job.spec, 256, 4, backward=False))
        need = max(need, data + 3 * step)  # the runs of one experiment keep up to three networks
    if need:
        tuning.check_memory(2 * need, "the experiments on this spec")


def cache_key(name: str, spec, source, seed: int, quick: bool) -> str:
    """The hash of everything a result depends on: experiment, spec content, data, seed, size, code."""
    return cache.key(f"experiments/{name}", f"derive.experiments.{name}", spec=spec, data=source, seed=seed,
                     quick=quick)


def _module(name: str):
    if name not in NAMES:
        raise DeriveError(f"unknown experiment {quote(name)} (expected one of {', '.join(NAMES)})")
    return importlib.import_module(f"derive.experiments.{name}")


RECORD_FIELDS = ("experiment", "question", "title", "seed", "quick", "sizes", "numbers", "conclusion", "figures")


def _valid(record) -> bool:
    return (isinstance(record, dict) and all(k in record for k in RECORD_FIELDS)
            and isinstance(record["numbers"], dict) and isinstance(record["conclusion"], dict)
            and isinstance(record["sizes"], dict) and isinstance(record["figures"], list))


def valid_record(record, name: str | None = None) -> bool:
    """Whether a stored record has the fields, types and sizes of its experiment's results.

    The experiment's own summary must read its conclusion: a conclusion of the wrong shape (an edited
    or forged record whose digest was rewritten) is a miss, recomputed, never quoted.
    """
    if not _valid(record) or not isinstance(record["experiment"], str) or record["experiment"] not in NAMES:
        return False
    if name is not None and record["experiment"] != name:
        return False
    mod = _module(record["experiment"])
    quick, seed = record["quick"], record["seed"]
    if not isinstance(quick, bool) or isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return False
    if record["sizes"] != mod.SIZES["quick" if quick else "full"] or record["question"] != mod.QUESTION \
            or record["title"] != mod.TITLE:
        return False
    if not all(isinstance(f, str) and f.endswith(".png") for f in record["figures"]):
        return False
    try:
        return isinstance(mod.summary(record["conclusion"]), str)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError):
        return False


def _check(job: Job):
    """The check a stored record of this job must pass."""
    return lambda r: valid_record(r, job.name) and r["seed"] == job.seed and r["quick"] == job.quick


def _load(job: Job, cached: bool = True) -> Result | None:
    record = job.entry.load(_check(job))
    if record is None or sorted(record["figures"]) != sorted(p.name for p in job.entry.files()):
        return None
    figures = tuple(job.directory / f for f in record["figures"])
    return Result(record["experiment"], record["question"], record["title"], record["seed"], record["quick"],
                  job.key, job.directory, record["sizes"], record["numbers"], record["conclusion"], figures, cached)


def _store(job: Job, mod, ctx: Context, outcome: Outcome) -> None:
    from derive.experiments.common import localised
    from derive.prose import LANGS

    stems = sorted(outcome.figures)

    def writer(draw, lang):
        # No Software/date metadata: the same numbers give the same bytes.
        return lambda path: localised(draw(lang), lang).savefig(path, format="png", dpi=FIGURE_DPI,
                                                                metadata={"Software": None})

    files = {f"{stem}.{lang}.png": writer(outcome.figures[stem], lang) for stem in stems for lang in LANGS}
    record = {"experiment": job.name, "question": mod.QUESTION, "title": mod.TITLE, "seed": ctx.seed,
              "quick": ctx.quick, "sizes": ctx.sizes, "data": None if ctx.data is None else ctx.data.label(),
              "numbers": outcome.numbers, "conclusion": outcome.conclusion, "figures": sorted(files)}
    job.entry.store(record, files, _check(job))
