"""Evaluate index-form SymPy expressions on NumPy arrays: lambdify with one array axis per index.

An expression such as ``Σ_k (s6[k] − s6p[k])·w56[j, k]`` is evaluated for every j at once: each
index symbol gets an axis, each ``Indexed`` becomes a view of its array on those axes, each sum is
evaluated (recursively) and summed over its axis, and what remains is handed to ``sympy.lambdify``
as an elementwise NumPy function. Arrays of quantities that carry one value per pair of the batch
have a leading batch axis, shared by the whole expression.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

MODULES = [{"sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * x)),
            "fprime": lambda o, a: np.where(o > 0, 1.0, a)}, "numpy"]


class _Printer(NumPyPrinter):
    """NumPy code whose "and" and "or" broadcast (SymPy's logical_and.reduce needs operands of one shape)."""

    def _pairwise(self, expr, name):
        call = self._module_format(f"{self._module}.{name}")
        return functools.reduce(lambda a, b: f"{call}({a}, {b})", (self._print(a) for a in expr.args))

    def _print_And(self, expr):
        return self._pairwise(expr, "logical_and")

    def _print_Or(self, expr):
        return self._pairwise(expr, "logical_or")


class EvaluationError(ValueError):
    """An expression that cannot be evaluated on the arrays given (a free index, an unbound symbol)."""


def evaluate(expr, values: dict, free: tuple = (), shape: tuple = (), batched=frozenset(), rows=None,
             mean: bool = False) -> np.ndarray:
    """Values of ``expr`` with shape (batch, *shape), one axis per index in ``free``.

    ``values`` maps internal names (IndexedBase labels, scalar and size symbols) to arrays or
    numbers; names in ``batched`` have a leading batch axis, of which ``rows`` keeps a selection.
    With ``mean``, the mean over the batch comes back (shape ``shape``); a product is then
    contracted factor by factor, without building its (batch, *shape) array.
    Raises EvaluationError for an index of the expression that is neither in ``free`` nor summed
    over, and for any array whose extent disagrees with ``shape``.
    """
    expr = sp.sympify(expr)
    vals = {k: (np.asarray(v)[rows] if rows is not None and k in batched else v) for k, v in values.items()}
    bound = []
    for s in sorted(expr.atoms(sp.Sum), key=sp.default_sort_key):
        bound += [lim[0] for lim in s.limits if lim[0] not in bound and lim[0] not in free]
    stray = _indices(expr) - set(free) - set(bound)
    if stray:
        raise EvaluationError(f"free index {', '.join(sorted(map(str, stray)))} is not an index of the quantity")
    axes = {x: 1 + n for n, x in enumerate(tuple(free) + tuple(bound))}
    used = {b.label.name for b in expr.atoms(sp.IndexedBase)} | {x.name for x in expr.free_symbols}
    batch = max((np.shape(vals[k])[0] for k in batched if k in vals and k in used), default=1)
    ctx = _Context(vals, batched, axes, 1 + len(axes), batch)
    for x, n in zip(free, shape):
        ctx._set_size(x, n)
    if mean:
        return ctx.mean(expr, len(free), batch)
    out = ctx.eval(expr)
    sizes = tuple(ctx.size(x) for x in free)
    out = np.broadcast_to(out, (batch,) + sizes + (1,) * len(bound))
    return np.ascontiguousarray(out.reshape((batch,) + sizes), dtype=np.float64)


def _indices(expr) -> set:
    """Index symbols of an expression: those used inside Indexed objects or as summation variables."""
    found = set()
    for ind in expr.atoms(sp.Indexed):
        found |= {i for i in ind.indices if isinstance(i, sp.Symbol)}
    for s in expr.atoms(sp.Sum):
        found -= {lim[0] for lim in s.limits}
        found |= _indices(s.function) - {lim[0] for lim in s.limits}
    for d in expr.atoms(sp.KroneckerDelta):
        found |= {i for i in d.args if isinstance(i, sp.Symbol)}
    return found


class _Context:
    def __init__(self, values, batched, axes, ndim, batch):
        self.values, self.batched, self.axes, self.ndim, self.batch = values, batched, axes, ndim, batch
        self.sizes = {}

    def size(self, x) -> int:
        if x not in self.sizes:
            raise EvaluationError(f"no array gives the range of index {x}")
        return self.sizes[x]

    def _set_size(self, x, n):
        if self.sizes.setdefault(x, n) != n:
            raise EvaluationError(f"index {x} ranges over {self.sizes[x]} and {n} values in different arrays")

    def indexed(self, ind: sp.Indexed) -> np.ndarray:
        name = ind.base.label.name
        if name not in self.values:
            raise EvaluationError(f"no values for {name}")
        arr = np.asarray(self.values[name], dtype=np.float64)
        lead = 1 if name in self.batched else 0
        if arr.ndim != lead + len(ind.indices):
            raise EvaluationError(f"{name} has {arr.ndim - lead} axes, used with {len(ind.indices)} indices")
        take = [slice(None)] * lead
        targets = [0] if lead else []
        for pos, i in enumerate(ind.indices):
            if isinstance(i, sp.Symbol):
                self._set_size(i, arr.shape[lead + pos])
                if self.axes[i] in targets:
                    raise EvaluationError(f"index {i} repeated in {ind}")
                take.append(slice(None))
                targets.append(self.axes[i])
            elif i.is_Integer and 1 <= int(i) <= arr.shape[lead + pos]:
                take.append(int(i) - 1)
            else:
                raise EvaluationError(f"cannot evaluate the index {i} of {ind}")
        arr = arr[tuple(take)]
        order = np.argsort(targets)
        shape = [1] * self.ndim
        for t, n in zip(np.sort(targets), np.array(arr.shape)[order] if arr.ndim else []):
            shape[t] = n
        return arr.transpose(order).reshape(shape) if arr.ndim else arr

    def scalar(self, sym: sp.Symbol):
        if sym in self.axes:  # an index used as a number (e.g. in a Kronecker delta)
            shape = [-1 if a == self.axes[sym] else 1 for a in range(self.ndim)]
            return np.arange(1, self.size(sym) + 1).reshape(shape)
        if sym.name not in self.values:
            raise EvaluationError(f"no value for the symbol {sym}")
        v = np.asarray(self.values[sym.name], dtype=np.float64)
        if sym.name in self.batched:
            return v.reshape((-1,) + (1,) * (self.ndim - 1))
        return v

    def mean(self, expr, n_free: int, batch: int) -> np.ndarray:
        """The batch mean of a product, contracted with einsum over the axes each factor really has."""
        factors = sp.Mul.make_args(expr)
        letters = "abcdefghijklmnopqrstuvwxyz"[:self.ndim]
        operands, subscripts = [], []
        for f in factors:
            arr = np.asarray(self.eval(f), dtype=np.float64)
            arr = arr.reshape((1,) * (self.ndim - arr.ndim) + arr.shape)
            keep = [a for a in range(self.ndim) if arr.shape[a] > 1]
            operands.append(arr.reshape([arr.shape[a] for a in keep]))
            subscripts.append("".join(letters[a] for a in keep))
        sizes = tuple(self.size(x) for x in list(self.axes)[:n_free])
        used = set("".join(subscripts))
        out = "".join(c for c in letters[1:1 + n_free] if c in used)
        total = np.einsum(",".join(subscripts) + "->" + out, *operands, optimize=True)
        total = total.reshape([n if c in used else 1 for c, n in zip(letters[1:], sizes)])
        # a product that does not vary over the pairs is its own mean
        return np.array(np.broadcast_to(total / (batch if "a" in used else 1), sizes))

    def sum(self, s: sp.Sum) -> np.ndarray:
        for x, _, hi in s.limits:  # an index no array carries takes its range from the sum's limits
            if x not in self.sizes:
                self._set_size(x, self._number(hi))
        inner = self.eval(s.function)
        for x, lo, hi in s.limits:
            n = self.size(x)
            if lo != 1 or self._number(hi) != n:
                raise EvaluationError(f"the sum over {x} runs from {lo} to {hi}, not over its {n} values")
            inner = np.sum(np.broadcast_to(inner, _grown(np.shape(inner), self.axes[x], n, self.ndim)),
                           axis=self.axes[x], keepdims=True)
        return inner

    def _number(self, e) -> int:
        e = sp.sympify(e)
        if e.is_Integer:
            return int(e)
        if isinstance(e, sp.Symbol) and e.name in self.values:
            return int(self.values[e.name])
        raise EvaluationError(f"unknown size {e}")

    def eval(self, expr) -> np.ndarray:
        subs, arrays = {}, []
        for s in _outer_sums(expr):
            subs[s] = _slot(len(arrays))
            arrays.append(self.sum(s))
        body = expr.xreplace(subs) if subs else expr
        for ind in sorted(body.atoms(sp.Indexed), key=sp.default_sort_key):
            subs[ind] = _slot(len(arrays))
            arrays.append(self.indexed(ind))
        body = body.xreplace(subs)
        for sym in sorted(body.free_symbols - set(subs.values()), key=sp.default_sort_key):
            body = body.xreplace({sym: _slot(len(arrays))})
            arrays.append(self.scalar(sym))
        fn = _compiled(body, len(arrays))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(fn(*arrays), dtype=np.float64)


def _slot(n: int) -> sp.Symbol:
    """The n-th argument of a compiled body (fixed names, so equal bodies compile once)."""
    return sp.Symbol(f"arg{n}_", real=True)


@functools.lru_cache(maxsize=4096)
def _compiled(body, n: int):
    # the settings lambdify gives its own printer, with the module's functions (sigmoid) known by name
    printer = _Printer({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                        "user_functions": {name: name for name in MODULES[0]}})
    return sp.lambdify([_slot(i) for i in range(n)], body, modules=MODULES, printer=printer)


def _outer_sums(expr) -> list:
    """The sums of an expression that are not inside another sum, in a fixed order."""
    if isinstance(expr, sp.Sum):
        return [expr]
    found = []
    for a in expr.args:
        found += [s for s in _outer_sums(a) if s not in found]
    return found


def _grown(shape, axis, n, ndim) -> tuple:
    shape = list(shape) if len(shape) == ndim else [1] * (ndim - len(shape)) + list(shape)
    shape[axis] = n
    return tuple(shape)
