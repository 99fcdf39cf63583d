"""Exercise 1, Q6: dropout on L5/L'5 and L6/L'6 with independent masks in the two branches.

Closed form (inverted dropout, tied weights so both branches are one function, identical inputs):
with a = s5 and z = s6 without dropout, W the weights of L6, p5 and p6 the rates,
E[D] = (‖z‖² + p5/(1 − p5)·Σ_jk W_jk² a_j²) / (1 − p6) − ‖z‖², since each branch's s6 has mean z
and the two branches' masks are independent (so E[D] is the sum of the per-unit variances).
Monte Carlo over masks checks it; then the network is trained with and without dropout.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from derive import prose
from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 1 Q6"
TITLE = "Dropout on L5/L'5 and L6/L'6: D between the branches for identical inputs, and training"
NEEDS = frozenset({"spec", "data"})
SIZES = {
    "quick": {"steps": 15, "train_images": 400, "test_images": 200, "eval_pairs": 200, "mc_images": 3,
              "mc_draws": 300},
    "full": {"steps": 120, "train_images": 5000, "test_images": 1000, "eval_pairs": 500, "mc_images": 8,
             "mc_draws": 1000},
}
RATE = 0.5  # on each dropped layer, as Krizhevsky et al. (2012) and Srivastava et al. (2014) use
TRAINING = ((), (-2,), (-2, -1))  # which of the last two layers drop units, by position


def compute(ctx) -> Outcome:
    """Monte Carlo against the closed form on the trained network, then the three training runs."""
    z = ctx.sizes
    spec = ctx.spec.with_options(shared=True)
    names = [layer.name for layer in spec.layers]
    sets = common.exam_data(ctx, z["train_images"], z["test_images"])
    runs, nets = {}, {}
    for which in TRAINING:
        rates = {names[k]: RATE for k in which}
        label = "+".join(rates) or "none"
        nets[label] = common.network(spec, ctx.seed, dropout=rates)
        runs[label] = common.train_run(ctx, f"training, dropout {label}", nets[label], sets, steps=z["steps"],
                                       opt=common.momentum(), eval_pairs=z["eval_pairs"])
        runs[label]["dropout"] = rates
        runs[label]["embedding_sq_norm"] = _sq_norm(nets[label], sets[2][:256])
    images = sets[2][: z["mc_images"]]
    mc = {}
    settings = {names[-2]: (RATE, 0.0), names[-1]: (0.0, RATE), f"{names[-2]}+{names[-1]}": (RATE, RATE)}
    with ctx.bar("Monte Carlo over masks", len(settings)) as bar:
        for label, (p5, p6) in settings.items():
            mc[label] = _monte_carlo(nets["none"], spec, images, p5, p6, z["mc_draws"], ctx.seed)
            bar.update(1)
    held = {k: r["held_out"] for k, r in runs.items()}
    conclusion = {
        "closed_form_mean_D": {k: v["closed_form_mean"] for k, v in mc.items()},
        "closed_form_first_image": {k: v["images"][0]["closed_form"] for k, v in mc.items()},
        "sq_norm_first_image": mc[names[-1]]["images"][0]["sq_norm_z"],
        "monte_carlo_mean_D": {k: v["monte_carlo_mean"] for k, v in mc.items()},
        "max_z_score": max(v["max_abs_z"] for v in mc.values()),
        "max_relative_error": max(v["max_relative_error"] for v in mc.values()),
        "held_out_accuracy": {k: h["accuracy"] for k, h in held.items()},
        "mean_D_same": {k: h["mean_D_same"] for k, h in held.items()},
        "mean_D_different": {k: h["mean_D_different"] for k, h in held.items()},
        "embedding_sq_norm": {k: r["embedding_sq_norm"] for k, r in runs.items()},
        "rate": RATE, "layers": names[-2:], "seed": ctx.seed, "steps": z["steps"], "eval_pairs": z["eval_pairs"],
        "mc_images": z["mc_images"], "mc_draws": z["mc_draws"], "data": ctx.data.label(),
    }
    numbers = {"recipe": common.RECIPE, "tied": True, "monte_carlo": mc, "runs": runs}
    return Outcome(numbers, conclusion, {"dropout": lambda lang: _figure(mc, runs, lang)})


def _head(net, spec, p5: float, p6: float):
    """The last two layers as a network of their own, sharing the trained weights, with dropout."""
    from derive.engine.network import Network

    shapes = [tuple(spec.input)] + spec.shapes()
    entry = shapes[-3]
    entry = entry if len(entry) == 3 else (1, 1, int(np.prod(entry)))
    head_spec = dataclasses.replace(spec, input=entry, layers=spec.layers[-2:])
    names = [layer.name for layer in head_spec.layers]
    rates = {name: p for name, p in zip(names, (p5, p6)) if p}
    head = Network(head_spec, dtype=net.dtype, seed=net.seed + 1, dropout=rates)
    for key in head.params:
        head.params[key] = net.params[key].copy()
    return head


def _monte_carlo(net, spec, images, p5: float, p6: float, draws: int, seed: int) -> dict:
    """D between the branches for each image repeated ``draws`` times, against the closed form."""
    h = images  # a branch of two layers is all top: the head starts at the image
    if len(spec.layers) > 2:
        h = net.forward(images, images, np.zeros(len(images), np.int64)).out[0][spec.layers[-3].name]
    head = _head(net, spec, p5, p6)
    head.rng = np.random.default_rng([seed, 11])
    h = h.reshape((len(h),) + tuple(head.spec.input))
    last, before = head.spec.layers[-1].name, head.spec.layers[-2].name
    rows, first = [], None
    for x in h:
        rep = np.repeat(x[None], draws, axis=0)
        D = head.forward(rep, rep, np.zeros(draws, np.int64), train=True).D.astype(np.float64)
        first = D if first is None else first
        clean = head.forward(x[None], x[None], np.zeros(1, np.int64))
        a = clean.s[0][before].reshape(-1).astype(np.float64)
        zvec = clean.out[0][last].reshape(-1).astype(np.float64)
        W = head.params[last + ".W"].astype(np.float64)
        expected = _closed_form(a, zvec, W, p5, p6)
        sem = D.std(ddof=1) / np.sqrt(draws)
        rows.append({"closed_form": expected, "monte_carlo": float(D.mean()), "sem": float(sem),
                     "z": _z_score(float(D.mean()), expected, float(sem)),
                     "sq_norm_z": float(zvec @ zvec), "quantiles": np.quantile(D, [0.05, 0.5, 0.95]).tolist()})
    return {"p5": p5, "p6": p6, "images": rows, "draws": draws,
            "closed_form_mean": float(np.mean([r["closed_form"] for r in rows])),
            "monte_carlo_mean": float(np.mean([r["monte_carlo"] for r in rows])),
            "max_abs_z": float(max(abs(r["z"]) for r in rows)),
            "max_relative_error": max((_relative(r["monte_carlo"], r["closed_form"]) for r in rows), default=0.0),
            "first_image_D": np.sort(first)}


# Every mask draw gives the same D when no unit the masks touch is active (a small ReLU layer dead on
# an image): the standard error is 0 and the means must then agree to rounding.
MISMATCH_Z = 1e9


def _z_score(mean: float, expected: float, sem: float) -> float:
    """How many standard errors the Monte Carlo mean lies from the closed form (a constant D: 0 or MISMATCH_Z)."""
    if sem > 0:
        return (mean - expected) / sem
    return 0.0 if np.isclose(mean, expected, rtol=1e-6, atol=1e-12) else MISMATCH_Z


def _relative(mean: float, expected: float) -> float:
    """|mean − expected| / expected; when the closed form is 0 (no spread at all), the absolute gap."""
    gap = abs(mean - expected)
    return gap / abs(expected) if expected else gap


def _closed_form(a, z, W, p5: float, p6: float) -> float:
    """E[D] for identical inputs: (‖z‖² + p5/(1−p5)·Σ_jk W_jk² a_j²)/(1 − p6) − ‖z‖²."""
    zz = float(z @ z)
    spread = p5 / (1 - p5) * float((a * a) @ (W * W).sum(axis=1)) if p5 else 0.0
    return (zz + spread) / (1 - p6) - zz


def _sq_norm(net, images) -> float:
    e = net.embed(images, 0).reshape(len(images), -1).astype(np.float64)
    return float(np.mean(np.sum(e * e, axis=1)))


WORDS = {
    "en": {"margin": "the hinge's margin, D = 1", "draws": "D between the branches, one image, mask draws",
           "mc": "Monte Carlo mean vs closed form, per image", "closed": "closed form E[D]",
           "loss": "training loss (moving average of 10 steps)", "step": "training step", "dropout": "dropout: {}",
           "none": "none"},
    "fr": {"margin": "marge de la charnière, D = 1", "draws": "D entre les branches, une image, tirages de masques",
           "mc": "moyenne de Monte-Carlo et formule exacte, par image", "closed": "formule exacte E[D]",
           "loss": "perte d'entraînement (moyenne glissante sur 10 pas)", "step": "pas d'entraînement",
           "dropout": "dropout : {}", "none": "aucun"},
}


def _figure(mc, runs, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(12, 3.6, 1, 3)
    ax = axes[0, 0]
    for colour, (label, m) in zip(("C0", "C1", "C2"), mc.items()):
        expected = m["images"][0]["closed_form"]
        ax.hist(np.asarray(m["first_image_D"]), bins=60, histtype="step", density=True, color=colour,
                label=f"{label}{' :' if lang == 'fr' else ':'} E[D] = {prose.num(expected, lang)}")
        ax.axvline(expected, ls="--", lw=0.8, color=colour)
    ax.axvline(1.0, color="black", lw=0.8, label=words["margin"])
    ax.set_title(words["draws"], fontsize=9)
    ax.set_xlabel("D")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for label, m in mc.items():
        cf = [r["closed_form"] for r in m["images"]]
        ax.plot(cf, [r["monte_carlo"] for r in m["images"]], "o", ms=4, label=label)
    lim = ax.get_xlim()
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set_title(words["mc"], fontsize=9)
    ax.set_xlabel(words["closed"])
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    for label, run in runs.items():
        name = words["none"] if label == "none" else label
        ax.plot(common.smooth(run["loss"], 10), label=words["dropout"].format(name))
    ax.set_title(words["loss"], fontsize=9)
    ax.set_xlabel(words["step"])
    ax.legend(fontsize=7)
    return fig


def summary(c) -> str:
    """One line: closed form vs Monte Carlo, and the held-out accuracy with and without dropout."""
    cf, mcm = c["closed_form_mean_D"], c["monte_carlo_mean_D"]
    checks = ", ".join(f"{k} {cf[k]:.4g}/{mcm[k]:.4g}" for k in cf)
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in c["held_out_accuracy"].items())
    return (f"identical inputs, rate {c['rate']}: E[D] closed form / Monte Carlo: {checks} (max |z| "
            f"{c['max_z_score']:.2f}); held-out accuracy by dropped layers: {accuracy} "
            f"(seed {c['seed']}, {c['steps']} steps)")
