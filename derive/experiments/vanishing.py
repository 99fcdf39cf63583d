"""Exercise 2, Q4: how the gradient fades through about 20 layers at initialisation, and each remedy.

A plain MLP on grey 32x32 Shapeset images (softmax, negative log-likelihood), all at initialisation:
sigmoid and tanh with the standard U[-1/sqrt(n), 1/sqrt(n)] initialisation, then ReLU with He's
initialisation (He et al. 2015), batch normalisation (Ioffe & Szegedy 2015), residual connections
(He et al. 2016) and, beside them, Glorot's normalized initialisation (Glorot & Bengio 2010).
"""

from __future__ import annotations

import numpy as np

from derive.experiments import common, mlp
from derive.experiments.runner import Outcome

QUESTION = "Ex. 2 Q4"
TITLE = "Vanishing gradients through about 20 layers at initialisation, and the remedies"
NEEDS = frozenset()
SIZES = {
    "quick": {"hidden_layers": 20, "width": 128, "examples": 64},
    "full": {"hidden_layers": 20, "width": 256, "examples": 256},
}
# name -> (activation, initialisation, batch norm, residual, role)
CONFIGS = {
    "sigmoid_standard": ("sigmoid", "glorot_standard", False, False, "problem"),
    "tanh_standard": ("tanh", "glorot_standard", False, False, "problem"),
    "relu_standard": ("relu", "glorot_standard", False, False, "control"),
    "relu_he": ("relu", "he", False, False, "remedy"),
    "tanh_normalized": ("tanh", "glorot_normalized", False, False, "remedy"),
    "sigmoid_batchnorm": ("sigmoid", "glorot_standard", True, False, "remedy"),
    "tanh_batchnorm": ("tanh", "glorot_standard", True, False, "remedy"),
    "sigmoid_residual": ("sigmoid", "glorot_standard", False, True, "remedy"),
    "tanh_residual": ("tanh", "glorot_standard", False, True, "remedy"),
}


def compute(ctx) -> Outcome:
    """For each configuration, the RMS of dC/do and dC/dW per hidden layer and their first/last ratios."""
    z = ctx.sizes
    x, y, k = common.grey_images(z["examples"], ctx.seed)
    sizes = [x.shape[1]] + [z["width"]] * z["hidden_layers"] + [k]
    configs = {}
    with ctx.bar("configurations", len(CONFIGS)) as bar:
        for name, (act, init, bn, res, role) in CONFIGS.items():
            # The same weights draw for every configuration sharing an initialisation.
            net = mlp.build(sizes, act, init, ctx.rng(2, _INIT_STREAM[init]), batchnorm=bn, residual=res)
            trace = mlp.backprop(net, x, y)
            back = [_rms(g) for g in trace.grad_pre]
            weight = [_rms(g) for g in trace.grad_W[:-1]]
            configs[name] = {"activation": act, "init": init, "batchnorm": bn, "residual": res, "role": role,
                             "backprop_rms": back, "weight_grad_rms": weight,
                             "activation_rms": [_rms(a) for a in trace.post],
                             "backprop_ratio_first_last": back[0] / back[-1],
                             "weight_grad_ratio_first_last": weight[0] / weight[-1]}
            bar.update(1)
    numbers = {"layer_sizes": sizes, "classes": k, "configs": configs}
    conclusion = {
        "weight_grad_ratio_first_last": {n: c["weight_grad_ratio_first_last"] for n, c in configs.items()},
        "backprop_ratio_first_last": {n: c["backprop_ratio_first_last"] for n, c in configs.items()},
        "last_activation_rms": {n: c["activation_rms"][-1] for n, c in configs.items()},
        "first_weight_grad_rms": {n: c["weight_grad_rms"][0] for n, c in configs.items()},
        "configurations": {n: {k: c[k] for k in ("activation", "init", "batchnorm", "residual", "role")}
                           for n, c in configs.items()},
        "seed": ctx.seed, "hidden_layers": z["hidden_layers"], "width": z["width"], "examples": z["examples"],
    }
    return Outcome(numbers, conclusion, {"vanishing": lambda lang: _figure(configs, z["hidden_layers"], lang)})


_INIT_STREAM = {"glorot_standard": 0, "glorot_normalized": 1, "he": 2}


def _rms(g) -> float:
    return float(np.sqrt(np.mean(np.square(g))))


WORDS = {
    "en": {"backprop_rms": "back-propagated gradient: RMS of ∂C/∂o",
           "weight_grad_rms": "weight gradient: RMS of ∂C/∂W",
           "activation_rms": "forward signal: RMS of the activations", "layer": "hidden layer (1 = next to the input)"},
    "fr": {"backprop_rms": "gradient rétropropagé : RMS de ∂C/∂o",
           "weight_grad_rms": "gradient des poids : RMS de ∂C/∂W",
           "activation_rms": "signal direct : RMS des activations", "layer": "couche cachée (1 = près de l'entrée)"},
}
NAMES = {
    "en": {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "standard": "standard init.",
           "normalized": "normalised init.", "he": "He init.", "batchnorm": "+ batch norm.", "residual": "+ residual"},
    "fr": {"sigmoid": "sigmoïde", "tanh": "tanh", "relu": "ReLU", "standard": "init. standard",
           "normalized": "init. normalisée", "he": "init. de He", "batchnorm": "+ norm. par lots",
           "residual": "+ résiduel"},
}


def label(name: str, lang: str) -> str:
    """A configuration's name in one language: "tanh_batchnorm" -> "tanh + batch norm."."""
    return " ".join(NAMES[lang][part] for part in name.split("_"))


def _figure(configs, depth: int, lang: str):
    fig, axes = common.figure(13, 4.4, 1, 3, sharey=False)
    layers = np.arange(1, depth + 1)
    styles = {"problem": "-", "control": ":", "remedy": "--"}
    for ax, key in zip(axes[0], ("backprop_rms", "weight_grad_rms", "activation_rms")):
        for name, c in configs.items():
            ax.semilogy(layers, c[key], styles[c["role"]], marker="o", ms=2.5, lw=1.2, label=label(name, lang))
        ax.set_xlabel(WORDS[lang]["layer"])
        ax.set_title(WORDS[lang][key], fontsize=10)
        ax.set_xticks(layers[::2] if depth > 10 else layers)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    return fig


def summary(c) -> str:
    """One line: the first/last ratio of back-propagated gradients for each configuration."""
    parts = ", ".join(f"{n} {c['backprop_ratio_first_last'][n]:.2g}" for n in CONFIGS)
    return f"RMS dC/do layer 1 / layer {c['hidden_layers']}: {parts} (seed {c['seed']}, width {c['width']})"
