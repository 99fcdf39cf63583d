"""Q7's KL sparsity term checked on real tensors, in both readings, with the literal domain reported.

The literal reading takes ρ̂_g from the linear layer's own outputs; Bernoulli's KL needs every ρ̂_g in
(0, 1), which real tensors need not give: the check counts the units outside and, to test the
formula at all, shifts that layer's biases (first branch) until every ρ̂_g lies inside, saying so.
The sigmoid reading is defined everywhere and is checked on the network as it is.
"""

from __future__ import annotations

import numpy as np

from derive.certify import evidence, formulas, lambdify, moves, tensors
from derive.engine import network
from derive.symbolic import graph as graphs

BETA = 1.0          # the formula is linear in β; β = 1 keeps the KL part as large as the pair loss's
TARGET = 0.5        # ρ̂ aimed at when the literal reading needs its domain restored
SHIFT_ROUNDS = 20


def bindings(g, net, cache) -> dict:
    """Arrays for every name of a KL graph (first branch, one row per example of the batch)."""
    _, lower, upper = g.top
    values = {k.name: v for k, v in g.sizes.items()}
    values.update(rho=net.kl.rho, beta=net.kl.beta, m=len(cache.l), rhohat=cache.rho_hat)
    for node in g.nodes.values():
        if node.kind == "param":
            values[node.name] = net.params[node.param]
        elif node.kind == "input":
            values[node.name] = cache.s[0][lower]
        elif node.kind == "dense":
            values[node.name] = cache.o[0][upper]
        elif node.kind in graphs.ACTIVATIONS:
            values[node.name] = cache.s[0][upper]
    return values


def _restore_domain(net, cache, x1, x2, l):
    """Shift the first branch's biases of the KL layer until every literal ρ̂_g lies in (0, 1)."""
    key = net.key(net.kl.layer, 0) + ".b"
    for _ in range(SHIFT_ROUNDS):
        if cache.kl_defined:
            break
        net.params[key] += TARGET - cache.rho_hat
        cache = net.forward(x1, x2, l)
    return cache


def forward(ctx, reading: str):
    """The context's network with the KL term of one reading, run on its pairs: (net, cache, info).

    Where the literal reading's ρ̂_g leave (0, 1), the first branch's biases of the KL layer are shifted
    until every ρ̂_g lies inside; ``info`` says how many units were outside and whether that was done.
    """
    _, _, upper, _ = graphs.top(ctx.spec)
    net = ctx.net.copy()
    net.kl = network.KL(layer=upper.name, rho=float(graphs.RHO), beta=BETA, reading=reading)
    cache = net.forward(ctx.x1, ctx.x2, ctx.l)
    outside = int(np.sum((cache.rho_hat <= 0) | (cache.rho_hat >= 1)))
    info = {"units": int(cache.rho_hat.size), "units_outside": outside, "biases_shifted": False}
    if not cache.kl_defined:
        cache = _restore_domain(net, cache, ctx.x1, ctx.x2, ctx.l)
        info["biases_shifted"] = True
    info["checked"] = bool(cache.kl_defined)
    return net, cache, info


def check(ctx, derivation, pair_derivation, torch_twin=None) -> dict:
    """Both readings: units outside (0, 1), definitions, steps, and each result vs differences and backprop.

    Backprop and autograd give the gradient of the whole loss, so they are compared with the printed
    pair-loss result plus the printed KL result; the finite differences are of the KL term alone.
    """
    out, records, found = {"rho": float(graphs.RHO), "beta": BETA, "readings": {}}, [], []
    for reading in graphs.READINGS:
        net, cache, info = forward(ctx, reading)
        out["readings"][reading] = info
        if not cache.kl_defined:
            continue
        g = graphs.kl_graph(ctx.spec, reading, net.tied)
        values = bindings(g, net, cache)
        pair_values, pair_batched = tensors.bindings(ctx.graph, net, cache)
        pair = {r.param: tensors.batch_mean(r, pair_values, pair_batched, net.params[r.param].shape)
                for r in pair_derivation.results if r.param in net.params}
        grads = net.backward(cache)
        auto = torch_twin(net).grads(ctx.x1, ctx.x2, ctx.l)[1] if torch_twin is not None else None
        top = moves.Top(net, cache, kl_graph=g, kl=net.kl, pair=False)
        results = [r for r in derivation.results if r.reading == reading]
        shapes = {r.param: net.params[r.param].shape for r in results}
        found += formulas.check_definitions(g, values, set(), output_value=cache.kl)
        found += formulas.check_derivation(derivation, g, values, set(), shapes, ctx.seed, reading)
        for r in results:
            records.append(_tensor(r, derivation, values, top, pair.get(r.param), grads[r.param],
                                   None if auto is None else auto[r.param], reading))
    out["tensors"], out["evidence"] = records, found
    return out


def _tensor(r, d, values, top, pair, backprop, autograd, reading) -> dict:
    shape = top.net.params[r.param].shape
    free = tensors.free_indices(r)
    name = f"{tensors.quantity(r, d.notation)} [{reading} reading]"
    key = f"{r.param} (KL, {reading})"
    try:
        got = lambdify.evaluate(r.expr, values, free, shape)[0]
    except lambdify.EvaluationError as exc:
        ev = evidence.Evidence(name, "evaluation", 0, int(np.prod(shape)), float("inf"), ok=False, notes=(str(exc),))
        return tensors.record(key, name, [ev])
    coords = np.arange(got.size)
    diffs = evidence.differences(lambda c, h: top.moved(r.param, c, h), coords)
    found = [evidence.compare_differences(name, got.reshape(-1), diffs, scale=top.base_loss)]
    if pair is not None:
        total = pair + got
        scale = float(np.abs(backprop).max(initial=0.0))
        for method, ref in (("backprop", backprop), ("autograd", autograd)):
            if ref is not None:
                found.append(evidence.compare(f"{name} + the pair loss's", total, ref, method=method,
                                                rtol=evidence.AGREE_RTOL, atol=evidence.AGREE_RTOL * scale,
                                                index_names=tuple(map(str, free))))
    return tensors.record(key, name, found)
