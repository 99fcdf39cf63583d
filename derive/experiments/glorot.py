"""Exercise 2, Q5: the back-propagated gradients of a deep tanh network at initialisation.

The setup of Glorot & Bengio (2010, section 4.2.2 and the figures of back-propagated and weight
gradients): 5 hidden tanh layers of 1000 units, softmax output, negative log-likelihood, grey 32x32
Shapeset-3x2 images, biases at 0, weights from the "standard" U[-1/sqrt(n), 1/sqrt(n)] or the
"normalized" U[-sqrt(6)/sqrt(n_j + n_{j+1}), +...] initialisation.
"""

from __future__ import annotations

import numpy as np

from derive.experiments import common, mlp
from derive.experiments.runner import Outcome

QUESTION = "Ex. 2 Q5"
TITLE = "Back-propagated gradients at initialisation: standard vs normalized initialisation"
NEEDS = frozenset()
SIZES = {
    "quick": {"hidden_layers": 5, "width": 1000, "examples": 200, "weight_batches": 2, "batch": 10, "bins": 81},
    "full": {"hidden_layers": 5, "width": 1000, "examples": 1000, "weight_batches": 4, "batch": 10, "bins": 101},
}
SCHEMES = ("glorot_standard", "glorot_normalized")
WORDS = {
    "en": {"glorot_standard": r"standard $U[-1/\sqrt{n},\ 1/\sqrt{n}]$",
           "glorot_normalized": r"normalised $U[\pm\sqrt{6}/\sqrt{n_j + n_{j+1}}]$",
           "layer": "layer {i}", "share": "share of values", "backprop": "back-propagated gradient ∂C/∂o (per example)",
           "weights": "weight gradient ∂C/∂W (mini-batch mean)"},
    "fr": {"glorot_standard": r"standard $U[-1/\sqrt{n},\ 1/\sqrt{n}]$",
           "glorot_normalized": r"normalisée $U[\pm\sqrt{6}/\sqrt{n_j + n_{j+1}}]$",
           "layer": "couche {i}", "share": "part des valeurs",
           "backprop": "gradient rétropropagé ∂C/∂o (pour un exemple et un neurone)",
           "weights": "gradient des poids ∂C/∂W (moyenne d'un mini-lot)"},
}


def compute(ctx) -> Outcome:
    """Measure, per hidden layer and initialisation, the spread of dC/do and of dC/dW."""
    z = ctx.sizes
    x, y, k = common.grey_images(z["examples"], ctx.seed)
    sizes = [x.shape[1]] + [z["width"]] * z["hidden_layers"] + [k]
    per_scheme, samples = {}, {}
    with ctx.bar("initialisations", len(SCHEMES)) as bar:
        for i, scheme in enumerate(SCHEMES):
            net = mlp.build(sizes, "tanh", scheme, ctx.rng(1, i))
            per_scheme[scheme], samples[scheme] = _measure(net, x, y, z)
            bar.update(1)
    numbers = {"layer_sizes": sizes, "classes": k, "schemes": per_scheme,
               "predicted_ratio": {s: _linear_theory(sizes, s) for s in SCHEMES}}
    conclusion = {
        "backprop_ratio_first_last": {s: per_scheme[s]["backprop_ratio_first_last"] for s in SCHEMES},
        "weight_grad_ratio_first_last": {s: per_scheme[s]["weight_grad_ratio_first_last"] for s in SCHEMES},
        "predicted_backprop_ratio": numbers["predicted_ratio"],
        "saturated_share_max": {s: max(per_scheme[s]["saturated_share"]) for s in SCHEMES},
        "weight_grad_std_first": {s: per_scheme[s]["weight_grad_std"][0] for s in SCHEMES},
        "seed": ctx.seed, "examples": z["examples"], "hidden_layers": z["hidden_layers"], "width": z["width"],
    }
    figures = {"glorot_backprop": lambda lang: _histograms(samples, "backprop", z["bins"], lang),
               "glorot_weights": lambda lang: _histograms(samples, "weights", z["bins"], lang)}
    return Outcome(numbers, conclusion, figures)


