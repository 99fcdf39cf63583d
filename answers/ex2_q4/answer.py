"""Exercise 2, Q4: four remedies for vanishing gradients; the "vanishing" experiment's every configuration."""

from __future__ import annotations

import math

from derive.experiments.vanishing import label
from derive.sheet.units import claim

ID = "ex2.q4"
VANISHED = 1e-4    # a first/last ratio below this: the gradient has vanished
KEPT = 1e-2        # above this: the decay is stopped
FACTOR = 3.0       # a measurement "matches" the linear-regime prediction within this factor
# Linear regime: each layer multiplies the back-propagated standard deviation by sqrt(n Var(w) E[f'^2]).
PER_LAYER = {("sigmoid", "glorot_standard"): math.sqrt(1 / 3 / 16), ("tanh", "glorot_standard"): math.sqrt(1 / 3),
             ("relu", "glorot_standard"): math.sqrt(1 / 3 / 2), ("relu", "he"): 1.0,
             ("tanh", "glorot_normalized"): 1.0}


def solve(inputs) -> dict:
    """Every configuration the experiment ran, with its linear-regime prediction where one exists."""
    c = inputs.experiment("vanishing").conclusion
    ratios, configs = c["backprop_ratio_first_last"], c["configurations"]
    rows = []
    for name, cfg in configs.items():
        factor = PER_LAYER.get((cfg["activation"], cfg["init"])) if not (cfg["batchnorm"] or cfg["residual"]) else None
        rows.append({"key": name, "role": cfg["role"], "label": {lang: label(name, lang) for lang in ("fr", "en")},
                     "ratio": ratios[name], "weights": c["weight_grad_ratio_first_last"][name],
                     "predicted": None if factor is None else factor ** (c["hidden_layers"] - 1)})
    return {"c": c, "rows": rows, "ratio": ratios, "figs": inputs.experiment_figures("vanishing")}


def claims(ctx) -> list:
    """The standard configurations vanish as predicted; ReLU needs its initialisation; the remedies stop the decay."""
    r = ctx["ratio"]
    predicted = {row["key"]: row["predicted"] for row in ctx["rows"] if row["predicted"] is not None}
    remedies = [row for row in ctx["rows"] if row["role"] == "remedy"]
    return [
        claim(ID, "standard_vanishes", {"fr": "avec l'initialisation standard, sigmoïde et tanh perdent le gradient",
                                        "en": "with the standard initialisation, sigmoid and tanh lose the gradient"},
              f"sigmoid < {VANISHED} and tanh < {VANISHED}", sigmoid=r["sigmoid_standard"], tanh=r["tanh_standard"]),
        claim(ID, "relu_needs_init", {"fr": "ReLU avec l'initialisation standard perd aussi le gradient",
                                      "en": "ReLU with the standard initialisation loses the gradient too"},
              f"relu_standard < {VANISHED} and relu_he > {KEPT}", relu_standard=r["relu_standard"],
              relu_he=r["relu_he"]),
        claim(ID, "linear_regime", {"fr": "sans normalisation ni raccourci, le rapport suit le produit des facteurs par couche",
                                    "en": "without normalisation or shortcut, the ratio follows the product of per-layer factors"},
              f"worst_factor < {FACTOR}",
              worst_factor=max(max(r[k] / p, p / r[k]) for k, p in predicted.items())),
        claim(ID, "remedies_stop_decay", {"fr": "chaque remède arrête la décroissance exponentielle",
                                          "en": "every remedy stops the exponential decay"},
              f"smallest_remedy > {KEPT}", smallest_remedy=min(row["ratio"] for row in remedies)),
        claim(ID, "not_all_one", {"fr": "avec tanh, normalisation par lots et raccourcis rendent le premier gradient plus grand",
                                  "en": "with tanh, batch normalisation and shortcuts make the first gradient larger"},
              "tanh_batchnorm > 5 and tanh_residual > 5", tanh_batchnorm=r.get("tanh_batchnorm", 0),
              tanh_residual=r.get("tanh_residual", 0)),
    ]
