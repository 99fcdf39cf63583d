"""The engine's matrix products in one place, so that a profile can tell them from the rest of the work.

``matmul`` (c = a @ b), ``matmul_add`` (c += a @ b in one BLAS call, in place) and ``column_sums``
are what every layer calls for its products; :func:`timing` attaches a clock to them for the
duration of a block (``derive bench --profile`` reports each layer's time in products against
the rest). The clock is per thread, so two branches profiled at once do not mix their times.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
from scipy.linalg import blas

_GEMM = {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}
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
    """c += a @ b in place, in one BLAS call (c C-contiguous; a and b C- or Fortran-contiguous)."""
    clock = getattr(_CLOCK, "seconds", None)
    start = time.perf_counter() if clock is not None else 0.0
    # BLAS is column-major: c is cᵀ there, and cᵀ += bᵀ aᵀ; a C-contiguous matrix is its own transpose there
    x, tx = (b.T, 0) if b.flags.c_contiguous else (b, 1)
    y, ty = (a.T, 0) if a.flags.c_contiguous else (a, 1)
    out = _GEMM[c.dtype](1.0, x, y, beta=1.0, c=c.T, trans_a=tx, trans_b=ty, overwrite_c=1)
    if clock is not None:
        _CLOCK.seconds += time.perf_counter() - start
    if not np.may_share_memory(out, c):
        raise AssertionError("BLAS copied the output instead of accumulating in place")


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