def _measure(net, x, y, z):
    n = x.shape[0]
    trace = mlp.backprop(net, x, y)
    # Per-example gradients: the mean cost divides each row by n.
    backprop = [g * n for g in trace.grad_pre]
    weight = _weight_gradients(net, x, y, z["batch"], z["weight_batches"])
    bstd = [float(g.std()) for g in backprop]
    slopes = [float(np.mean((1.0 - s * s) ** 2)) for s in trace.post]
    wstd = [float(np.sqrt(np.mean([np.mean(np.square(g, dtype=np.float64)) for g in layer]))) for layer in weight]
    record = {
        "backprop_std": bstd,
        "weight_grad_std": wstd,
        "activation_std": [float(s.std()) for s in trace.post],
        "saturated_share": [float(np.mean(np.abs(s) > 0.9)) for s in trace.post],
        "mean_squared_slope": slopes,
        "predicted_ratio_with_slopes": _predicted(net, slopes),
        "backprop_ratio_first_last": bstd[0] / bstd[-1],
        "weight_grad_ratio_first_last": wstd[0] / wstd[-1],
    }
    # float32 copies are plenty for histograms and halve the memory of millions of weight gradients
    return record, {"backprop": backprop,
                    "weights": [np.concatenate([g.ravel().astype(np.float32) for g in layer]) for layer in weight]}


def _weight_gradients(net, x, y, batch: int, batches: int):
    """dC/dW of the hidden layers for successive mini-batches (the cost is the mini-batch mean)."""
    out = [[] for _ in range(len(net.W) - 1)]
    for j in range(batches):
        rows = slice(j * batch, (j + 1) * batch)
        trace = mlp.backprop(net, x[rows], y[rows])
        for i in range(len(out)):
            out[i].append(trace.grad_W[i].astype(np.float32))
    return out


def _linear_theory(sizes, scheme: str) -> float:
    """First/last ratio of back-propagated std if tanh were linear: prod sqrt(n_out Var W) over W_2..W_H."""
    ratio = 1.0
    for n_in, n_out in zip(sizes[1:-2], sizes[2:-1]):
        var = 1.0 / (3 * n_in) if scheme == "glorot_standard" else 2.0 / (n_in + n_out)
        ratio *= np.sqrt(n_out * var)
    return float(ratio)


def _predicted(net, slopes) -> float:
    """The same product with the drawn weights and each layer's measured mean of tanh'(o)^2."""
    ratio = 1.0
    for i in range(1, len(net.W) - 1):
        # dC/do_i = tanh'(o_i) * (dC/do_{i+1} W_{i+1}^T): variance factor sum_k W_jk^2 * E[tanh'^2].
        ratio *= np.sqrt(float(np.mean(np.sum(net.W[i] ** 2, axis=1))) * slopes[i - 1])
    return float(ratio)


def _histograms(samples, kind: str, bins: int, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(7.5, 5.4, 2, 1)
    for ax, scheme in zip(axes[:, 0], SCHEMES):
        # Each row on its own range (as in the paper), common to its layers so they compare.
        spread = max(float(np.std(g)) for g in samples[scheme][kind])
        edges = np.linspace(-4 * spread, 4 * spread, bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        for i, g in enumerate(samples[scheme][kind], 1):
            counts, _ = np.histogram(g, edges)
            ax.plot(centres, counts / g.size, label=words["layer"].format(i=i), lw=1.2)
        ax.set_title(f"tanh, {words[scheme]}", fontsize=10)
        ax.set_ylabel(words["share"])
        ax.ticklabel_format(axis="x", useOffset=False)
    # One legend beside the panels, where it hides no curve (the layers have the same colours in both).
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel(words[kind])
    return fig


def summary(c) -> str:
    """One line: the first/last hidden-layer ratios of back-propagated gradient spread."""
    b = c["backprop_ratio_first_last"]
    w = c["weight_grad_ratio_first_last"]
    return (f"std(dC/do) layer 1 / layer {c['hidden_layers']}: standard {b['glorot_standard']:.3f} "
            f"(linear theory {c['predicted_backprop_ratio']['glorot_standard']:.3f}), normalized "
            f"{b['glorot_normalized']:.3f}; weight gradients: {w['glorot_standard']:.3f} vs "
            f"{w['glorot_normalized']:.3f} (seed {c['seed']}, {c['examples']} images)")
