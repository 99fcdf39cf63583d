"""Exercise 2, Q6: weight decay and momentum in AlexNet's rule, from the "alexnet" experiment."""

from __future__ import annotations

from derive.prose import fixed
from derive.sheet.units import Check, localised

SAME = 1e-12  # two float64 implementations of one recurrence agree to rounding
CLEARLY = 0.95  # momentum counts as faster when its final loss is below this share of plain SGD's
DIFFERENT = 1e-6  # the wrong coefficient must visibly change the trajectory


def solve(inputs) -> dict:
    """The replay's gaps and the four training runs' final loss, weight-norm growth and accuracy."""
    c = inputs.experiment("alexnet").conclusion
    loss, norm = c["loss_last"], c["weight_norm_ratio"]
    return {
        "c": c, "figs": inputs.experiment_figures("alexnet"),
        "momentum_faster": loss["momentum"] < CLEARLY * loss["sgd"],
        "decay_smaller": norm["alexnet"] < norm["momentum"] and norm["weight_decay"] < norm["sgd"],
        "effective": 1 / (1 - c["momentum"]),
    }


def check(ctx) -> list:
    """AlexNet's rule = heavy-ball momentum on L + (λ/2)‖w‖² (and PyTorch's SGD); λ‖w‖² would differ."""
    c = ctx["c"]
    torch_gap = c["max_relative_gap_torch_sgd"]
    return [
        Check({"fr": "règle d'AlexNet = moment sur $L + \\tfrac{\\lambda}{2}\\lVert w \\rVert^2$, pas à pas (float64)",
               "en": "AlexNet's rule = momentum on $L + \\tfrac{\\lambda}{2}\\lVert w \\rVert^2$, step by step (float64)"},
              c["max_relative_gap_momentum_on_regularised_loss"] < SAME
              and (torch_gap is None or torch_gap < SAME),
              localised(lambda lang: {"fr": "{} pas, écart maximal {}", "en": "{} steps, max gap {}"}[lang].format(
                  c['replay_steps'], fixed(c['max_relative_gap_momentum_on_regularised_loss'], '.1e', lang)))),
        Check({"fr": "avec $\\lambda \\lVert w \\rVert^2$ au lieu de $\\tfrac{\\lambda}{2}\\lVert w \\rVert^2$, les trajectoires diffèrent",
               "en": "with $\\lambda \\lVert w \\rVert^2$ instead of $\\tfrac{\\lambda}{2}\\lVert w \\rVert^2$ the trajectories differ"},
              c["max_relative_gap_wrong_coefficient"] > DIFFERENT, localised(lambda lang: fixed(c['max_relative_gap_wrong_coefficient'], '.1e', lang))),
    ]
