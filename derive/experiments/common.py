"""What several experiments share: the data source named on the command line, figure making."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from derive.errors import DeriveError

DATA_KINDS = ("shapeset", "cifar10")


@dataclass(frozen=True)
class DataSource:
    """Where labelled images come from: the Shapeset generator, or CIFAR-10 python batches at ``path``."""

    kind: str
    path: Path | None = None

    def label(self) -> str:
        """The source as written on the command line."""
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def key(self) -> list:
        """What the cache key needs: the kind, and for files their names, sizes and modification times."""
        if self.path is None:
            return [self.kind]
        files = sorted(self.path.iterdir()) if self.path.is_dir() else [self.path]
        return [self.kind, str(self.path.resolve())] + [
            [f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def parse_data(text) -> DataSource:
    """Parse ``shapeset`` or ``cifar10:PATH`` (a directory of CIFAR-10 python batches)."""
    if isinstance(text, DataSource):
        return text
    kind, _, rest = str(text).partition(":")
    if kind not in DATA_KINDS:
        raise DeriveError(f"unknown data source '{text}' (expected 'shapeset' or 'cifar10:PATH')")
    if kind == "shapeset":
        if rest:
            raise DeriveError(f"the shapeset source takes no path, got '{text}'")
        return DataSource("shapeset")
    if not rest:
        raise DeriveError("the cifar10 source needs a path: 'cifar10:PATH' (the directory of the python batches)")
    path = Path(rest)
    if not path.exists():
        raise DeriveError(f"{path}: no such CIFAR-10 directory")
    return DataSource("cifar10", path)


@contextlib.contextmanager
def plotting():
    """Matplotlib's default style whatever the user's matplotlibrc says, so figures are reproducible."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw):
    """A figure (no pyplot state) and its axes, as ``plt.subplots`` would give them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def grey_images(n: int, seed: int):
    """``n`` grey 32x32 Shapeset images flattened to (n, 1024) float64, their labels and the class count."""
    import numpy as np

    from derive import data

    x, y = data.shapeset(n, seed=seed, color=False, dtype=np.float64)
    return x.reshape(n, -1), y, len(data.CLASSES)


def labelled_images(source: DataSource, n: int, seed: int, split: str = "train"):
    """``n`` colour images (N, 32, 32, 3) with labels from the source: generated, or CIFAR-10's first n.

    Shapeset draws a different set for each split (the test seed is offset); CIFAR-10 reads the
    training batches or ``test_batch``.
    """
    import numpy as np

    from derive import data

    if source.kind == "shapeset":
        return data.shapeset(n, seed=seed + (1_000_003 if split == "test" else 0), color=True)
    x, y = data.load_cifar10(source.path, split=split)
    if len(x) < n:
        raise DeriveError(f"{source.path}: {len(x)} {split} images, the experiment needs {n}")
    pick = np.random.default_rng([seed, 7]).permutation(len(x))[:n]
    return x[np.sort(pick)], y[np.sort(pick)]
