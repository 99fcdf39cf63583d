"""What ``derive check`` runs: every printed formula evaluated on real tensors and compared.

The NumPy network is run forward on real pairs (Shapeset by default), chosen so that every case of
the hinge occurs. Every definition, step, result and case that ``derive gradients`` prints is
evaluated by numeric.py on those tensors (the very SymPy objects, lambdified) and compared with
central finite differences of the full loss for every weight, bias and PReLU slope of the two top
layers of both branches, with the network's backprop, and with PyTorch's autograd when installed.
Training steps are replayed in trajectory.py and the KL term is checked in klcheck.py.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive import data as datasets
from derive import derivation, fdcheck, graph as graphs, network, numeric, perturbation, printing
from derive.errors import DeriveError

SAME, INSIDE, OUTSIDE = 4, 4, 4   # pairs per hinge case: l = 0; l = 1, D < 1; l = 1, D >= 1
POOL = 200                        # Shapeset images drawn to build the pairs
SCALE_ROUNDS = 20                 # rescalings of the upper layer that bring the median distance to 1
INIT = "he"                       # He et al. (2015): activations keep their scale, so D spreads over pairs
CASE_NAMES = ("same", "different_inside_margin", "different_outside_margin")


class Context:
    """Real tensors for a spec: the network, the pairs, the forward pass, the top, the bindings."""

    def __init__(self, spec, data: str = "shapeset", seed: int = 0):
        self.spec, self.seed = spec, seed
        images, labels = load(data, seed, spec.input)
        if tuple(images.shape[1:]) != tuple(spec.input):
            raise DeriveError(f"{data}: images of shape {'x'.join(map(str, images.shape[1:]))} do not fit the spec's "
                              f"input {'x'.join(map(str, spec.input))}")
        self.net = network.Network(spec, dtype=np.float64, init=INIT, seed=seed, threads=2)
        rng = np.random.default_rng([seed, 4])
        i, j, l = datasets.pair_indices(labels, SAME + INSIDE + OUTSIDE, same_share=SAME / (SAME + INSIDE + OUTSIDE),
                                        rng=rng)
        self.x1, self.x2, self.l = images[i].astype(np.float64), images[j].astype(np.float64), l
        self.cache = self.net.forward(self.x1, self.x2, self.l)
        self.scale = self._spread()
        self.cache = self.net.forward(self.x1, self.x2, self.l)
        self.top = perturbation.Top(self.net, self.cache)
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
        top = perturbation.Top(self.net, self.cache)
        for _ in range(SCALE_ROUNDS):
            D = top.forward(self.net.params)["D"]
            if (D[diff] < 1).sum() == INSIDE and (D[diff] >= 1).sum() == OUTSIDE:
                break
            factor = 1 / np.sqrt(np.median(D[diff]))
            if not np.isfinite(factor) or factor <= 0:
                break
            for k in keys:
                self.net.params[k] *= factor
            scale *= factor
        return float(scale)


def load(data: str, seed: int, shape=(32, 32, 3)):
    """Images and labels: the Shapeset generator (at the spec's size), or CIFAR-10 batches at ``cifar10:PATH``."""
    if data == "shapeset":
        h, w, c = shape
        if h != w or c not in (1, 3):
            raise DeriveError(f"the Shapeset generator draws square grey or colour images, not {h}x{w}x{c}")
        return datasets.shapeset(POOL, seed=seed, size=h, color=c == 3)
    if data.startswith("cifar10:") and len(data) > len("cifar10:"):
        return datasets.load_cifar10(data[len("cifar10:"):])
    raise DeriveError(f"unknown data '{data}' (expected shapeset or cifar10:PATH)")


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
    return numeric.evaluate(result.expr, values, free_indices(result), shape, batched, rows)


def batch_mean(result, values, batched, shape) -> np.ndarray:
    """A result's mean over the pairs: the gradient of the batch loss (the mean of the pairs' losses)."""
    return numeric.evaluate(result.expr, values, free_indices(result), shape, batched, mean=True)


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
            except numeric.EvaluationError as exc:
                records.append(_record(r.param, name, [fdcheck.Evidence(name, "evaluation", 0, int(np.prod(shape)),
                                                                        float("inf"), ok=False, notes=(str(exc),))]))
                continue
            evidence = []
            coords = np.arange(got.size) if exhaustive else _sample(got.size, ctx.seed)
            fd, kinks = fdcheck.batched(lambda c, h: ctx.top.moved(r.param, c, h), coords)
            atol = fdcheck.rounding_atol(ctx.top.base["pair"].mean() + np.abs(ctx.top.base["pair"]).max())
            evidence.append(fdcheck.compare(name, got.reshape(-1)[coords], fd, method="finite differences",
                                            atol=atol, kinks=kinks, index_names=()))
            scale = float(np.abs(grads[r.param]).max(initial=0.0))
            evidence.append(fdcheck.compare(name, got, grads[r.param], method="backprop", rtol=fdcheck.AGREE_RTOL,
                                            atol=fdcheck.AGREE_RTOL * scale, index_names=names))
            if torch_grads is not None:
                evidence.append(fdcheck.compare(name, got, torch_grads[r.param], method="autograd",
                                                rtol=fdcheck.AGREE_RTOL, atol=fdcheck.AGREE_RTOL * scale,
                                                index_names=names))
            evidence[0] = _named_entries(evidence[0], shape, coords, names)
            records.append(_record(r.param, name, evidence))
    return records


def _sample(n: int, seed: int, k: int = 4096) -> np.ndarray:
    return np.arange(n) if n <= k else np.sort(np.random.default_rng([seed, 5]).choice(n, k, replace=False))


def _named_entries(ev, shape, coords, names):
    """Failures of a check on flat coordinates, re-indexed by the parameter's own indices."""
    fails = tuple((tuple(int(v) for v in np.unravel_index(coords[i[0]], shape)), g, r) for i, g, r in ev.failures)
    return fdcheck.Evidence(ev.name, ev.method, ev.checked, ev.total, ev.max_rel_error, ev.kinks, fails, names, ev.ok,
                            ev.notes)


def _record(param, name, evidence) -> dict:
    by = {e.method: e for e in evidence}
    fd = by.get("finite differences") or evidence[0]
    rec = {"name": param, "quantity": name, "checked": fd.checked, "total": fd.total,
           "max_rel_error": float(fd.max_rel_error), "kinks": fd.kinks,
           "backprop_max_rel_error": float(by["backprop"].max_rel_error) if "backprop" in by else None,
           "autograd_max_rel_error": float(by["autograd"].max_rel_error) if "autograd" in by else None,
           "ok": all(e.ok for e in evidence)}
    rec["failures"] = [e.message() if not e.notes else f"{e.name}: {'; '.join(e.notes)}" for e in evidence if not e.ok]
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
                    got = numeric.evaluate(case.expr, ctx.values, free_indices(r), shape, ctx.batched, rows)
                    got = np.broadcast_to(got, general.shape)  # a case may not vary over the pairs (e.g. 0)
                    ev = fdcheck.compare(name, got, general, method="general formula", rtol=fdcheck.AGREE_RTOL,
                                         atol=fdcheck.AGREE_RTOL * float(np.abs(general).max(initial=0.0)))
                except numeric.EvaluationError as exc:
                    ev = fdcheck.Evidence(name, "general formula", 0, 0, float("inf"), ok=False, notes=(str(exc),))
                out.append({**ev.as_dict(), "case": case.name, "pairs": int(rows.size)})
    return out


def torch_twin():
    """The PyTorch twin class when torch is installed, else None."""
    try:
        from derive.twin import TorchTwin
    except ImportError:
        return None
    return TorchTwin


def run(spec, data: str = "shapeset", seed: int = 0, *, steps: int | None = None, derivations=None,
        exhaustive: bool = True, use_torch: bool = True, progress=None) -> dict:
    """Certify every printed formula of a spec on real tensors; the report ``derive check --json`` prints.

    ``derivations`` replaces the ones derived from the spec (to show that wrong ones fail);
    ``exhaustive=False`` samples 4096 coordinates per tensor; ``progress(phase)`` hears each phase.
    """
    from derive import klcheck, steps as stepcheck, trajectory

    say = progress or (lambda phase: None)
    say("forward pass on the pairs")
    ctx = Context(spec, data, seed)
    tied = ctx.net.tied
    if derivations is None:
        derivations = [derivation.derive(spec, key, tied) for key in derivation.layers(spec) if key != "kl"]
    twin = torch_twin() if use_torch else None
    torch_grads = twin(ctx.net).grads(ctx.x1, ctx.x2, ctx.l)[1] if twin else None
    missing = [r.param for d in derivations for r in d.results if r.param not in ctx.net.params]
    known = [_only(d, ctx.net.params) for d in derivations]
    say("finite differences, backprop and autograd for every top parameter")
    tensors = check_results(ctx, known, torch_grads, exhaustive)
    say("definitions, steps, chain rules and hinge cases")
    shapes = {r.param: ctx.net.params[r.param].shape for d in known for r in d.results}
    evidence = stepcheck.check_definitions(ctx.graph, ctx.values, ctx.batched, float(ctx.cache.pair_loss))
    for d in known:
        evidence += stepcheck.check_derivation(d, ctx.graph, ctx.values, ctx.batched, shapes, seed)
    cases = check_cases(ctx, known)
    say("training steps with the printed gradients")
    training = trajectory.replay(ctx, known, **({} if steps is None else {"steps": steps}))
    say("the KL term in both readings")
    upper = next((d for d in known if d.key == graphs.top(spec)[2].name), None)
    kl = klcheck.check(ctx, derivation.derive(spec, "kl", tied), upper or derivation.derive(spec, "L6", tied), twin)
    tensors += kl.pop("tensors")
    evidence += kl.pop("evidence")
    counts = {name: int(ctx.rows[name].size) for name in CASE_NAMES}
    failures = [f"{p}: the network has no such parameter (weights {'tied' if tied else 'untied'})" for p in missing]
    failures += [f"no pair falls in the hinge case {name}" for name, n in counts.items() if n == 0]
    failures += [msg for t in tensors for msg in t["failures"]]
    failures += [e.message() if not e.notes else f"{e.name}: {'; '.join(e.notes)}" for e in evidence if not e.ok]
    failures += [f"{c['name']} vs {c['method']}: FAILED (max rel. error {c['max_rel_error']:.1e})" for c in cases
                 if not c["ok"]]
    if not training["ok"]:
        failures.append(f"training: deviation {training['max_trajectory_deviation']:.1e} from backprop's trajectory, "
                        f"loss {training['loss_first']:.6g} -> {training['loss_last']:.6g}")
    return {
        "ok": not failures, "spec": spec.source, "shared_weights": tied, "prelu": spec.prelu, "data": data,
        "seed": seed, "pairs": int(len(ctx.l)), "upper_scale": ctx.scale, "hinge_cases": counts,
        "tensors": tensors, "evidence": [e.as_dict() for e in evidence], "cases": cases, "training": training,
        "kl": kl, "autograd": twin is not None, "failures": failures,
    }


def _only(d, params):
    """A derivation restricted to the results whose parameter the network has."""
    return derivation.Derivation(d.key, d.definitions, d.steps, tuple(r for r in d.results if r.param in params),
                                 d.notation)


def render(report: dict) -> str:
    """The report as text for a terminal."""
    lines = [f"derive check: {report['spec']}, {'tied' if report['shared_weights'] else 'untied'} branches, "
             f"data {report['data']}, seed {report['seed']}, {report['pairs']} pairs"]
    h = report["hinge_cases"]
    lines.append(f"pairs: {h['same']} same label (l = 0), {h['different_inside_margin']} different inside the margin "
                 f"(D < 1), {h['different_outside_margin']} different outside (D >= 1); upper layer scaled by "
                 f"{report['upper_scale']:.4g} to spread D around 1")
    lines.append("")
    lines.append(f"{'tensor':<24} {'checked':>17} {'finite diff.':>12} {'kinks':>6} {'backprop':>9} {'autograd':>9}")
    for t in report["tensors"]:
        auto = "-" if t["autograd_max_rel_error"] is None else f"{t['autograd_max_rel_error']:.1e}"
        back = "-" if t["backprop_max_rel_error"] is None else f"{t['backprop_max_rel_error']:.1e}"
        lines.append(f"{t['name']:<24} {t['checked']:>8}/{t['total']:<8} {t['max_rel_error']:>12.1e} {t['kinks']:>6} "
                     f"{back:>9} {auto:>9}  {'ok' if t['ok'] else 'FAILED'}  {t['quantity']}")
    ev, cases = report["evidence"], report["cases"]
    lines.append("")
    lines.append(f"definitions, steps and chain rules: {sum(e['ok'] for e in ev)} of {len(ev)} agree "
                 f"(network forward, random-direction differences, simplified results)")
    lines.append(f"hinge cases: {sum(c['ok'] for c in cases)} of {len(cases)} case formulas agree with the general one")
    t = report["training"]
    lines.append(f"training: {t['steps']} SGD steps (lr {t['lr']}) with the printed gradients of "
                 f"{', '.join(t['replaced'])}: max deviation from backprop's trajectory "
                 f"{t['max_trajectory_deviation']:.1e}, loss {t['loss_first']:.6g} -> {t['loss_last']:.6g}")
    kl = report["kl"]
    for reading, info in kl["readings"].items():
        note = (f"{info['units_outside']} of {info['units']} units have rho-hat outside (0, 1)"
                + ("; checked after shifting the first branch's biases" if info["biases_shifted"] else "")
                + ("" if info["checked"] else "; not checkable"))
        lines.append(f"KL term (rho = {kl['rho']}, beta = {kl['beta']}), {reading} reading: {note}")
    lines.append("")
    lines += [f"FAILED: {f}" for f in report["failures"]]
    lines.append("certificate: " + ("all checks pass" if report["ok"] else f"{len(report['failures'])} failures"))
    return "\n".join(lines) + "\n"
