"""Exercise 2, Q3: draw a convolution layer; check that a CNN's convolution is a cross-correlation."""

from __future__ import annotations

import numpy as np

from derive import figures
from derive.answers import Check

SEED = 0
SIZE, KERNEL = 6, 3


def cnn_convolution(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """What a CNN layer computes on one channel (stride 1, no padding): y[i, j] = sum_{u,v} k[u, v] x[i+u, j+v]."""
    n, m = x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1
    return np.array([[np.sum(k * x[i:i + k.shape[0], j:j + k.shape[1]]) for j in range(m)] for i in range(n)])


def signal_convolution(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Signal processing's convolution, valid part: y[i, j] = sum_{u,v} x[u, v] k[i-u, j-v] (kernel flipped)."""
    from scipy.signal import convolve2d

    return convolve2d(x, k, mode="valid")


def solve(inputs) -> dict:
    """The convolution diagram, and the two operations evaluated on a random image and kernel."""
    rng = np.random.default_rng(SEED)
    x, k = rng.standard_normal((SIZE, SIZE)), rng.standard_normal((KERNEL, KERNEL))
    cnn = cnn_convolution(x, k)
    return {
        "diagram": inputs.figure("convolution.png", figures.convolution),
        "gap_flipped": float(np.max(np.abs(cnn - signal_convolution(x, k[::-1, ::-1])))),
        "gap_unflipped": float(np.max(np.abs(cnn - signal_convolution(x, k)))),
    }


def check(ctx) -> list:
    """The CNN operation equals signal convolution with the flipped kernel, and differs without the flip."""
    return [
        Check({"fr": "convolution d'un CNN = convolution du signal (scipy) avec noyau retourné",
               "en": "a CNN's convolution = signal convolution (scipy) with the kernel flipped"},
              ctx["gap_flipped"] < 1e-12, f"max |Δ| = {ctx['gap_flipped']:.1e}"),
        Check({"fr": "sans retournement, les deux opérations diffèrent",
               "en": "without the flip the two operations differ"},
              ctx["gap_unflipped"] > 1e-3, f"max |Δ| = {ctx['gap_unflipped']:.2f}"),
    ]
