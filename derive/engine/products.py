"""The engine's matrix products in one place, so that a profile can tell them from the rest of the work.

``matmul`` (c = a @ b), ``matmul_add`` (c += a @ b) and ``column_sums`` are what every layer
calls for its products, all through NumPy, which lets go of Python's lock while BLAS works
(SciPy's BLAS wrappers hold it: the two branches' threads would take turns); :func:`timing`
attaches a clock to them for the duration of a block (``derive bench --profile`` reports each
layer's time in products against the rest). The clock is per thread, so two branches profiled
at once do not mix their times.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np

_CLOCK = threading.local()


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b (into ``out`` if given)."""
    clock = getattr(_CLOCK, "seconds", None)
    if clock is None:
        return np.matmul(a, b, out=out)
    start = time.perf_counter()
    result = np.matmul(a, b, out=out)
    _CLOCK.seconds += time.perf_counter() - start
    return result


def matmul_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """c += a @ b in place (through a product the size of c: c is small where this is used)."""
    c += matmul(a, b)


def column_sums(a: np.ndarray) -> np.ndarray:
    """Sum over rows as a matrix-vector product: BLAS reads the rows once, ten times faster than sum."""
    return matmul(np.ones(a.shape[0], dtype=a.dtype), a)


@contextlib.contextmanager
def timing():
    """Within the block, the products' time in this thread accumulates in the yielded list's first item."""
    _CLOCK.seconds = 0.0
    box = [0.0]
    try:
        yield box
    finally:
        box[0] = _CLOCK.seconds
        _CLOCK.seconds = None
