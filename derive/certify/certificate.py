"""What ``derive check`` runs: every printed formula evaluated on real tensors and compared, and its report.

The tensors come from :mod:`derive.certify.tensors`; every definition, step, result and case that
``derive gradients`` prints is evaluated there (the very SymPy objects, lambdified) and compared
with central finite differences of the full loss for every weight, bias and PReLU slope of the two
top layers of both branches, with the network's backprop, and with PyTorch's autograd when
installed. Training steps are replayed by :mod:`derive.certify.training` and the KL term is checked
by :mod:`derive.certify.kl`.
"""

from __future__ import annotations

import json

from derive.certify import evidence, formulas, kl, tensors, training
from derive.engine import data as datasets
from derive.runtime import cache
from derive.symbolic import derivation
from derive.symbolic import graph as graphs


def torch_twin():
    """The PyTorch twin class when torch is installed, else None."""
    try:
        from derive.engine.torch_twin import TorchTwin
    except ImportError:
        return None
    return TorchTwin


class Report(dict):
    """The certificate's report (plain data under stable keys) and its rendering."""

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return bool(self["ok"])

    def render(self, fmt: str = "text") -> str:
        """The report as text for a terminal, or as JSON."""
        return json.dumps(self, indent=1, ensure_ascii=False) + "\n" if fmt == "json" else render(self)


def run(spec, data: str = "shapeset", seed: int = 0, *, steps: int | None = None, derivations=None,
        exhaustive: bool = True, use_torch: bool = True, progress=None) -> Report:
    """Certify every printed formula of a spec on real tensors; the report ``derive check --json`` prints.

    ``derivations`` replaces the ones derived from the spec (to show that wrong ones fail);
    ``exhaustive=False`` samples 4096 coordinates per tensor; ``progress(phase)`` hears each phase.
    """
    graphs.top(spec)  # two dense layers at the top, and images the spec can take, before any phase is told
    datasets.check_shape(data, spec.input)
    check_memory(spec)
    say = progress or (lambda phase: None)
    say("forward pass on the pairs")
    ctx = tensors.Context(spec, data, seed)
    tied = ctx.net.tied
    if derivations is None:
        derivations = [derivation.derive(spec, key, tied) for key in derivation.layers(spec) if key != "kl"]
    twin = torch_twin() if use_torch else None
    torch_grads = twin(ctx.net).grads(ctx.x1, ctx.x2, ctx.l)[1] if twin else None
    missing = [r.param for d in derivations for r in d.results if r.param not in ctx.net.params]
    known = [_only(d, ctx.net.params) for d in derivations]
    say("finite differences, backprop and autograd for every top parameter")
    records = tensors.check_results(ctx, known, torch_grads, exhaustive)
    say("definitions, steps, chain rules and hinge cases")
    shapes = {r.param: ctx.net.params[r.param].shape for d in known for r in d.results}
    found = formulas.check_definitions(ctx.graph, ctx.values, ctx.batched, float(ctx.cache.pair_loss))
    for d in known:
        found += formulas.check_derivation(d, ctx.graph, ctx.values, ctx.batched, shapes, seed)
        found += formulas.check_factors(d, ctx.values, ctx.batched, shapes)
    cases = tensors.check_cases(ctx, known)
    say("training steps with the printed gradients")
    replay = training.replay(ctx, known, **({} if steps is None else {"steps": steps}))
    say("the KL term in both readings")
    upper = next((d for d in known if d.kind == "upper"), None)
    penalty = kl.check(ctx, derivation.derive(spec, "kl", tied), upper or derivation.derive(spec, "L6", tied), twin)
    records += penalty.pop("tensors")
    found += penalty.pop("evidence")
    counts = {name: int(ctx.rows[name].size) for name in tensors.CASE_NAMES}
    failures = [f"{p}: the network has no such parameter (weights {'tied' if tied else 'untied'})" for p in missing]
    failures += [f"no pair falls in the hinge case {name}" for name, n in counts.items() if n == 0]
    failures += [msg for t in records for msg in t["failures"]]
    failures += [e.message() if not e.notes else f"{e.name}: {'; '.join(e.notes)}" for e in found if not e.ok]
    failures += [f"{c['name']} vs {c['method']}: FAILED (max rel. error {c['max_rel_error']:.1e})" for c in cases
                 if not c["ok"]]
    if not replay["ok"]:
        failures.append(f"training: deviation {replay['max_trajectory_deviation']:.1e} from backprop's trajectory, "
                        f"loss {replay['loss_first']:.6g} -> {replay['loss_last']:.6g}")
    return Report({
        "ok": not failures, "spec": spec.source, "shared_weights": tied, "prelu": spec.prelu, "data": data,
        "seed": seed, "pairs": int(len(ctx.l)), "upper_scale": ctx.scale, "hinge_cases": counts,
        "tensors": records, "evidence": [e.as_dict() for e in found], "cases": cases, "training": replay,
        "kl": penalty, "autograd": twin is not None, "failures": failures,
    })


def check_memory(spec) -> None:
    """Refuse, before any work, a certificate this machine cannot hold (one line, a DeriveError)."""
    from derive.runtime import tuning
    from derive.shapes import count, working_set

    h, w, c = spec.input
    pairs = tensors.SAME + tensors.INSIDE + tensors.OUTSIDE
    top = sum(x.params for x in count(spec)[-2:])  # the finite differences move each of them, on every pair
    need = (2 * working_set(spec, 2 * pairs, 8, copies=6) + 8 * tensors.POOL * h * w * c  # float64; the torch twin
            + 3 * 8 * pairs * top * (1 if spec.shared_weights else 2))
    tuning.check_memory(need, "the certificate of this spec")


