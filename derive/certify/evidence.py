"""Central finite differences and the comparisons that turn them into evidence.

Ways to take finite differences of a scalar function: every coordinate of a small array
(``exhaustive``), many coordinates at once through a batched function that also reports kink
crossings (``differences``: central where ±h crosses no kink, else a one-sided difference on the
side that does not cross, or a smaller step), and one random direction through a whole tensor
(``directional``, vᵀ∇f).
``compare`` judges values against a reference with ``|got − ref| <= atol + rtol·|ref|`` and
returns an :class:`Evidence` record that names the quantity, the method and the worst entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

STEP = 1e-5          # central-difference step for float64 on O(1) quantities
RTOL = 1e-5          # a central difference of a smooth function is good to about h² ≈ 1e-10 relative
ROUNDING = 8.0       # atol = ROUNDING·ε·|f| / (2h): the rounding error of a central difference, with margin
AGREE_RTOL = 1e-10   # two exact computations (formula, backprop, autograd) in float64
SHOWN = 3            # failing entries quoted in a message
SHRINK = 8           # a coordinate whose ±h crosses kinks on both sides is retried with h/8, h/64, ...
SHRINKS = 4          # ... down to h/8⁴ ≈ 2.4e-9, where rounding would swamp the difference
CENTRAL, FORWARD, BACKWARD, UNRESOLVED = 0, 1, -1, 2   # how each coordinate was differenced
KIND_NAMES = {CENTRAL: "central", FORWARD: "one-sided", BACKWARD: "one-sided", UNRESOLVED: "unresolved"}


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
    differences: dict = field(default_factory=dict)  # coordinates per kind of difference (see Differences.counts)

    def message(self) -> str:
        """One line: the quantity, the method, and either the agreement or the worst failing entries."""
        head = f"{self.name} vs {self.method}"
        kinks = f", {self.kinks} kink crossings set apart" if self.kinks else ""
        if self.differences:
            d = self.differences
            kinks = (f", {d['one-sided']} one-sided and {d['smaller step']} with a smaller step where ±h crosses "
                     f"a kink" if self.kinks else "") + (f", {d['unresolved']} unresolved" if d["unresolved"] else "")
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
        out = {"name": self.name, "method": self.method, "checked": self.checked, "total": self.total,
               "max_rel_error": float(self.max_rel_error), "kinks": self.kinks, "ok": self.ok}
        return {**out, "differences": dict(self.differences)} if self.differences else out


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


def compare_differences(name: str, got, diffs: Differences, *, scale: float, rtol: float = RTOL,
                        index_names: tuple = ()) -> Evidence:
    """Judge ``got`` against finite differences, each entry with the rounding tolerance of its own difference.

    ``kinks`` in the result counts the coordinates whose central ±h move crossed a kink (certified by
    another difference); only unresolved ones go unchecked.
    """
    unresolved = diffs.kind == UNRESOLVED
    ev = compare(name, got, diffs.values, method="finite differences", rtol=rtol, atol=diffs.atol(scale),
                 kinks=unresolved, index_names=index_names)
    notes = ev.notes + ((f"{int(unresolved.sum())} coordinates cross kinks on both sides at every step down to "
                         f"h/{SHRINK ** SHRINKS}: not certified",) if unresolved.any() else ())
    return replace(ev, kinks=int(diffs.crossed.sum()), differences=diffs.counts(), ok=ev.ok and not unresolved.any(),
                   notes=notes)


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


@dataclass(frozen=True)
class Differences:
    """Finite differences of many coordinates, each with the difference and the step that produced it.

    ``kind`` per coordinate: CENTRAL (f(x+h) − f(x−h))/2h; FORWARD (−3f(x) + 4f(x+h) − f(x+2h))/2h or
    BACKWARD (its mirror, on x−h and x−2h), the second-order one-sided differences, used on the side
    whose moves cross no kink; UNRESOLVED when every step down to h/8⁴ crosses kinks on both sides.
    ``crossed``: whether the central move by the base step crossed a kink.
    """

    values: np.ndarray
    kind: np.ndarray
    step: np.ndarray
    crossed: np.ndarray

    def atol(self, scale: float) -> np.ndarray:
        """The rounding error each coordinate's difference can make, for function values of size ``scale``."""
        weight = np.where(self.kind == CENTRAL, 1.0, 4.0)  # |−3| + 4 + |−1| = 8 roundings against 1 + 1
        return weight * ROUNDING * np.finfo(np.float64).eps * max(abs(scale), 1e-300) / (2 * self.step)

    def counts(self, base_step: float = STEP) -> dict:
        """How many coordinates were differenced which way: central, one-sided, smaller step, unresolved."""
        smaller = (self.step < base_step) & (self.kind != UNRESOLVED)
        return {"central": int(((self.kind == CENTRAL) & ~smaller).sum()),
                "one-sided": int(((np.abs(self.kind) == 1) & ~smaller).sum()),
                "smaller step": int(smaller.sum()), "unresolved": int((self.kind == UNRESOLVED).sum()),
                "smallest step": float(self.step[self.kind != UNRESOLVED].min(initial=base_step))}


