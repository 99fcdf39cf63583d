"""Exercise 1, Q7: is the KL sparsity term defined on layer L6, whose activation is the identity?

KL(ρ‖ρ̂) needs ρ̂ in (0, 1). Read literally, ρ̂_g is the batch mean of s6_g itself, and a linear unit
has no reason to stay in (0, 1); read through a sigmoid, ρ̂_g = mean of σ(s6_g) always lies in (0, 1).
On real batches, at initialisation and through training, the experiment counts how often each
reading leaves (0, 1), then trains with the KL term under each reading.
"""

from __future__ import annotations

import numpy as np

from derive.errors import DeriveError
from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 1 Q7"
TITLE = "How often the batch mean ρ̂ of L6 leaves (0, 1): literal vs sigmoid reading"
NEEDS = frozenset({"spec", "data"})
SIZES = {
    "quick": {"steps": 10, "every": 5, "batches": 8, "train_images": 400, "test_images": 200, "eval_pairs": 200},
    "full": {"steps": 80, "every": 20, "batches": 20, "train_images": 5000, "test_images": 1000,
             "eval_pairs": 500},
}
RHO, BETA = 0.1, 1e-3  # the exam's sparsity target; the tool's default weight of the term


def compute(ctx) -> Outcome:
    """Probe ρ̂ under both readings through plain training, then train with the KL term in each reading."""
    from derive.engine.network import KL

    z = ctx.sizes
    spec = ctx.spec.with_options(shared=True)
    dense = [layer.name for layer in spec.layers if layer.type == "dense"]
    last = spec.layers[-1].name
    sets = common.exam_data(ctx, z["train_images"], z["test_images"])
    probe = _prober(sets[0], dense, z["batches"], ctx.rng(12))
    net = common.network(spec, ctx.seed)
    plain = common.train_run(ctx, "training without KL", net, sets, steps=z["steps"], opt=common.momentum(),
                             every=z["every"], probe=probe, eval_pairs=z["eval_pairs"])
    with_kl = {}
    for reading in ("literal", "sigmoid"):
        kl_net = common.network(spec, ctx.seed, kl=KL(layer=last, rho=RHO, beta=BETA, reading=reading))
        try:
            run = common.train_run(ctx, f"training with KL ({reading})", kl_net, sets, steps=z["steps"],
                                   opt=common.momentum(), every=z["steps"], probe=probe,
                                   eval_pairs=z["eval_pairs"])
            with_kl[reading] = {"completed": True, "failure": None, "checkpoints": run["checkpoints"],
                                "held_out": run["held_out"], "loss_last": run["loss"][-1]}
        except DeriveError as exc:
            with_kl[reading] = {"completed": False, "failure": str(exc), "failed_at_step": _step_of(str(exc))}
    checks = plain["checkpoints"]
    conclusion = {
        "layer": last, "batch": common.RECIPE["batch"], "batches_per_checkpoint": z["batches"],
        # keyed by the checkpoint's step (a string, as JSON keys are)
        "checkpoint_steps": [c["step"] for c in checks],
        "literal_undefined_batch_share": _by_step(checks, last, "literal_undefined_batch_share"),
        "literal_unit_share_outside": _by_step(checks, last, "literal_unit_share_outside"),
        "sigmoid_undefined_batch_share": _by_step(checks, last, "sigmoid_undefined_batch_share"),
        "literal_training_completed": with_kl["literal"]["completed"],
        "literal_training_failed_at_step": with_kl["literal"].get("failed_at_step"),
        "sigmoid_training_completed": with_kl["sigmoid"]["completed"],
        "rho": RHO, "beta": BETA, "seed": ctx.seed, "steps": z["steps"], "data": ctx.data.label(),
    }
    numbers = {"recipe": common.RECIPE, "tied": True, "probed_layers": dense, "plain": plain, "with_kl": with_kl}
    return Outcome(numbers, conclusion, {"sparsity": lambda lang: _figure(checks, last, lang)})


