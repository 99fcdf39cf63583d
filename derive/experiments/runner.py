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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from derive import __version__
from derive.errors import DeriveError

NAMES = ("branches", "loss", "dropout", "sparsity", "convolution", "vanishing", "glorot", "alexnet")
DEFAULT_CACHE_DIR = Path(".derive-cache") / "experiments"
RESULT_FILE = "result.json"
FIGURE_DPI = 110


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


def run(name: str, spec=None, seed: int = 0, quick: bool = False, data: str = "shapeset",
        cache_dir: str | Path | None = None, progress: Callable | None = None, force: bool = False) -> Result:
    """Run one experiment, or reuse its cached result when nothing it depends on has changed."""
    mod = _module(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DeriveError(f"the seed must be a non-negative integer, got {seed!r}")
    if "spec" in mod.NEEDS and spec is None:
        from derive.spec import default_spec

        spec = default_spec()
    from derive.data import parse_data
    from derive.experiments import common

    source = parse_data(data) if "data" in mod.NEEDS else None
    sizes = dict(mod.SIZES["quick" if quick else "full"])
    key = cache_key(name, mod, spec if "spec" in mod.NEEDS else None, source, seed, quick)
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    final = root / name / key
    if not force:
        cached = _load(final)
        if cached is not None:
            return cached
    ctx = Context(name, seed, quick, sizes, spec, source, progress)
    with common.plotting(), common.single_threaded_blas():
        outcome = mod.compute(ctx)
        _store(final, name, mod, ctx, outcome, key)
    return _load(final, cached=False)


def run_all(names=None, **options) -> list[Result]:
    """Run the named experiments (default: all of ``NAMES``, in order) with the same options."""
    return [run(name, **options) for name in (NAMES if names is None else names)]


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
        os.replace(tmp, final)
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
