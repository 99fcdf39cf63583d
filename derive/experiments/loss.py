"""Exercise 1, Q5: what each term of the pair loss does, measured on the engine's own loss.

L = l·max(1 − D, 0) + (1 − l)·D with D = ½‖s6 − s6'‖². The experiment places embedding pairs
at chosen distances, reads the loss and its gradient from the engine, checks them against the
closed forms and finite differences, finds where the hinge stops acting, looks at coinciding
embeddings (in isolation and in a collapsed network), and counts same-label random pairs.
"""

from __future__ import annotations

import numpy as np

from derive.engine import layers
from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 1 Q5"
TITLE = "The pair loss and its gradient as functions of D"
NEEDS = frozenset({"spec", "data"})
SIZES = {
    "quick": {"grid": 51, "d_max": 2.5, "fd_points": 5, "images": 2000, "pairs": 20000, "collapse_pairs": 8},
    "full": {"grid": 251, "d_max": 2.5, "fd_points": 20, "images": 4000, "pairs": 200000, "collapse_pairs": 32},
}
FD_STEP = 1e-6


def compute(ctx) -> Outcome:
    """Loss curves, the hinge's boundary, coinciding embeddings and the share of same-label pairs."""
    z = ctx.sizes
    dim = int(np.prod(ctx.spec.shapes()[-1]))
    rng = ctx.rng(3)
    grid = np.linspace(0.0, z["d_max"], z["grid"])
    curves = {str(l): _curve(grid, l, dim, rng) for l in (0, 1)}
    # The closed forms are taken at the distance the engine measured: a pair placed at D = 1 may land a
    # rounding error below the kink, where the hinge still pushes.
    measured = {l: np.array(curves[l]["D_measured"]) for l in curves}
    closed = {"0": (measured["0"], np.sqrt(2 * measured["0"])),
              "1": (np.maximum(1 - measured["1"], 0), np.sqrt(2 * measured["1"]) * (measured["1"] < 1))}
    numbers = {
        "embedding_dim": dim,
        "grid_D": grid,
        "curves": curves,
        "max_error_vs_closed_form": max(
            max(np.max(np.abs(np.array(curves[l]["loss"]) - closed[l][0])),
                np.max(np.abs(np.array(curves[l]["grad_norm"]) - closed[l][1]))) for l in ("0", "1")),
        "finite_difference_max_rel_error": _fd_check(rng, dim, z["fd_points"]),
        "hinge_stop_D": _hinge_boundary(dim, rng),
        "coincide": _coincide(dim, rng),
        "collapsed_network": _collapsed(ctx, z["collapse_pairs"]),
        "pairs": _same_label_share(ctx, z["images"], z["pairs"]),
    }
    numbers["hinge_stop_distance"] = float(np.sqrt(2 * numbers["hinge_stop_D"]))
    c, p = numbers["coincide"], numbers["pairs"]
    conclusion = {
        "hinge_stop_D": numbers["hinge_stop_D"], "hinge_stop_distance": numbers["hinge_stop_distance"],
        "grad_norm_coincide_l1": c["grad_norm_l1"], "loss_coincide_l1": c["loss_l1"],
        "curvature_coincide_l1": c["curvature_l1"],
        "collapsed_network_max_grad": numbers["collapsed_network"]["max_abs_grad"],
        "same_label_share": p["monte_carlo"], "same_label_share_theory": p["sum_p_squared"],
        "classes": p["classes"], "one_over_K": p["one_over_K"],
        "max_error_vs_closed_form": numbers["max_error_vs_closed_form"],
        "seed": ctx.seed, "pairs": z["pairs"], "images": z["images"], "data": ctx.data.label(),
    }
    return Outcome(numbers, conclusion, {"loss": lambda lang: _figure(grid, curves, lang)})


def _pair_at(dim: int, D: float, rng):
    s6 = rng.standard_normal(dim)
    u = rng.standard_normal(dim)
    return s6, s6 + np.sqrt(2 * D) * u / np.linalg.norm(u)


def _engine(s6, s6p, l: int):
    loss, D, g, _ = layers.pair_loss(s6[None], s6p[None], np.array([l]))
    return float(loss), float(D[0]), g[0]


def _curve(grid, l: int, dim: int, rng) -> dict:
    losses, norms, measured = [], [], []
    for D in grid:
        loss, d, g = _engine(*_pair_at(dim, D, rng), l)
        losses.append(loss)
        norms.append(float(np.linalg.norm(g)))
        measured.append(d)
    return {"loss": losses, "grad_norm": norms, "D_measured": measured}


def _fd_check(rng, dim: int, points: int) -> float:
    """Worst relative error of the engine's dL/ds6 against central differences, away from D = 1."""
    worst = 0.0
    for D in np.linspace(0.05, 2.0, points):
        if abs(D - 1) < 0.02:
            continue
        s6, s6p = _pair_at(dim, D, rng)
        for l in (0, 1):
            g = _engine(s6, s6p, l)[2]
            fd = np.array([(_engine(s6 + FD_STEP * e, s6p, l)[0] - _engine(s6 - FD_STEP * e, s6p, l)[0]) / (2 * FD_STEP)
                           for e in np.eye(dim)])
            scale = max(np.linalg.norm(g), 1e-12)
            gap = np.linalg.norm(fd - g) / scale if np.linalg.norm(g) else np.linalg.norm(fd)
            worst = max(worst, float(gap))
    return worst