def _prober(images, layers, batches: int, rng):
    """(net, step) -> for each layer, the share of batches/units whose ρ̂ leaves (0, 1) in each reading."""
    m = common.RECIPE["batch"]
    pick = rng.choice(len(images), size=batches * m, replace=False)
    x = images[pick]

    def probe(net, step: int) -> dict:
        acts = {name: [] for name in layers}
        for k in range(batches):  # one batch at a time: a forward pass keeps every layer's tensors
            chunk = x[k * m:(k + 1) * m]
            cache = net.forward(chunk, chunk, np.zeros(m, np.int64))
            for name in layers:
                acts[name].append(cache.s[0][name].reshape(m, -1).astype(np.float64))
        out = {}
        for name in layers:
            s = np.stack(acts[name])
            literal = s.mean(axis=1)
            sigmoid = (0.5 * (1 + np.tanh(0.5 * s))).mean(axis=1)
            outside_l = (literal <= 0) | (literal >= 1)
            outside_s = (sigmoid <= 0) | (sigmoid >= 1)
            out[name] = {
                "literal_undefined_batch_share": float(outside_l.any(axis=1).mean()),
                "literal_unit_share_outside": float(outside_l.mean()),
                "literal_below_0_share": float((literal <= 0).mean()),
                "literal_above_1_share": float((literal >= 1).mean()),
                "sigmoid_undefined_batch_share": float(outside_s.any(axis=1).mean()),
                "literal_rho_hat_range": [float(literal.min()), float(literal.max())],
                "sigmoid_rho_hat_range": [float(sigmoid.min()), float(sigmoid.max())],
                "literal_rho_hat_first_batch": literal[0],
            }
        return {"step": step, "layers": out}

    return probe


def _by_step(checks, layer: str, key: str) -> dict:
    return {str(c["step"]): c["layers"][layer][key] for c in checks}


def _step_of(message: str):
    head = message.split(":", 1)[0]
    return int(head.split()[1]) if head.startswith("step ") and head.split()[1].isdigit() else None


WORDS = {
    "en": {"step": "step {step}", "title": "literal ρ̂ of the {n} units of {layer}, one batch", "unit": "unit (sorted)",
           "batches": "literal: batches with some ρ̂ outside (0, 1)", "units": "literal: units outside (0, 1)",
           "sigmoid": "sigmoid reading: batches outside (0, 1)", "training": "training step",
           "through": "share undefined through training (no penalty)", "interval": "(0, 1)"},
    "fr": {"step": "pas {step}", "title": "ρ̂ littéral des {n} neurones de {layer}, un lot",
           "unit": "neurone (trié)", "batches": "littérale : lots où un ρ̂ sort de ]0, 1[",
           "units": "littérale : neurones hors de ]0, 1[", "sigmoid": "sigmoïde : lots hors de ]0, 1[",
           "training": "pas d'entraînement", "through": "part non définie pendant l'entraînement (sans pénalité)",
           "interval": "]0, 1["},
}


def _figure(checks, layer: str, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(10, 3.6, 1, 2)
    ax = axes[0, 0]
    first, last = checks[0], checks[-1]
    for c, style in ((first, "o"), (last, "s")):
        values = np.sort(np.asarray(c["layers"][layer]["literal_rho_hat_first_batch"]))
        ax.plot(values, style, ms=4, label=words["step"].format(step=c["step"]))
    ax.axhspan(0, 1, color="green", alpha=0.12, label=words["interval"])
    ax.set_title(words["title"].format(n=len(values), layer=layer), fontsize=9)
    ax.set_xlabel(words["unit"])
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    steps = [c["step"] for c in checks]
    ax.plot(steps, [c["layers"][layer]["literal_undefined_batch_share"] for c in checks], "o-",
            label=words["batches"])
    ax.plot(steps, [c["layers"][layer]["literal_unit_share_outside"] for c in checks], "s-", label=words["units"])
    ax.plot(steps, [c["layers"][layer]["sigmoid_undefined_batch_share"] for c in checks], "^-",
            label=words["sigmoid"])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(words["training"])
    ax.set_title(words["through"], fontsize=9)
    ax.legend(fontsize=7, loc="center right")
    return fig


def summary(c) -> str:
    """One line: the share of batches on which the literal reading is undefined, and the training outcome."""
    lit = c["literal_undefined_batch_share"]
    failed = c["literal_training_failed_at_step"]
    sigmoid = max(c["sigmoid_undefined_batch_share"].values())
    return (f"{c['layer']}, batches of {c['batch']}: literal ρ̂ undefined on "
            f"{', '.join(f'{lit[str(k)]:.0%} (step {k})' for k in c['checkpoint_steps'])} of batches; sigmoid "
            f"reading on {sigmoid:.0%} at most; training with the literal reading "
            f"{'completed' if c['literal_training_completed'] else f'stopped at step {failed}'}, with the sigmoid "
            f"reading {'completed' if c['sigmoid_training_completed'] else 'stopped'} (seed {c['seed']})")