REPORT_FIELDS = ("ok", "spec", "shared_weights", "prelu", "data", "seed", "pairs", "upper_scale", "hinge_cases",
                 "tensors", "evidence", "cases", "training", "kl", "autograd", "failures")


def entry(spec, seed: int, root, exhaustive: bool = True) -> cache.Entry:
    """Where the certificate of a spec and seed is stored (keyed by the spec, the seed and this code)."""
    return cache.Entry(root, "certificate", cache.key("certificate", __name__, spec=spec, seed=seed,
                                                      exhaustive=exhaustive))


TENSOR_FIELDS = {"name": str, "quantity": str, "checked": int, "total": int, "max_rel_error": (int, float),
                 "kinks": int, "ok": bool, "failures": list}


def valid(report) -> bool:
    """Whether a stored report has the fields and types the sheet reads (a damaged one is recomputed).

    Every tensor record is typed, the hinge cases are counts, and the report renders: an edited or
    forged entry of another shape is a miss, never quoted.
    """
    if not (isinstance(report, dict) and all(k in report for k in REPORT_FIELDS) and report["ok"] is True
            and isinstance(report["tensors"], list) and report["tensors"]
            and isinstance(report["hinge_cases"], dict) and isinstance(report["training"], dict)
            and isinstance(report["kl"], dict) and isinstance(report["autograd"], bool)
            and isinstance(report["pairs"], int) and report["failures"] == []):
        return False
    if set(report["hinge_cases"]) != set(tensors.CASE_NAMES) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in report["hinge_cases"].values()):
        return False
    for t in report["tensors"]:
        if not isinstance(t, dict) or not all(isinstance(t.get(k), kind) and not (kind is int and isinstance(
                t.get(k), bool)) for k, kind in TENSOR_FIELDS.items()):
            return False
    try:
        render(report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return False
    return True


def store(where: cache.Entry, spec, seed: int = 0, exhaustive: bool = True) -> None:
    """Compute and store the certificate unless it is stored (for a worker process)."""
    where.get(lambda: run(spec, seed=seed, exhaustive=exhaustive), check=valid)


def _only(d, params):
    """A derivation restricted to the results whose parameter the network has."""
    return derivation.Derivation(d.key, d.definitions, d.steps, tuple(r for r in d.results if r.param in params),
                                 d.notation, d.kind)


def render(report: dict) -> str:
    """The report as text for a terminal."""
    lines = [f"derive check: {report['spec']}, {'tied' if report['shared_weights'] else 'untied'} branches, "
             f"data {report['data']}, seed {report['seed']}, {report['pairs']} pairs"]
    h = report["hinge_cases"]
    lines.append(f"pairs: {h['same']} same label (l = 0), {h['different_inside_margin']} different inside the margin "
                 f"(D < 1), {h['different_outside_margin']} different outside (D >= 1); upper layer scaled by "
                 f"{report['upper_scale']:.4g} to spread D around 1")
    lines.append("")
    lines.append(f"{'tensor':<24} {'checked':>17} {'finite diff.':>12} {'one-sided':>9} {'h/8^k':>6} {'backprop':>9} "
                 f"{'autograd':>9}")
    for t in report["tensors"]:
        auto = "-" if t["autograd_max_rel_error"] is None else f"{t['autograd_max_rel_error']:.1e}"
        back = "-" if t["backprop_max_rel_error"] is None else f"{t['backprop_max_rel_error']:.1e}"
        d = t.get("differences") or {}
        lines.append(f"{t['name']:<24} {t['checked']:>8}/{t['total']:<8} {t['max_rel_error']:>12.1e} "
                     f"{d.get('one-sided', 0):>9} {d.get('smaller step', 0):>6} {back:>9} {auto:>9}  "
                     f"{'ok' if t['ok'] else 'FAILED'}  {t['quantity']}")
    smallest = min((t.get("differences") or {}).get("smallest step", evidence.STEP) for t in report["tensors"])
    lines.append(f"(central differences with h = {evidence.STEP:g} everywhere else; 'one-sided': a second-order "
                 f"one-sided difference on the side of a kink that ±h does not cross; 'h/8^k': a smaller step, "
                 f"the smallest {smallest:.1e})")
    ev, cases = report["evidence"], report["cases"]
    lines.append("")
    lines.append(f"definitions, steps and chain rules: {sum(e['ok'] for e in ev)} of {len(ev)} agree "
                 f"(network forward, random-direction differences, simplified results)")
    lines.append(f"hinge cases: {sum(c['ok'] for c in cases)} of {len(cases)} case formulas agree with the general one")
    t = report["training"]
    lines.append(f"training: {t['steps']} SGD steps (lr {t['lr']}) with the printed gradients of "
                 f"{', '.join(t['replaced'])}: max deviation from backprop's trajectory "
                 f"{t['max_trajectory_deviation']:.1e}, loss {t['loss_first']:.6g} -> {t['loss_last']:.6g}"
                 + (" (the loss does not move from here, its units dead or saturated: the trajectories are "
                    "equal, nothing descends)" if t.get("flat") else ""))
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
