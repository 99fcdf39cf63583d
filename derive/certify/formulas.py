"""The printed definitions, steps and chain rules of a derivation, each evaluated on real tensors.

A definition (o⁽⁶⁾_k = Σ_j w⁽⁵⁶⁾_jk s⁽⁵⁾_j + b⁽⁶⁾_k) must give the network's own forward values. A
step ∂c/∂n is checked along a random direction v: the contraction Σ (∂c/∂n)·v, built from the
printed step, against (c(n + h·v) − c(n − h·v)) / 2h, with c computed from its printed definition.
A chain rule, once each derivative in it is replaced by its printed step, must give the result.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.certify import evidence, lambdify
from derive.symbolic import factors, printing

DIRECTION = sp.IndexedBase("v_dir", real=True)


def _shape(values, batched, name) -> tuple:
    shape = np.shape(values[name])
    return shape[1:] if name in batched else shape


def check_definitions(g, values, batched, output_value=None) -> list[evidence.Evidence]:
    """Every definition of the graph against the values the network computed (the output: its mean)."""
    out = []
    for node in g.nodes.values():
        if node.expr is None:
            continue
        name = f"{printing.text(node.item, g.notation)} = {printing.text(node.expr, g.notation)}"
        forms = [node.expr] + ([g.display[node.name]] if node.name in g.display else [])
        for form in forms:
            try:
                if node.name in values:
                    got = lambdify.evaluate(form, values, node.indices, _shape(values, batched, node.name), batched)
                    ref = values[node.name] if node.name in batched else values[node.name][None]
                elif output_value is not None and node.name == g.output:
                    got, ref = lambdify.evaluate(form, values, batched=batched).mean(), output_value
                else:
                    continue
                ev = evidence.compare(name, got, ref, method="network forward", rtol=evidence.AGREE_RTOL,
                                     atol=evidence.AGREE_RTOL * float(np.abs(ref).max(initial=1.0)))
            except lambdify.EvaluationError as exc:
                ev = evidence.Evidence(name, "network forward", 0, 0, float("inf"), ok=False, notes=(str(exc),))
            out.append(ev)
    return out


def _node(g, item):
    name = item.base.label.name if isinstance(item, sp.Indexed) else item.name
    return g.nodes[name]


def check_step(g, step, values, batched, seed) -> evidence.Evidence:
    """One local derivative ∂c/∂n against a central difference of c's definition along a random direction."""
    c_item, n_item = step.lhs.expr, step.lhs.variables[0]
    c, n = _node(g, c_item), _node(g, n_item)
    cidx = tuple(c_item.indices) if isinstance(c_item, sp.Indexed) else ()
    name = printing.equation(step.lhs, step.rhs, g.notation, "text")
    v = evidence.direction(np.shape(values[n.name]), [seed, len(name)])
    vb = batched | ({DIRECTION.label.name} if n.name in batched else set())
    contracted = [x for x in n.indices if x not in cidx]
    body = step.rhs * (DIRECTION[n.indices] if n.indices else sp.Symbol(DIRECTION.label.name))
    jvp = sp.Sum(body, *[(x, 1, g.ranges[x]) for x in contracted]) if contracted else body
    shape = _shape(values, batched, c.name) if c.name in values else ()
    try:
        got = lambdify.evaluate(jvp, {**values, DIRECTION.label.name: v}, cidx, shape, vb)

        def forward(x):
            return lambdify.evaluate(c.expr, {**values, n.name: x}, c.indices, shape, batched)

        x = np.asarray(values[n.name], dtype=np.float64)
        h = _step(c, x)
        fd = evidence.directional(forward, x, v, h)
        got = np.broadcast_to(got, np.broadcast_shapes(got.shape, fd.shape))  # a step may not vary over the pairs
        scale = float(np.abs(forward(x)).max(initial=1.0))
        kinks = _crossings(c, n, values, batched, x, v, fd.shape, h)
        return evidence.compare(name, got, fd, method="finite differences along a random direction",
                               atol=evidence.rounding_atol(scale, h), kinks=kinks)
    except lambdify.EvaluationError as exc:
        return evidence.Evidence(name, "finite differences along a random direction", 0, 0, float("inf"), ok=False,
                                notes=(str(exc),))