def differences(f, coords: np.ndarray, h: float = STEP) -> Differences:
    """Finite differences of the function behind ``f(coords, step) -> (values, crossed)`` at every coordinate.

    Central where ±h crosses no kink; where one side crosses, the one-sided difference on the other
    (its moves by h and 2h both clean); where both do, or the far point crosses, the same with h/8,
    h/64, ... Every value is still a difference of the function itself, never of a derivative.
    """
    coords = np.asarray(coords)
    up, cross_up = (np.asarray(v) for v in f(coords, h))
    down, cross_down = (np.asarray(v) for v in f(coords, -h))
    values = (up - down) / (2 * h)
    crossed = cross_up | cross_down
    kind = np.where(crossed, UNRESOLVED, CENTRAL)
    step = np.full(coords.shape, float(h))
    todo = np.flatnonzero(crossed)
    if todo.size:
        base = np.asarray(f(coords[todo], 0.0)[0])
    step_h, near = h, {1: (up[todo], cross_up[todo]), -1: (down[todo], cross_down[todo])}
    for attempt in range(SHRINKS + 1):
        if not todo.size:
            break
        if attempt:
            near = {side: tuple(np.asarray(v) for v in f(coords[todo], side * step_h)) for side in (1, -1)}
            clean = ~near[1][1] & ~near[-1][1]
            values[todo[clean]] = (near[1][0] - near[-1][0])[clean] / (2 * step_h)
            kind[todo[clean]], step[todo[clean]] = CENTRAL, step_h
        done = kind[todo] != UNRESOLVED
        for side in (1, -1):
            sel = np.flatnonzero(~done & ~near[side][1])
            if not sel.size:
                continue
            far, cross_far = (np.asarray(v) for v in f(coords[todo[sel]], 2 * side * step_h))
            ok = ~cross_far
            at = todo[sel[ok]]
            values[at] = side * (-3 * base[sel[ok]] + 4 * near[side][0][sel[ok]] - far[ok]) / (2 * step_h)
            kind[at], step[at] = side, step_h
            done[sel[ok]] = True
        todo, base = todo[~done], base[~done]
        step_h /= SHRINK
    return Differences(values, kind, step, crossed)


def directional(f, x: np.ndarray, v: np.ndarray, h: float = STEP) -> float:
    """(f(x + h·v) − f(x − h·v)) / 2h: the derivative of f along v, to compare with vᵀ∇f."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def direction(shape, seed) -> np.ndarray:
    """A random unit direction of a given shape, reproducible from the seed."""
    v = np.random.default_rng(seed).standard_normal(shape)
    return v / max(np.linalg.norm(v), 1e-300)
