"""Real tensors for the certificate: the network on pairs of every hinge case, bound to a graph's names.

:class:`Context` runs the NumPy network forward on real pairs (Shapeset by default), chosen so that
every case of the hinge occurs, and scales the upper layer so that D spreads around the margin.
``bindings`` maps every name of a loss graph to the arrays of that forward pass; ``check_results``
and ``check_cases`` compare each printed result with central finite differences of the full loss
(:mod:`derive.certify.moves`), with the network's backprop and with PyTorch's autograd.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp

from derive.certify import evidence, lambdify, moves
from derive.engine import data as datasets
from derive.engine import network
from derive.runtime import tuning
from derive.symbolic import graph as graphs
from derive.symbolic import printing

SAME, INSIDE, OUTSIDE = 4, 4, 4   # pairs per hinge case: l = 0; l = 1, D < 1; l = 1, D >= 1
POOL = 200                        # Shapeset images drawn to build the pairs
SCALE_ROUNDS = 20                 # rescalings of the upper layer that bring the median distance to 1
INIT = "he"                       # He et al. (2015): activations keep their scale, so D spreads over pairs
CASE_NAMES = ("same", "different_inside_margin", "different_outside_margin")


class Context:
    """Real tensors for a spec: the network, the pairs, the forward pass, the top, the bindings."""

    def __init__(self, spec, data: str = "shapeset", seed: int = 0):
        self.spec, self.seed = spec, seed
        images, labels = datasets.labelled_images(data, POOL, seed, "train", spec.input, at_most=True)
        self.net = network.Network(spec, dtype=np.float64, init=INIT, seed=seed, threads=tuning.branch_threads())
        rng = np.random.default_rng([seed, 4])
        i, j, l = datasets.pair_indices(labels, SAME + INSIDE + OUTSIDE, same_share=SAME / (SAME + INSIDE + OUTSIDE),
                                        rng=rng)
        self.x1, self.x2, self.l = images[i].astype(np.float64), images[j].astype(np.float64), l
        self.cache = self.net.forward(self.x1, self.x2, self.l)
        self.scale = self._spread()
        self.cache = self.net.forward(self.x1, self.x2, self.l)
        self.top = moves.Top(self.net, self.cache)
        self.graph = graphs.loss_graph(spec, self.net.tied)
        self.values, self.batched = bindings(self.graph, self.net, self.cache)
        D = self.cache.D
        self.rows = {"same": np.flatnonzero(l == 0), "different_inside_margin": np.flatnonzero((l == 1) & (D < 1)),
                     "different_outside_margin": np.flatnonzero((l == 1) & (D >= 1))}

    def _spread(self) -> float:
        """Scale the upper layer so that half the different-label pairs fall inside the margin."""
        _, _, upper, _ = graphs.top(self.spec)
        keys = [k for k in self.net.params if k.split(".")[0].rstrip("'") == upper.name and k[-1] in "Wb"]
        scale, diff = 1.0, self.l == 1
        top = moves.Top(self.net, self.cache)
        for _ in range(SCALE_ROUNDS):
            D = top.forward(self.net.params)["D"]
            if (D[diff] < 1).sum() == INSIDE and (D[diff] >= 1).sum() == OUTSIDE:
                break
            with np.errstate(divide="ignore"):  # all pairs at D = 0 (dead units): no scale helps
                factor = 1 / np.sqrt(np.median(D[diff]))
            if not np.isfinite(factor) or factor <= 0:
                break
            for k in keys:
                self.net.params[k] *= factor
            scale *= factor
        return float(scale)


def bindings(g, net, cache) -> tuple[dict, set]:
    """Arrays for every name of a loss graph, taken from a forward pass: (values, batched names)."""
    _, lower, upper = g.top
    values = {k.name: v for k, v in g.sizes.items()}
    batched = set()
    for node in g.nodes.values():
        b = 1 if node.layer.endswith("'") else 0
        layer = node.layer.rstrip("'")
        if node.kind == "param":
            values[node.name] = net.params[node.param]
            continue
        batched.add(node.name)
        if node.kind == "input":
            values[node.name] = cache.inp[b][lower]
        elif node.kind == "dense":
            values[node.name] = cache.o[b][layer]
        elif node.kind in graphs.ACTIVATIONS:
            values[node.name] = cache.s[b][layer]
        elif node.kind == "distance":
            values[node.name] = cache.D
        elif node.kind == "label":
            values[node.name] = np.asarray(cache.l, dtype=np.float64)
    return values, batched


def free_indices(result) -> tuple:
    """The indices of the parameter a result differentiates by (none for a scalar slope)."""
    var = result.lhs.variables[0]
    return tuple(var.indices) if isinstance(var, sp.Indexed) else ()


def per_pair(result, values, batched, shape, rows=None) -> np.ndarray:
    """A result evaluated on every pair (or the selected rows): shape (pairs, *parameter shape)."""
    return lambdify.evaluate(result.expr, values, free_indices(result), shape, batched, rows)


def batch_mean(result, values, batched, shape) -> np.ndarray:
    """A result's mean over the pairs: the gradient of the batch loss (the mean of the pairs' losses)."""
    return lambdify.evaluate(result.expr, values, free_indices(result), shape, batched, mean=True)


def quantity(result, notation) -> str:
    """The name of a result as printed, e.g. ∂L/∂w⁽⁴⁵⁾_ij (L5.W)."""
    return f"{printing.text(result.lhs, notation)} ({result.param})"


def check_results(ctx: Context, derivations, torch_grads=None, exhaustive: bool = True) -> list[dict]:
    """Each result against finite differences, backprop and autograd; one record per parameter tensor."""
    grads = ctx.net.backward(ctx.cache)
    records = []
    for d in derivations:
        for r in d.results:
            shape = ctx.net.params[r.param].shape
            name = quantity(r, d.notation)
            names = tuple(map(str, free_indices(r)))
            try:
                got = batch_mean(r, ctx.values, ctx.batched, shape)
            except lambdify.EvaluationError as exc:
                records.append(record(r.param, name, [evidence.Evidence(name, "evaluation", 0, int(np.prod(shape)),
                                                                       float("inf"), ok=False, notes=(str(exc),))]))
                continue
            found = []
            coords = np.arange(got.size) if exhaustive else _sample(got.size, ctx.seed)
            diffs = evidence.differences(lambda c, h, key=r.param: ctx.top.moved(key, c, h), coords)
            scale = ctx.top.base["pair"].mean() + np.abs(ctx.top.base["pair"]).max()
            found.append(evidence.compare_differences(name, got.reshape(-1)[coords], diffs, scale=scale))
            scale = float(np.abs(grads[r.param]).max(initial=0.0))
            found.append(evidence.compare(name, got, grads[r.param], method="backprop", rtol=evidence.AGREE_RTOL,
                                            atol=evidence.AGREE_RTOL * scale, index_names=names))
            if torch_grads is not None:
                found.append(evidence.compare(name, got, torch_grads[r.param], method="autograd",
                                                rtol=evidence.AGREE_RTOL, atol=evidence.AGREE_RTOL * scale,
                                                index_names=names))
            found[0] = _named_entries(found[0], shape, coords, names)
            records.append(record(r.param, name, found))
    return records


def _sample(n: int, seed: int, k: int = 4096) -> np.ndarray:
    return np.arange(n) if n <= k else np.sort(np.random.default_rng([seed, 5]).choice(n, k, replace=False))


def _named_entries(ev, shape, coords, names):
    """Failures of a check on flat coordinates, re-indexed by the parameter's own indices."""
    fails = tuple((tuple(int(v) for v in np.unravel_index(coords[i[0]], shape)), g, r) for i, g, r in ev.failures)
    return dataclasses.replace(ev, failures=fails, index_names=names)


