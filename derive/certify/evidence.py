"""Central finite differences and the comparisons that turn them into evidence.

Three ways to take central differences of a scalar function: every coordinate of a small array
(``exhaustive``), many coordinates at once through a batched function that also reports kink
crossings (``batched``), and one random direction through a whole tensor (``directional``, vᵀ∇f).
``compare`` judges values against a reference with ``|got − ref| <= atol + rtol·|ref|`` and
returns an :class:`Evidence` record that names the quantity, the method and the worst entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STEP = 1e-5          # central-difference step for float64 on O(1) quantities
RTOL = 1e-5          # a central difference of a smooth function is good to about h² ≈ 1e-10 relative
ROUNDING = 8.0       # atol = ROUNDING·ε·|f| / (2h): the rounding error of a central difference, with margin
AGREE_RTOL = 1e-10   # two exact computations (formula, backprop, autograd) in float64
SHOWN = 3            # failing entries quoted in a message


@dataclass(frozen=True)
class Evidence:
    """The outcome of comparing one quantity with one reference, entry by entry."""

    name: str
    method: str
    checked: int
    total: int
    max_rel_error: float
    kinks: int = 0
    failures: tuple = ()       # (index, got, reference) of the worst failing entries
    index_names: tuple = ()
    ok: bool = True
    notes: tuple = field(default=())

    def message(self) -> str:
        """One line: the quantity, the method, and either the agreement or the worst failing entries."""
        head = f"{self.name} vs {self.method}"
        kinks = f", {self.kinks} kink crossings set apart" if self.kinks else ""
        if self.ok:
            return (f"{head}: {self.checked} of {self.total} entries agree "
                    f"(max rel. error {self.max_rel_error:.1e}{kinks})")
        bad = "; ".join(f"at {self._where(i)} formula {g:.6g}, {self.method} {r:.6g}" for i, g, r in self.failures)
        return f"{head}: FAILED, max rel. error {self.max_rel_error:.1e}{kinks}; {bad}"

    def _where(self, index) -> str:
        if not self.index_names:
            return "(" + ", ".join(map(str, index)) + ")" if index else "the value"
        return "(" + ", ".join(f"{n}={v + 1}" for n, v in zip(self.index_names, index)) + ")"

    def as_dict(self) -> dict:
        """The record as JSON-ready data."""
        return {"name": self.name, "method": self.method, "checked": self.checked, "total": self.total,
                "max_rel_error": float(self.max_rel_error), "kinks": self.kinks, "ok": self.ok}


def compare(name: str, got, ref, *, method: str, rtol: float = RTOL, atol: float = 0.0, kinks=None,
            index_names: tuple = ()) -> Evidence:
    """Judge ``got`` against ``ref`` entry by entry; entries flagged in ``kinks`` are counted apart."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return Evidence(name, method, 0, ref.size, float("inf"), ok=False, index_names=index_names,
                        notes=(f"shape {got.shape} where {ref.shape} was expected",))
    skip = np.zeros(ref.shape, bool) if kinks is None else np.asarray(kinks, bool)
    err = np.abs(got - ref)
    bound = atol + rtol * np.abs(ref)
    floor = np.maximum(np.abs(ref), atol / rtol if rtol else 0.0)
    rel = np.divide(err, floor, out=np.where(err == 0, 0.0, np.inf), where=floor > 0)
    rel = np.where(np.isnan(got) | np.isnan(ref), np.inf, rel)
    bad = ~(err <= bound) & ~skip
    worst = float(np.max(np.where(skip, 0.0, rel), initial=0.0))
    order = np.argsort(np.where(bad, rel, -1.0), axis=None)[::-1][: min(SHOWN, int(bad.sum()))]
    failures = tuple((tuple(int(v) for v in np.unravel_index(i, ref.shape)), float(got.flat[i]), float(ref.flat[i]))
                     for i in order)
    return Evidence(name, method, int((~skip).sum()), ref.size, worst, int(skip.sum()), failures, index_names,
                    not bad.any())


def rounding_atol(scale: float, h: float = STEP) -> float:
    """The absolute error a central difference can make by rounding alone, for values of size ``scale``."""
    return ROUNDING * np.finfo(np.float64).eps * max(abs(scale), 1e-300) / (2 * h)


def exhaustive(f, x: np.ndarray, h: float = STEP) -> np.ndarray:
    """(f(x + h·e_i) − f(x − h·e_i)) / 2h for every coordinate i of x (x is restored afterwards)."""
    out = np.empty(x.shape)
    flat = x.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        up = f(x)
        flat[i] = keep - h
        down = f(x)
        flat[i] = keep
        out.flat[i] = (up - down) / (2 * h)
    return out


def batched(f, coords: np.ndarray, h: float = STEP):
    """Central differences of many coordinates at once: ``f(coords, step) -> (values, crossed)``.

    ``f`` returns the function's value with each coordinate moved by ``step`` (one value per
    coordinate) and whether that move crossed a kink. Returns (differences, crossed at +h or −h).
    """
    up, cross_up = f(coords, h)
    down, cross_down = f(coords, -h)
    return (np.asarray(up) - np.asarray(down)) / (2 * h), np.asarray(cross_up) | np.asarray(cross_down)


def directional(f, x: np.ndarray, v: np.ndarray, h: float = STEP) -> float:
    """(f(x + h·v) − f(x − h·v)) / 2h: the derivative of f along v, to compare with vᵀ∇f."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def direction(shape, seed) -> np.ndarray:
    """A random unit direction of a given shape, reproducible from the seed."""
    v = np.random.default_rng(seed).standard_normal(shape)
    return v / max(np.linalg.norm(v), 1e-300)
