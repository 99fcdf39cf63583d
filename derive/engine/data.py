"""Images for training: a Shapeset-3x2-style generator, a CIFAR-10 loader and pair sampling.

Shapeset-3x2 (Glorot & Bengio 2010, section 2.1) holds one or two shapes among triangle,
parallelogram and ellipse, with random shape parameters, scale, rotation, position and grey
level; the second shape may not hide more than half of the first. The class says which shapes are
present (3 single shapes + 6 unordered pairs = 9 classes). This generator follows that recipe,
in colour (NHWC, C = 3) or grey (C = 1), with edges anti-aliased by a one-pixel ramp.

A data source, as the command line names it (``shapeset`` or ``cifar10:PATH``), is parsed by
:func:`parse_data`; :func:`labelled_images` draws a training or held-out set from it.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.errors import DeriveError, printable, quote

SHAPES = ("triangle", "parallelogram", "ellipse")
CLASSES = tuple(
    [(a,) for a in range(3)] + [(a, b) for a in range(3) for b in range(a, 3)]
)  # 9 classes: which shapes are present, as sorted indices into SHAPES
CLASS_NAMES = tuple("+".join(SHAPES[i] for i in c) for c in CLASSES)

# Geometry relative to the image size, and the grey/colour ranges: shapes of random colour, each
# channel at least FOREGROUND[0], on a black background, so that every shape stays visible.
CENTRE = (0.25, 0.75)
RADIUS = (0.14, 0.26)
BACKGROUND = (0.0, 0.0)
FOREGROUND = (0.45, 1.0)
MAX_OVERLAP = 0.5  # Glorot & Bengio (2010): the second shape hides at most half of the first
MIN_AREA = 12.0  # pixels; rejects shapes too thin to recognise
RETRIES = 100


def shapeset(n: int, *, seed: int, size: int = 32, color: bool = True, max_shapes: int = 2, dtype=np.float32):
    """``n`` Shapeset-3x2-style images (n, size, size, 3 or 1) in [0, 1] and their labels 0..8.

    ``max_shapes=1`` keeps the three single-shape classes only (labels 0..2), an easier task.
    """
    if n < 1 or size < 8 or max_shapes not in (1, 2):
        raise DeriveError(f"shapeset needs n >= 1, size >= 8 and max_shapes 1 or 2, got n={n}, size={size}, "
                          f"max_shapes={max_shapes}")
    rng = np.random.default_rng(seed)
    channels = 3 if color else 1
    labels = rng.integers(0, 3 if max_shapes == 1 else len(CLASSES), n)
    order = rng.random(n) < 0.5  # which of the two shapes is drawn first
    kinds = np.array([c if len(c) == 2 else c * 2 for c in CLASSES])[labels]
    kinds = np.where(order[:, None], kinds, kinds[:, ::-1])
    two = np.array([len(CLASSES[k]) == 2 for k in labels])
    background = rng.uniform(*BACKGROUND, (n, channels))
    colours = rng.uniform(*FOREGROUND, (2, n, channels))
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    first = _coverage_of(kinds[:, 0], rng, n, size, xx, yy)
    second = np.zeros_like(first)
    todo = np.flatnonzero(two)
    for _ in range(RETRIES):  # resample second shapes that hide too much of the first
        if todo.size == 0:
            break
        second[todo] = _coverage_of(kinds[todo, 1], rng, todo.size, size, xx, yy)
        hidden = np.minimum(first[todo], second[todo]).sum(axis=(1, 2))
        smaller = np.minimum(first[todo].sum(axis=(1, 2)), second[todo].sum(axis=(1, 2)))
        todo = todo[hidden > MAX_OVERLAP * smaller]
    img = background[:, None, None, :] * np.ones((1, size, size, 1))
    for cov, col in ((first, colours[0]), (second, colours[1])):
        img = img * (1 - cov[..., None]) + col[:, None, None, :] * cov[..., None]
    return np.clip(img, 0, 1).astype(dtype), labels.astype(np.int64)


def _coverage_of(kinds, rng, n, size, xx, yy):
    """Coverage maps (n, size, size) in [0, 1] of shapes of the given kinds, redrawn until visible."""
    cov = np.zeros((n, size, size))
    todo = np.arange(n)
    for _ in range(RETRIES):
        if todo.size == 0:
            break
        for kind in range(3):
            idx = todo[kinds[todo] == kind]
            if idx.size:
                cov[idx] = _draw_shape(kind, rng, idx.size, size, xx, yy)
        todo = todo[cov[todo].sum(axis=(1, 2)) < MIN_AREA]
    return cov


def _draw_shape(kind: int, rng, n: int, size: int, xx, yy) -> np.ndarray:
    """Coverage of n random shapes of one kind: a signed distance (pixels) through a ramp."""
    centre = rng.uniform(*CENTRE, (n, 2)) * size
    radius = rng.uniform(*RADIUS, n) * size
    theta = rng.uniform(0, 2 * np.pi, n)
    px = xx[None] - centre[:, 0, None, None]
    py = yy[None] - centre[:, 1, None, None]
    if kind == 2:  # ellipse: semi-axes radius and radius·ratio, rotated by theta
        ratio = rng.uniform(0.35, 1.0, n)
        c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        u, v = c * px + s * py, -s * px + c * py
        a, b = radius[:, None, None], (radius * ratio)[:, None, None]
        q = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / np.maximum(q, 1e-9)
        dist = (1 - q) / np.maximum(grad, 1e-9)
    else:
        if kind == 0:  # triangle: three vertices on a circle, angles jittered, radii varied
            angles = theta[:, None] + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.5, 0.5, (n, 3))
            r = radius[:, None] * rng.uniform(0.7, 1.0, (n, 3))
        else:  # parallelogram: half-diagonals of random lengths at a random angle
            gap = rng.uniform(np.pi / 4, np.pi / 2, n)
            angles = theta[:, None] + np.stack([np.zeros(n), gap, np.full(n, np.pi), gap + np.pi], axis=1)
            lengths = radius[:, None] * rng.uniform(0.6, 1.0, (n, 2))
            r = np.concatenate([lengths, lengths], axis=1)
        vx, vy = r * np.cos(angles), r * np.sin(angles)
        dist = _polygon_distance(vx, vy, px, py)
    return np.clip(dist + 0.5, 0, 1)


def _polygon_distance(vx, vy, px, py):
    """Signed distance (positive inside) to a convex polygon given counter-clockwise vertices."""
    dist = None
    k = vx.shape[1]
    for i in range(k):
        ex, ey = vx[:, (i + 1) % k] - vx[:, i], vy[:, (i + 1) % k] - vy[:, i]
        length = np.hypot(ex, ey)[:, None, None]
        d = (ex[:, None, None] * (py - vy[:, i, None, None]) - ey[:, None, None] * (px - vx[:, i, None, None])) / length
        dist = d if dist is None else np.minimum(dist, d)
    return dist


# --- CIFAR-10 python batches -------------------------------------------------------------------------

_ALLOWED = {
    ("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
MAX_BATCH_BYTES = 2**28  # a CIFAR-10 batch holds 10,000 images in 31 MB


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only, so a hostile file cannot run code."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def load_cifar10(path, *, split: str = "train"):
    """CIFAR-10 python batches as (images float32 NHWC in [0, 1], labels int64).

    ``path`` is one batch file, or the directory ``cifar-10-batches-py`` (or its parent): ``split``
    "train" reads the ``data_batch_*`` files present, "test" reads ``test_batch``.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "cifar-10-batches-py").is_dir():
            path = path / "cifar-10-batches-py"
        names = TRAIN_BATCHES if split == "train" else ("test_batch",)
        files = [path / f for f in names if (path / f).is_file()]
        if not files:
            raise DeriveError(f"{path}: no CIFAR-10 batch ({', '.join(names)}) in this directory")
    elif path.exists():
        files = [path]
    else:
        raise DeriveError(f"{path}: no such CIFAR-10 batch file or directory")
    parts = [_read_batch(f) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_batch(path: Path):
    from derive.spec import read_file

    raw = read_file(path, "CIFAR-10 batch", MAX_BATCH_BYTES)  # a regular file of bounded size
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means the file is not a batch
        raise DeriveError(f"{printable(str(path))}: not a CIFAR-10 python batch (cannot unpickle: {exc})") from None
    if not isinstance(batch, dict):
        raise DeriveError(f"{path}: not a CIFAR-10 python batch (expected a dict, got {type(batch).__name__})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels", batch.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DeriveError(f"{path}: not a CIFAR-10 python batch ('data' must be an N x 3072 uint8 array)")
    labels = np.asarray(labels) if labels is not None else None
    if labels is None or labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) \
            or labels.size and not (labels.min() >= 0 and labels.max() <= 9):
        raise DeriveError(f"{path}: not a CIFAR-10 python batch ('labels' must hold one class 0..9 per image)")
    # rows are channel-major: 1024 red, 1024 green, 1024 blue values, each a 32x32 row-major image
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255
    return images, labels.astype(np.int64)


# --- the source named on the command line -------------------------------------------------------

DATA_KINDS = ("shapeset", "cifar10")
TEST_SEED_OFFSET = 1_000_003  # Shapeset's held-out images come from a seed apart from the training ones


@dataclass(frozen=True)
class DataSource:
    """Where labelled images come from: the Shapeset generator, or CIFAR-10 python batches at ``path``."""

    kind: str
    path: Path | None = None

    def label(self) -> str:
        """The source as written on the command line."""
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def key(self) -> list:
        """What a cache key needs: the kind, and for files their names, sizes and modification times."""
        if self.path is None:
            return [self.kind]
        files = sorted(self.path.iterdir()) if self.path.is_dir() else [self.path]
        return [self.kind, str(self.path.resolve())] + [
            [f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def parse_data(text) -> DataSource:
    """Parse ``shapeset`` or ``cifar10:PATH`` (a directory of CIFAR-10 python batches, or one batch file)."""
    if isinstance(text, DataSource):
        return text
    kind, _, rest = str(text).partition(":")
    if kind not in DATA_KINDS:
        raise DeriveError(f"unknown data source {quote(text)} (expected 'shapeset' or 'cifar10:PATH')")
    if kind == "shapeset":
        if rest:
            raise DeriveError(f"the shapeset source takes no path, got {quote(text)}")
        return DataSource("shapeset")
    if not rest:
        raise DeriveError("the cifar10 source needs a path: 'cifar10:PATH' (the directory of the python batches)")
    path = Path(rest)
    if not path.exists():
        raise DeriveError(f"{printable(rest)}: no such CIFAR-10 directory")
    if not (path.is_dir() or path.is_file()):
        raise DeriveError(f"{printable(rest)}: not a folder nor a regular file (a pipe or a device?)")
    return DataSource("cifar10", path)


def check_shape(source, shape) -> None:
    """Refuse a spec's input that a source cannot give: Shapeset draws square images of side 8 or more,
    grey or colour; CIFAR-10 holds 32x32x3 images."""
    source = parse_data(source)
    h, w, c = shape
    if source.kind == "shapeset" and (h != w or c not in (1, 3) or h < 8):
        raise DeriveError(f"the Shapeset generator draws square grey or colour images of side 8 or more, "
                          f"not {h}x{w}x{c} (the spec's input)")
    if source.kind == "cifar10" and (h, w, c) != (32, 32, 3):
        raise DeriveError(f"{printable(str(source.path))}: CIFAR-10 images are 32x32x3, the spec's input is "
                          f"{h}x{w}x{c}")


def labelled_images(source, n: int, seed: int, split: str = "train", shape=(32, 32, 3), at_most: bool = False):
    """``n`` images of ``shape`` (H, W, C) with labels from a source: generated, or n drawn from CIFAR-10.

    Shapeset draws square grey or colour images at the size asked, a different set for each split
    (the held-out seed is offset); CIFAR-10 (32x32x3 only) reads the training batches or
    ``test_batch`` and keeps n images picked by the seed, in file order (``at_most``: all of them
    when the files hold fewer than n).
    """
    source = parse_data(source)
    if split not in ("train", "test"):
        raise DeriveError(f"unknown split '{split}' (expected train or test)")
    check_shape(source, shape)
    h, w, c = shape
    if source.kind == "shapeset":
        return shapeset(n, seed=seed + (TEST_SEED_OFFSET if split == "test" else 0), size=h, color=c == 3)
    x, y = load_cifar10(source.path, split=split)
    if len(x) < n and at_most:
        n = len(x)
    if len(x) < n:
        raise DeriveError(f"{source.path}: {len(x)} {split} images, {n} are needed")
    pick = np.sort(np.random.default_rng([seed, 7]).permutation(len(x))[:n])
    return x[pick], y[pick]


# --- pairs --------------------------------------------------------------------------------------

def pair_indices(labels, n_pairs: int, *, same_share: float, rng: np.random.Generator):
    """Indices (i, j) and labels l of ``n_pairs`` pairs, a share ``same_share`` of them same-label (l = 0)."""
    labels = np.asarray(labels)
    if not 0 <= same_share <= 1:
        raise DeriveError(f"the share of same-label pairs must lie in [0, 1], got {same_share}")
    order = np.argsort(labels, kind="stable")
    classes, start, count = np.unique(labels[order], return_index=True, return_counts=True)
    n_same = int(round(n_pairs * same_share))
    n_diff = n_pairs - n_same
    pos_of = np.empty(len(labels), np.int64)
    pos_of[order] = np.arange(len(labels))
    cls = np.searchsorted(classes, labels)
    i_same = i_diff = np.zeros(0, np.int64)
    j_same = j_diff = np.zeros(0, np.int64)
    if n_same:
        ok = np.flatnonzero(count[cls] >= 2)
        if ok.size == 0:
            raise DeriveError("same-label pairs need a class with at least two images")
        i_same = ok[rng.integers(0, ok.size, n_same)]
        c = cls[i_same]
        shift = 1 + (rng.random(n_same) * (count[c] - 1)).astype(np.int64)  # never the image itself
        j_same = order[start[c] + (pos_of[i_same] - start[c] + shift) % count[c]]
    if n_diff:
        if len(classes) < 2:
            raise DeriveError("different-label pairs need at least two classes")
        i_diff = rng.integers(0, len(labels), n_diff)
        c = cls[i_diff]
        r = (rng.random(n_diff) * (len(labels) - count[c])).astype(np.int64)
        j_diff = order[np.where(r < start[c], r, r + count[c])]  # skip the block of i's own class
    i = np.concatenate([i_same, i_diff])
    j = np.concatenate([j_same, j_diff])
    l = np.concatenate([np.zeros(n_same, np.int64), np.ones(n_diff, np.int64)])
    perm = rng.permutation(n_pairs)
    return i[perm], j[perm], l[perm]


def pairs(images, labels, n_pairs: int, *, same_share: float = 0.5, rng: np.random.Generator):
    """``n_pairs`` pairs (x1, x2, l) drawn from a labelled set; l = 0 same label, 1 different."""
    i, j, l = pair_indices(labels, n_pairs, same_share=same_share, rng=rng)
    return images[i], images[j], l
