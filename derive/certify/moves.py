"""The loss of a network's top, recomputed for many single-parameter moves at once.

A weight, bias or PReLU slope of the two dense layers at the top changes the computation only from
its own layer upward, so the loss with one parameter moved by ±h is recomputed from that layer up
(pre-activation, activation, the layer above, D, the loss of every pair, their mean), for a whole
column of coordinates at once. Nothing here uses a derivative: the finite differences built on
it are honest differences of the full loss. The activations are the network's own; the loss (and
the KL term) are the graph's printed definitions, lambdified, so that what is shown is what is
differenced. Each move also reports whether it crossed a kink: an activation's or the hinge's.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.certify import lambdify
from derive.engine import layers as ops
from derive.symbolic import graph as graphs

KINKED = ("relu", "prelu")
CHUNK = 1 << 20  # moved (coordinate, pair) entries handled per block, to bound memory


class Top:
    """The top of a network at fixed inputs s4, s4' (from a forward pass): its loss and moved losses."""

    def __init__(self, net, cache, kl_graph=None, kl=None, pair: bool = True):
        _, lower, upper, _ = graphs.top(net.spec)
        self.net, self.lower, self.upper, self.tied = net, lower, upper, net.tied
        self.l = np.asarray(cache.l, dtype=np.float64)
        self.s4 = [np.asarray(cache.inp[b][lower.name], dtype=np.float64) for b in (0, 1)]
        g = graphs.loss_graph(net.spec, net.tied)
        d, lab = graphs.scalar("D"), graphs.scalar("l")
        self._loss = sp.lambdify([d, lab], g.nodes[g.output].expr, modules=lambdify.MODULES)
        self.kl_graph, self.kl, self.pair = kl_graph, kl, pair
        self.base = self.forward(net.params)
        self.base_loss = (float(self.base["pair"].mean()) if pair else 0.0) + (
            float(self.kl_value(self.base["s6"][0][None])[0]) if kl else 0.0)

    def p(self, params, layer, kind, b):
        """A parameter of layer (lower or upper) in branch b, or None."""
        return params.get(self.net.key(layer.name, b) + "." + kind)

    def forward(self, params) -> dict:
        """o5, s5, o6, s6 of both branches, D and the per-pair losses for a parameter set."""
        out = {"o5": [], "s5": [], "o6": [], "s6": []}
        for b in (0, 1):
            o5 = ops.dense(self.s4[b], self.p(params, self.lower, "W", b), self.p(params, self.lower, "b", b))
            s5 = self._act(self.lower, o5, self.p(params, self.lower, "a", b))
            o6 = ops.dense(s5, self.p(params, self.upper, "W", b), self.p(params, self.upper, "b", b))
            s6 = self._act(self.upper, o6, self.p(params, self.upper, "a", b))
            for k, v in (("o5", o5), ("s5", s5), ("o6", o6), ("s6", s6)):
                out[k].append(v)
        diff = out["s6"][0] - out["s6"][1]
        out["D"] = 0.5 * np.einsum("pk,pk->p", diff, diff)
        out["pair"] = self.pair_losses_at(out["D"], np.arange(self.l.size))
        return out

    def _act(self, layer, o, a):
        return ops.ACTIVATIONS[layer.activation][0](o, a)

    def loss(self, params=None) -> float:
        """The mean loss over the pairs (plus the KL term when the top was built with one)."""
        fw = self.forward(params if params is not None else self.net.params)
        pair = float(fw["pair"].mean()) if self.pair else 0.0
        return pair + (float(self.kl_value(fw["s6"][0][None])[0]) if self.kl else 0.0)

    def kl_value(self, s6) -> np.ndarray:
        """The printed KL penalty (its ρ̂ and its sum) for upper activations s6 of shape (moves, m, n6)."""
        g, kl = self.kl_graph, self.kl
        r_hat = g.nodes["rhohat"]
        values = {r_hat.inputs[0][1]: s6, "rho": kl.rho, "beta": kl.beta, "m": s6.shape[1],
                  **{k.name: v for k, v in g.sizes.items()}}
        batched = {r_hat.inputs[0][1]}
        values["rhohat"] = lambdify.evaluate(r_hat.expr, values, r_hat.indices, (s6.shape[2],), batched=batched)
        return lambdify.evaluate(g.nodes[g.output].expr, values, batched=batched | {"rhohat"})

    # --- moves ------------------------------------------------------------------------------

    def branches(self, key: str) -> tuple:
        """The branches a parameter key feeds: both under tied weights, else its own."""
        return (0, 1) if self.tied else ((1,) if key.split(".")[0].endswith("'") else (0,))

    def moved(self, key: str, coords: np.ndarray, step: float):
        """Mean loss with each coordinate (flat index into the parameter) moved by ``step``, and kink flags."""
        layer, kind = key.split(".")[0].rstrip("'"), key.split(".")[1]
        shape = self.net.params[key].shape
        coords = np.asarray(coords, dtype=np.int64)
        values, crossed = np.empty(coords.size), np.zeros(coords.size, bool)
        if layer == self.lower.name:
            if self.kl is not None:
                raise ValueError("moves of the lower layer with the KL term are not supported")
            unit = coords % shape[-1] if kind == "W" else coords if shape else np.full(coords.size, -1)
            for j in np.unique(unit):
                sel = np.flatnonzero(unit == j)
                values[sel], crossed[sel] = self._move_lower(key, kind, int(j), coords[sel], step)
        else:
            values[:], crossed[:] = self._move_upper(key, kind, coords, step)
        return values, crossed

    def _move_lower(self, key, kind, j, coords, step):
        """Moves that change unit j of the lower layer (j = −1: every unit, for a scalar slope)."""
        base, n = self.base, coords.size
        P = self.l.size
        deltas = []
        for b in (0, 1):
            if b not in self.branches(key):
                deltas.append(None)
            elif kind == "W":
                deltas.append(step * self.s4[b][:, coords // self.net.params[key].shape[1]].T)
            else:
                deltas.append(np.full((n, P), step))
        moved = np.zeros((n, P), bool)
        for d in deltas:
            if d is not None:
                moved |= d != 0
        ci, cp = np.nonzero(moved)
        pair = np.broadcast_to(base["pair"], (n, P)).copy()
        cross = np.zeros((n, P), bool)
        block = max(1, CHUNK // self.upper.units)
        for lo in range(0, ci.size, block):
            c, p = ci[lo:lo + block], cp[lo:lo + block]
            s6, kink = [], np.zeros(c.size, bool)
            for b in (0, 1):
                if deltas[b] is None:
                    s6.append(base["s6"][b][p])
                    continue
                a = self.p(self.net.params, self.lower, "a", b)
                if kind == "a" and j < 0:
                    o5 = base["o5"][b][p]
                    s5 = self._act(self.lower, o5, a + step)
                    o6 = ops.dense(s5, self.p(self.net.params, self.upper, "W", b),
                                   self.p(self.net.params, self.upper, "b", b))
                else:
                    o5 = base["o5"][b][p, j]
                    o5_new = o5 + (deltas[b][c, p] if kind != "a" else 0.0)
                    a_j = None if a is None else (a if a.ndim == 0 else a[j])
                    s5_new = self._act(self.lower, o5_new, a_j + step if kind == "a" else a_j)
                    if self.lower.activation in KINKED:
                        kink |= (o5_new > 0) != (o5 > 0)
                    dz = s5_new - base["s5"][b][p, j]
                    o6 = base["o6"][b][p] + dz[:, None] * self.p(self.net.params, self.upper, "W", b)[j]
                s6.append(self._act(self.upper, o6, self.p(self.net.params, self.upper, "a", b)))
                if self.upper.activation in KINKED:
                    kink |= ((o6 > 0) != (base["o6"][b][p] > 0)).any(axis=1)
            pair[c, p], hinge = self._pairs(s6, p)
            cross[c, p] = kink | hinge
        return pair.mean(axis=1), cross.any(axis=1)

    def _move_upper(self, key, kind, coords, step):
        """Moves of the upper layer's weights, biases or slopes: one unit k (or all) per coordinate."""
        base, params = self.base, self.net.params
        shape = params[key].shape
        n, P, K = coords.size, self.l.size, self.upper.units
        s6 = [np.broadcast_to(base["s6"][b], (n, P, K)).copy() for b in (0, 1)]
        kink = np.zeros((n, P), bool)
        rows = np.arange(n)
        for b in self.branches(key):
            a = self.p(params, self.upper, "a", b)
            if kind == "a" and not shape:
                s6[b] = np.broadcast_to(self._act(self.upper, base["o6"][b], a + step), (n, P, K)).copy()
                continue
            k = coords % shape[-1] if kind == "W" else coords
            o6 = base["o6"][b][:, k].T
            o6_new = o6 + (step * base["s5"][b][:, coords // shape[-1]].T if kind == "W" else
                           (step if kind == "b" else 0.0))
            a_k = None if a is None else (np.broadcast_to(a, (K,))[k][:, None])
            s6[b][rows, :, k] = self._act(self.upper, o6_new, a_k + step if kind == "a" else a_k)
            if self.upper.activation in KINKED:
                kink |= (o6_new > 0) != (o6 > 0)
        pair, hinge = self._pairs([s.reshape(n * P, K) for s in s6], np.tile(np.arange(P), n))
        value = pair.reshape(n, P).mean(axis=1) if self.pair else np.zeros(n)
        if self.kl is not None and 0 in self.branches(key):
            value = value + self.kl_value(s6[0])
        return value, (kink | (hinge.reshape(n, P) & self.pair)).any(axis=1)

    def _pairs(self, s6, p):
        """Per-pair losses for rows of activations s6 = [first, second] belonging to pairs p, and hinge kinks."""
        diff = s6[0] - s6[1]
        D = 0.5 * np.einsum("nk,nk->n", diff, diff)
        hinge = (self.l[p] == 1) & ((D < 1) != (self.base["D"][p] < 1))
        return self.pair_losses_at(D, p), hinge

    def pair_losses_at(self, D, p) -> np.ndarray:
        """The printed loss definition for distances D of the pairs p."""
        return np.asarray(self._loss(D, self.l[p]), dtype=np.float64)