def record(param, name, found) -> dict:
    """One tensor's line of the report from its comparisons: entries checked, largest errors, failures."""
    by = {e.method: e for e in found}
    fd = by.get("finite differences") or found[0]
    rec = {"name": param, "quantity": name, "checked": fd.checked, "total": fd.total,
           "max_rel_error": float(fd.max_rel_error), "kinks": fd.kinks, "differences": dict(fd.differences),
           "backprop_max_rel_error": float(by["backprop"].max_rel_error) if "backprop" in by else None,
           "autograd_max_rel_error": float(by["autograd"].max_rel_error) if "autograd" in by else None,
           "ok": all(e.ok for e in found)}
    rec["failures"] = [e.message() if not e.notes else f"{e.name}: {'; '.join(e.notes)}" for e in found if not e.ok]
    return rec


def check_cases(ctx: Context, derivations) -> list[dict]:
    """Each case of each result against the general result on the pairs of that case."""
    out = []
    for d in derivations:
        for r in d.results:
            shape = ctx.net.params[r.param].shape
            for case in r.cases:
                rows = ctx.rows.get(case.name)
                if rows is None or rows.size == 0:
                    continue
                name = f"{quantity(r, d.notation)} when {printing.text(case.condition, d.notation)}"
                try:
                    general = per_pair(r, ctx.values, ctx.batched, shape, rows)
                    got = lambdify.evaluate(case.expr, ctx.values, free_indices(r), shape, ctx.batched, rows)
                    got = np.broadcast_to(got, general.shape)  # a case may not vary over the pairs (e.g. 0)
                    ev = evidence.compare(name, got, general, method="general formula", rtol=evidence.AGREE_RTOL,
                                         atol=evidence.AGREE_RTOL * float(np.abs(general).max(initial=0.0)))
                except lambdify.EvaluationError as exc:
                    ev = evidence.Evidence(name, "general formula", 0, 0, float("inf"), ok=False, notes=(str(exc),))
                out.append({**ev.as_dict(), "case": case.name, "pairs": int(rows.size)})
    return out