def _step(c, x) -> float:
    """The difference step: STEP, or less for the KL term, whose logarithms are singular at ρ̂ = 0 and 1.

    A central difference is good to about (h/d)² at a distance d from a singularity: a unit whose mean
    activation ρ̂ is 2e-6 needs a step well below it (the step stays within (0, 1) on both sides).
    """
    if c.kind != "kl":
        return evidence.STEP
    inside = np.minimum(x, 1 - x)
    room = float(inside.min()) if inside.size and inside.min() > 0 else 1.0
    return evidence.STEP * min(1.0, room)


def _crossings(c, n, values, batched, x, v, shape, h=evidence.STEP) -> np.ndarray:
    """Entries of c whose definition changes piece (a Piecewise condition flips) between n − h·v and n + h·v."""
    flags = np.zeros(shape, bool)
    for cond in sorted(c.expr.atoms(sp.Rel), key=sp.default_sort_key):
        side = [lambdify.evaluate(sp.Piecewise((1, cond), (0, True)), {**values, n.name: x + t * h * v},
                                 c.indices, shape[1:], batched) for t in (-1, 0, 1)]
        flags |= np.broadcast_to((side[0] != side[1]) | (side[2] != side[1]), shape)
    return flags


def check_chain(d, result, values, batched, shape) -> evidence.Evidence:
    """The chain rule of a result, each derivative replaced by its printed step, against the result."""
    name = f"chain rule of {printing.text(result.lhs, d.notation)} ({result.param})"
    steps = {s.lhs: s.rhs for s in d.steps if s.reading in ("", result.reading)}
    var = result.lhs.variables[0]
    free = tuple(var.indices) if isinstance(var, sp.Indexed) else ()
    try:
        chain = result.chain.xreplace(steps)
        if chain.atoms(sp.Derivative):
            raise lambdify.EvaluationError(f"no printed step for {', '.join(map(str, chain.atoms(sp.Derivative)))}")
        got = lambdify.evaluate(chain, values, free, shape, batched, mean=True)
        ref = lambdify.evaluate(result.expr, values, free, shape, batched, mean=True)
        return evidence.compare(name, got, ref, method="simplified result", rtol=evidence.AGREE_RTOL,
                               atol=evidence.AGREE_RTOL * float(np.abs(ref).max(initial=0.0)))
    except lambdify.EvaluationError as exc:
        return evidence.Evidence(name, "simplified result", 0, 0, float("inf"), ok=False, notes=(str(exc),))


def check_factors(d, values, batched, shapes) -> list[evidence.Evidence]:
    """Each result written with the named factors δ and Δ (evaluated from their definitions) against the result."""
    named = factors.named(d)
    if named is None:
        return []
    bound, more = dict(values), set(batched)
    for sym, definition in named.definitions.items():
        if isinstance(sym, sp.Indexed):
            k = sym.indices[0]
            size = np.shape(values[next(iter(definition.atoms(sp.Indexed))).base.label.name])[-1]
            bound[sym.base.label.name] = lambdify.evaluate(definition, values, (k,), (size,), batched)
            more.add(sym.base.label.name)
        else:
            bound[sym.name] = lambdify.evaluate(definition, values, batched=batched)
            more.add(sym.name)
    out = []
    for r in d.results:
        name = f"named factors of {printing.text(r.lhs, d.notation)} ({r.param})"
        free = tuple(r.lhs.variables[0].indices) if isinstance(r.lhs.variables[0], sp.Indexed) else ()
        try:
            got = lambdify.evaluate(named.compact(r.expr), bound, free, shapes[r.param], more, mean=True)
            ref = lambdify.evaluate(r.expr, values, free, shapes[r.param], batched, mean=True)
            out.append(evidence.compare(name, got, ref, method="full expression", rtol=evidence.AGREE_RTOL,
                                        atol=evidence.AGREE_RTOL * float(np.abs(ref).max(initial=0.0))))
        except lambdify.EvaluationError as exc:
            out.append(evidence.Evidence(name, "full expression", 0, 0, float("inf"), ok=False, notes=(str(exc),)))
    return out


def check_derivation(d, g, values, batched, shapes, seed, reading: str = "") -> list[evidence.Evidence]:
    """The steps and chain rules of a derivation (those of one reading of the KL term, if given)."""
    out = [check_step(g, s, values, batched, seed) for s in d.steps if s.reading in ("", reading)]
    return out + [check_chain(d, r, values, batched, shapes[r.param]) for r in d.results if r.reading == reading]