def _hinge_boundary(dim: int, rng, iterations: int = 60) -> float:
    """Bisection on D for the point where the engine's l = 1 gradient becomes exactly zero."""
    s6 = rng.standard_normal(dim)
    u = rng.standard_normal(dim)
    u /= np.linalg.norm(u)
    lo, hi = 0.0, 4.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        g = _engine(s6, s6 + np.sqrt(2 * mid) * u, 1)[2]
        lo, hi = (lo, mid) if not np.any(g) else (mid, hi)
    return float(hi)


def _coincide(dim: int, rng, eps: float = 1e-3) -> dict:
    """Loss and gradient at s6 = s6', and the curvature of the l = 1 loss around it."""
    s6 = rng.standard_normal(dim)
    out = {}
    for l in (0, 1):
        loss, _, g = _engine(s6, s6.copy(), l)
        out[f"loss_l{l}"], out[f"grad_norm_l{l}"] = loss, float(np.linalg.norm(g))
    u = rng.standard_normal(dim)
    moved = _engine(s6, s6 + eps * u / np.linalg.norm(u), 1)[0]
    out["loss_l1_at_eps"], out["eps"] = moved, eps
    out["curvature_l1"] = (moved - out["loss_l1"]) / (eps * eps / 2)  # d²L/d‖δ‖², -1 in theory
    return out


def _collapsed(ctx, n_pairs: int) -> dict:
    """A network whose last layer outputs zeros: every gradient of different-label pairs is zero."""
    from derive.engine.network import Network

    net = Network(ctx.spec, seed=ctx.seed)
    last = ctx.spec.layers[-1].name
    for key in list(net.params):
        if key.split(".")[0].rstrip("'") == last:
            net.params[key][...] = 0.0
    x, y = common.labelled_images(ctx.data, 4 * n_pairs, ctx.seed, shape=ctx.spec.input)
    from derive.engine import data

    i, j, l = data.pair_indices(y, n_pairs, same_share=0.0, rng=ctx.rng(4))
    cache = net.forward(x[i], x[j], l)
    grads = net.backward(cache)
    return {"pairs": n_pairs, "loss": float(cache.loss),
            "max_abs_grad": float(max(np.max(np.abs(g)) for g in grads.values())),
            "parameters": int(sum(g.size for g in grads.values()))}


def _same_label_share(ctx, n_images: int, n_pairs: int) -> dict:
    _, y = common.labelled_images(ctx.data, n_images, ctx.seed, shape=ctx.spec.input)
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    rng = ctx.rng(5)
    i, j = rng.integers(0, len(y), n_pairs), rng.integers(0, len(y), n_pairs)
    return {"classes": int(len(counts)), "one_over_K": 1 / len(counts), "sum_p_squared": float(np.sum(p * p)),
            "monte_carlo": float(np.mean(y[i] == y[j])), "images": n_images, "pairs": n_pairs}


WORDS = {
    "en": {"loss": "pair loss L", "same": "l = 0 (same label): D", "different": "l = 1 (different): max(1 − D, 0)",
           "distance": "Euclidean distance ‖s6 − s6'‖"},
    "fr": {"loss": "perte d'une paire L", "same": "l = 0 (même étiquette) : D",
           "different": "l = 1 (différentes) : max(1 − D, 0)", "distance": "distance euclidienne ‖s6 − s6'‖"},
}


def _figure(grid, curves, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(9.5, 3.8, 1, 2)
    for ax, key, what in ((axes[0, 0], "loss", words["loss"]), (axes[0, 1], "grad_norm", "‖∂L/∂s6‖")):
        ax.plot(grid, curves["0"][key], label=words["same"])
        ax.plot(grid, curves["1"][key], label=words["different"])
        ax.axvline(1.0, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("D = ½‖s6 − s6'‖²")
        ax.set_title(what, fontsize=10)
        top = ax.secondary_xaxis("top", functions=(lambda d: np.sqrt(2 * np.maximum(d, 0)), lambda e: e * e / 2))
        top.set_xticks([0.5, 1.0, np.sqrt(2), 2.0], ["0.5", "1", "√2", "2"])
        top.set_xlabel(words["distance"], fontsize=8)
    axes[0, 0].legend(fontsize=8)
    return fig


def summary(c) -> str:
    """One line: where the hinge stops, the gradient at coincidence, the same-label share."""
    return (f"hinge stops at D = {c['hinge_stop_D']:.6g} (distance {c['hinge_stop_distance']:.6g}); "
            f"coinciding different-label embeddings: loss {c['loss_coincide_l1']:g}, gradient norm "
            f"{c['grad_norm_coincide_l1']:g} (curvature {c['curvature_coincide_l1']:.3f}); collapsed network: "
            f"max |grad| {c['collapsed_network_max_grad']:g}; same-label random pairs {c['same_label_share']:.4f} "
            f"(Σp² {c['same_label_share_theory']:.4f}, 1/K {c['one_over_K']:.4f}; "
            f"seed {c['seed']}, {c['pairs']} pairs)")
