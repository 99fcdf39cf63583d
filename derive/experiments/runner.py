"""The experiment registry, the runner and its cache.

Each experiment is a module of this package exposing ``QUESTION``, ``TITLE``, ``SIZES``
(``{"quick": {...}, "full": {...}}``), ``NEEDS`` (a subset of ``{"spec", "data"}``), ``USES``
(the library modules whose source it runs), ``compute(ctx) -> Outcome`` and
``summary(conclusion) -> str``. A result is stored under ``<cache>/<name>/<key>/`` as
``result.json`` plus one PNG per figure; the key hashes everything the numbers depend on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from derive import __version__, cache
from derive.errors import DeriveError

NAMES = ("branches", "loss", "dropout", "sparsity", "convolution", "vanishing", "glorot", "alexnet")
DEFAULT_CACHE_DIR = Path(".derive-cache") / "experiments"
RESULT_FILE = "result.json"
FIGURE_DPI = 110
# Seconds each experiment computes at full size on a 2-core machine: only the order in which workers
# take them depends on it (the longest first, so that they finish together).
COST = {"branches": 74, "alexnet": 24, "dropout": 16, "sparsity": 11, "convolution": 3, "glorot": 2, "vanishing": 1,
        "loss": 1}


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
                "numbers_file": str(self.directory / RESULT_FILE), "cached": self.cached}


@dataclass
class Outcome:
    """What ``compute`` returns: numbers, the quoted conclusion, and matplotlib figures by file stem."""

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
    """One experiment to run: its inputs, its cache key and the folder its result goes to."""

    name: str
    spec: Any
    seed: int
    quick: bool
    source: Any
    key: str
    directory: Path


def plan(name: str, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
         cache_dir: str | Path | None = None) -> Job:
    """Check the inputs of one experiment and name its result (key and folder); nothing is run."""
    mod = _module(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DeriveError(f"the seed must be a non-negative integer, got {seed!r}")
    if "spec" in mod.NEEDS and spec is None:
        from derive.spec import default_spec

        spec = default_spec()
    from derive.data import parse_data

    source = parse_data(data) if "data" in mod.NEEDS else None
    spec = spec if "spec" in mod.NEEDS else None
    key = cache_key(name, mod, spec, source, seed, quick)
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    return Job(name, spec, seed, quick, source, key, root / name / key)


def load(job: Job) -> Result | None:
    """The stored result of a job, or None when it has not been computed (or is damaged)."""
    return _load(job.directory)


def compute(job: Job, progress: Callable | None = None) -> float:
    """Compute a job in this process and store its result; returns the seconds it took."""
    from derive.experiments import common

    start = time.perf_counter()
    mod = _module(job.name)
    ctx = Context(job.name, job.seed, job.quick, dict(mod.SIZES["quick" if job.quick else "full"]), job.spec,
                  job.source, progress)
    with common.plotting(), common.single_threaded_blas():
        outcome = mod.compute(ctx)
        _store(job.directory, job.name, mod, ctx, outcome, job.key)
    return time.perf_counter() - start


def work(job: Job) -> float:
    """:func:`compute` in a worker process, its progress forwarded to the caller."""
    from derive import workers

    return compute(job, workers.progress())


def run(name: str, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
        cache_dir: str | Path | None = None, progress: Callable | None = None, force: bool = False,
        workers: int = 0) -> Result:
    """Run one experiment, or reuse its cached result when nothing it depends on has changed (see run_all)."""
    return run_all([name], spec=spec, seed=seed, quick=quick, data=data, cache_dir=cache_dir, progress=progress,
                   force=force, workers=workers)[0]


def run_all(names=None, *, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
            cache_dir: str | Path | None = None, progress: Callable | None = None, force: bool = False,
            workers: int = 0, done: Callable | None = None) -> list[Result]:
    """Run the named experiments (default: all of ``NAMES``) with the same options; results in that order.

    ``workers`` > 0 computes the missing results in that many worker processes at once, the longest
    first; 0 computes them here one after the other. ``done(result, seconds)``, if given, is called
    as each result is ready (seconds of computing, 0 when it came from the cache).
    """
    from derive import workers as pools

    names = list(NAMES if names is None else names)
    for name in names:
        _module(name)  # an unknown name is rejected before anything runs
    jobs = [plan(name, spec, seed, quick, data, cache_dir) for name in dict.fromkeys(names)]
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    cache.check_folder(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeriveError(f"{root}: cannot create the cache folder ({exc.strerror})") from None
    results = {job.name: None if force else load(job) for job in jobs}
    todo = sorted((job for job in jobs if results[job.name] is None), key=lambda j: -COST.get(j.name, 0))

    def finish(job, elapsed):
        results[job.name] = _load(job.directory, cached=False)
        if done is not None:
            done(results[job.name], elapsed)

    for job in jobs:
        if results[job.name] is not None and done is not None:
            done(results[job.name], 0.0)
    if todo and workers:
        with pools.Pool(workers, progress) as pool:
            futures = {pool.submit(work, job): job for job in todo}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    else:
        for job in todo:
            finish(job, compute(job, progress))
    return [results[name] for name in names]


def cache_key(name: str, mod, spec, source, seed: int, quick: bool) -> str:
    """The hash of everything a result depends on: experiment, spec content, data, seed, size, code."""
    spec_view = None
    if spec is not None:
        spec_view = {k: v for k, v in dataclasses.asdict(spec).items() if k != "source"}
    payload = {"experiment": name, "spec": spec_view, "data": None if source is None else source.key(),
               "seed": seed, "quick": quick, "code": code_version(mod)}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version(mod) -> str:
    """A hash of the source of the experiment, this runner and the library modules it uses."""
    names = sorted({mod.__name__, __name__, "derive.experiments.common", *mod.USES})
    digest = hashlib.sha256(__version__.encode())
    for mod_name in names:
        found = importlib.util.find_spec(mod_name)
        digest.update(mod_name.encode())
        if found is not None and found.origin and os.path.exists(found.origin):
            digest.update(Path(found.origin).read_bytes())
    return digest.hexdigest()[:16]


def _module(name: str):
    if name not in NAMES:
        raise DeriveError(f"unknown experiment '{name}' (expected one of {', '.join(NAMES)})")
    return importlib.import_module(f"derive.experiments.{name}")


def _load(directory: Path, cached: bool = True) -> Result | None:
    try:
        record = json.loads((directory / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    figures = tuple(directory / f for f in record["figures"])
    if not all(p.is_file() for p in figures):
        return None
    return Result(record["experiment"], record["question"], record["title"], record["seed"], record["quick"],
                  record["key"], directory, record["sizes"], record["numbers"], record["conclusion"],
                  figures, cached)


def _store(final: Path, name: str, mod, ctx: Context, outcome: Outcome, key: str) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        stems = sorted(outcome.figures)
        for stem in stems:
            fig = outcome.figures[stem]
            # No Software/date metadata: the same numbers give the same bytes.
            fig.savefig(tmp / f"{stem}.png", format="png", dpi=FIGURE_DPI, metadata={"Software": None})
        record = {"experiment": name, "question": mod.QUESTION, "title": mod.TITLE, "seed": ctx.seed,
                  "quick": ctx.quick, "key": key, "sizes": ctx.sizes,
                  "data": None if ctx.data is None else ctx.data.label(),
                  "numbers": outcome.numbers, "conclusion": outcome.conclusion,
                  "figures": [f"{stem}.png" for stem in stems]}
        (tmp / RESULT_FILE).write_text(dumps(record), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / RESULT_FILE).is_file():
                raise
            # Another process sharing the cache stored this key meanwhile: same inputs, same bytes.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def dumps(obj) -> str:
    """Deterministic JSON: sorted keys, NumPy scalars and arrays as plain values, NaN/inf as null."""
    return json.dumps(plain(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def plain(obj):
    """Convert NumPy values (recursively) into JSON-ready Python values."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return plain(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
