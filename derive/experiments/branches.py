"""Exercise 1, Q4: what becomes of the weights of L2 and L'2 (and of every layer pair) in training.

Three runs on the same (balanced) pairs at one learning rate: untied weights drawn independently,
tied weights (a siamese network, both branches one function), and untied weights from
the same draw. Through training: the raw relative distance between the weights of each layer pair,
that distance once the channels are matched one-to-one by activation correlation (Hungarian
matching, as Li, Yosinski et al. 2016, "Convergent learning", match units across networks), and
how well the two branches agree on the same held-out images.

The runs use a fifth of the shared recipe's learning rate: at the full rate, untied branches from
independent draws do not leave the plateau of constant outputs within this number of steps.
Tied branches have no offset between them (D(x, x) = 0).

Agreement of the two branches is measured in units of D, which the margin (D = 1) gives a scale
that does not vanish when the outputs collapse: D of the same image through both branches, against
D of different-label pairs (0: one function; about 1: the branches agree on an image no better
than on two images of different classes), with the share of it due to the constant offset.
Last, shuffling the channels of L'2 (and the inputs of L'3 to match) leaves the second branch's
function, hence the loss, unchanged while its weights move away: the loss cannot ask for W = W'.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 1 Q4"
TITLE = "Do the weights of L2 and L'2 become equal? Untied, tied and same-start branches"
NEEDS = frozenset({"spec", "data"})
SIZES = {
    "quick": {"steps": 20, "every": 10, "train_images": 400, "test_images": 200, "probe_images": 48,
              "eval_pairs": 200},
    "full": {"steps": 400, "every": 50, "train_images": 5000, "test_images": 1000, "probe_images": 160,
             "eval_pairs": 500},
}
RUNS = ("untied_independent", "tied", "untied_same_init")
RATE_DIVISOR = 5  # the learning runs use the recipe's rate over this (0.01 -> 0.002 with momentum 0.9)
PER_LAYER = ("weight_distance", "aligned_weight_distance", "displacement", "matched_correlation")
PER_RUN = ("self_D", "self_D_over_different_D", "offset_share", "spread", "auc", "D_same", "D_different")


def rate(run: str) -> float:
    """The learning rate of every run: a fifth of the recipe's."""
    return common.RECIPE["lr"] / RATE_DIVISOR


def compute(ctx) -> Outcome:
    """Train the variants on the same pairs and probe them at regular checkpoints."""
    z = ctx.sizes
    sets = common.exam_data(ctx, z["train_images"], z["test_images"])
    probe_x, probe_y = sets[2][: z["probe_images"]], sets[3][: z["probe_images"]]
    runs, nets = {}, {}
    for name in RUNS:
        nets[name] = _network(ctx.spec, name, ctx.seed)
        runs[name] = common.train_run(ctx, name, nets[name], sets, steps=z["steps"], opt=common.momentum(rate(name)),
                                      every=z["every"], probe=_prober(ctx.spec, probe_x, probe_y),
                                      eval_pairs=z["eval_pairs"])
        runs[name]["rate"] = rate(name)
    tracked = _tracked_layer(ctx.spec)
    # the untied run from one draw: its two branches are closest, the shuffle's effect is plainest
    permuted = _permutation(nets["untied_same_init"], ctx.spec, tracked, sets[2][:64], ctx.rng(10))
    numbers = {"recipe": common.RECIPE, "tracked_layer": tracked, "runs": runs, "permutation": permuted}
    return Outcome(numbers, _conclusion(ctx, runs, tracked, permuted),
                   {"branches": lambda lang: _figure(runs, tracked, lang)})


def _conclusion(ctx, runs, tracked: str, permuted) -> dict:
    """What the sheet quotes: settings, then each measure at the first and last checkpoints per run."""
    z, top = ctx.sizes, _weighted(ctx.spec)[-1].name
    c = {"layer": tracked, "top_layer": top, "rate": rate(RUNS[0]), "recipe_rate": common.RECIPE["lr"],
         "momentum": common.RECIPE["momentum"], "batch": common.RECIPE["batch"],
         "same_share": common.RECIPE["same_share"], "seed": ctx.seed, "steps": z["steps"],
         "eval_pairs": z["eval_pairs"], "probe_images": z["probe_images"], "data": ctx.data.label(),
         "permutation_weight_distance": permuted and permuted["weight_distance_after"],
         "permutation_output_change": permuted and permuted["max_output_change"]}
    for phase, k in (("start", 0), ("end", -1)):
        at = {n: runs[n]["checkpoints"][k] for n in RUNS}
        for key in PER_LAYER:
            c[f"{key}_{phase}"] = {n: at[n][key].get(tracked) for n in RUNS}
        for key in PER_RUN:
            c[f"{key}_{phase}"] = {n: at[n][key] for n in RUNS}
        c[f"top_correlation_{phase}"] = {n: at[n]["matched_correlation"][top] for n in RUNS}
    later = {n: runs[n]["checkpoints"][1:] or runs[n]["checkpoints"] for n in RUNS}
    deepest = {n: min(later[n], key=lambda point: point["spread"]) for n in RUNS}
    tenth = max(1, z["steps"] // 10)
    c.update({
        "auc_mean": {n: float(np.mean([point["auc"] for point in later[n]])) for n in RUNS},
        "spread_min": {n: deepest[n]["spread"] for n in RUNS},
        "spread_min_step": {n: deepest[n]["step"] for n in RUNS},
        "loss_start": {n: float(np.mean(runs[n]["loss"][:tenth])) for n in RUNS},
        "loss_end": {n: float(np.mean(runs[n]["loss"][-tenth:])) for n in RUNS},
        "held_out_accuracy": {n: runs[n]["held_out"]["accuracy"] for n in RUNS},
    })
    return c


def _network(spec, variant: str, seed: int):
    net = common.network(spec.with_options(shared=variant == "tied"), seed)
    if variant == "untied_same_init":
        for key in [k for k in net.params if "'" not in k]:
            name, kind = key.rsplit(".", 1)
            net.params[f"{name}'.{kind}"] = net.params[key].copy()
    return net


def _permutation(net, spec, layer: str, images, rng):
    """Shuffle the channels of the second branch's ``layer`` (and the next layer's inputs to match).

    The second branch computes the same function, so the loss cannot tell; its weights move away from
    the first branch's. Returns the distances and the largest change of the output, or None when the
    next weighted layer does not take channels as they are (a flatten in between).
    """
    weighted = _weighted(spec)
    names = [w.name for w in weighted]
    i = names.index(layer)
    if i + 1 >= len(weighted) or weighted[i + 1].type != weighted[i].type:
        return None
    key, nxt = net.key(layer, 1), net.key(names[i + 1], 1)
    before = net.embed(images, 1).astype(np.float64)
    distance_before = _relative(net.params[net.key(layer, 0) + ".W"], net.params[key + ".W"])
    perm = rng.permutation(net.params[key + ".W"].shape[-1])
    net.params[key + ".W"] = net.params[key + ".W"][..., perm]
    net.params[key + ".b"] = net.params[key + ".b"][perm]
    if key + ".a" in net.params and np.ndim(net.params[key + ".a"]):
        net.params[key + ".a"] = net.params[key + ".a"][..., perm]
    net.params[nxt + ".W"] = np.take(net.params[nxt + ".W"], perm, axis=-2)
    after = net.embed(images, 1).astype(np.float64)
    return {"layer": layer, "weight_distance_before": distance_before,
            "weight_distance_after": _relative(net.params[net.key(layer, 0) + ".W"], net.params[key + ".W"]),
            "max_output_change": float(np.max(np.abs(after - before)) / np.max(np.abs(before)))}


def _weighted(spec):
    return [layer for layer in spec.layers if layer.type != "maxpool"]


def _tracked_layer(spec) -> str:
    """The second layer with weights (L2 in the exam's network), the one the question names."""
    weighted = _weighted(spec)
    return weighted[1].name if len(weighted) > 1 else weighted[0].name


def _prober(spec, probe_x, probe_y):
    """A function (net, step) -> the measurements of one checkpoint, on held-out probe images."""
    weighted = _weighted(spec)
    start = {}

    def probe(net, step: int) -> dict:
        if step == 0:
            start.update({k: v.astype(np.float64) for k, v in net.params.items() if k.endswith(".W")})
        cache = net.forward(probe_x, probe_x, np.zeros(len(probe_x), np.int64))
        last = spec.layers[-1].name
        f, g = (cache.out[b][last].reshape(len(probe_x), -1).astype(np.float64) for b in (0, 1))
        record = {"step": step, **embedding_agreement(f, g, probe_y), "weight_distance": {},
                  "matched_correlation": {}, "aligned_weight_distance": {}, "displacement": {}}
        matches = {}
        for layer in weighted:
            W0, W1 = (net.params[net.key(layer.name, b) + ".W"].astype(np.float64) for b in (0, 1))
            record["weight_distance"][layer.name] = _relative(W0, W1)
            first = start[net.key(layer.name, 0) + ".W"]
            # how far training moved the first branch: ‖W_t − W_0‖ / ‖W_0‖
            record["displacement"][layer.name] = float(np.linalg.norm(W0 - first) / np.linalg.norm(first))
            a0, a1 = (cache.s[b][layer.name] for b in (0, 1))
            record["matched_correlation"][layer.name], matches[layer.name] = _match(a0, a1)
        for prev, layer in zip(weighted, weighted[1:]):
            if layer.type != prev.type:
                continue  # a flatten in between mixes positions and channels: no channel alignment
            W0, W1 = (net.params[net.key(layer.name, b) + ".W"].astype(np.float64) for b in (0, 1))
            aligned = np.take(np.take(W1, matches[prev.name], axis=-2), matches[layer.name], axis=-1)
            record["aligned_weight_distance"][layer.name] = _relative(W0, aligned)
        return record

    return probe


def embedding_agreement(f, g, labels) -> dict:
    """How the branches' embeddings f (first) and g (second) of the same images relate, in units of D.

    Every ordered pair (i, j) of distinct images is a verification pair, D_ij = ½‖f_i − g_j‖²:
    ``D_same``/``D_different`` are the means over same-/different-label pairs and ``auc`` the chance
    that a different-label pair has the larger D (0.5: no better than a coin). ``self_D`` is D of
    the same image through both branches; ``offset_share`` the part of it due to the constant
    offset ½‖f̄ − ḡ‖²; ``spread`` the mean D between two images drawn independently, through one
    branch, averaged over both (0 when the outputs are constant). ``self_D_over_different_D``: 0
    for one function, about 1 for branches that agree on an image no better than on two images of
    different classes.
    """
    f, g, labels = np.asarray(f, np.float64), np.asarray(g, np.float64), np.asarray(labels)
    D = 0.5 * np.sum((f[:, None, :] - g[None, :, :]) ** 2, axis=2)
    n = len(f)
    same = (labels[:, None] == labels[None, :]) & ~np.eye(n, dtype=bool)
    different = labels[:, None] != labels[None, :]
    self_D = float(np.mean(0.5 * np.sum((f - g) ** 2, axis=1)))
    offset = 0.5 * float(np.sum((f.mean(0) - g.mean(0)) ** 2))
    spread = 0.5 * float(np.mean(np.sum((f - f.mean(0)) ** 2, 1)) + np.mean(np.sum((g - g.mean(0)) ** 2, 1)))
    d_same, d_diff = D[same], D[different]
    return {"self_D": self_D, "D_same": _mean(d_same), "D_different": _mean(d_diff),
            "self_D_over_different_D": self_D / _mean(d_diff) if _mean(d_diff) > 0 else float("nan"),
            "offset_share": offset / self_D if self_D > 0 else 0.0, "spread": spread,
            "auc": _auc(d_same, d_diff)}


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _auc(d_same, d_diff) -> float:
    """P(D of a different-label pair > D of a same-label pair), ties counting half (Mann-Whitney)."""
    if not len(d_same) or not len(d_diff):
        return float("nan")
    ranks = rankdata(np.concatenate([d_same, d_diff]))
    n_s, n_d = len(d_same), len(d_diff)
    return float((ranks[n_s:].sum() - n_d * (n_d + 1) / 2) / (n_s * n_d))


def _relative(a, b) -> float:
    """‖a − b‖ over the RMS of ‖a‖ and ‖b‖: 0 when equal, about √2 for two independent draws."""
    scale = np.sqrt((np.sum(a * a) + np.sum(b * b)) / 2)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def _match(a0, a1):
    """Mean correlation of channels matched one-to-one, and the matching (branch-1 channel per branch-0 one)."""
    x0 = a0.reshape(-1, a0.shape[-1]).astype(np.float64)
    x1 = a1.reshape(-1, a1.shape[-1]).astype(np.float64)
    x0 = x0 - x0.mean(axis=0)
    x1 = x1 - x1.mean(axis=0)
    n0, n1 = np.linalg.norm(x0, axis=0), np.linalg.norm(x1, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (x0.T @ x1) / np.outer(n0, n1)
    corr = np.nan_to_num(corr)  # a silent (dead) channel correlates with nothing
    rows, cols = linear_sum_assignment(-corr)
    return float(corr[rows, cols].mean()), cols


WORDS = {
    "en": {"loss": "training loss (moving average)", "auc": "verification AUC, held-out pairs",
           "self": "D(x, x) / mean D of different labels", "weights": "‖W − W'‖ (relative), {layer}; dashed: matched",
           "correlation": "matched channel correlation, {layer}", "spread": "mean D between two images, one branch",
           "step": "training step", "untied_independent": "separate weights, two draws", "tied": "shared weights",
           "untied_same_init": "separate weights, one draw"},
    "fr": {"loss": "perte d'entraînement (moyenne glissante)", "auc": "AUC de vérification, paires de test",
           "self": "D(x, x) / D moyen entre classes différentes",
           "weights": "‖W − W'‖ (distance relative), {layer} ; tirets : appariés",
           "correlation": "corrélation des canaux appariés, {layer}",
           "spread": "D moyen entre deux images, une branche", "step": "pas d'entraînement",
           "untied_independent": "poids distincts, deux tirages", "tied": "poids partagés",
           "untied_same_init": "poids distincts, un tirage"},
}


def _figure(runs, layer: str, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(12, 6.4, 2, 3)
    panels = (("loss", words["loss"]), ("auc", words["auc"]), ("self_D_over_different_D", words["self"]),
              ("weight_distance", words["weights"].format(layer=layer)),
              ("matched_correlation", words["correlation"].format(layer=layer)), ("spread", words["spread"]))
    for ax, (key, title) in zip(axes.flat, panels):
        for colour, (name, run) in zip(("C0", "C1", "C2"), runs.items()):
            label = words[name]
            if key == "loss":
                window = max(1, len(run["loss"]) // 10)
                values = common.smooth(run["loss"], window)
                ax.plot(np.arange(len(values)) + window, values, color=colour, lw=1, label=label)
                continue
            steps = [c["step"] for c in run["checkpoints"]]
            values = [c[key][layer] if isinstance(c[key], dict) else c[key] for c in run["checkpoints"]]
            ax.plot(steps, values, marker="o", ms=3, color=colour, label=label)
            if key == "weight_distance":
                ax.plot(steps, [c["aligned_weight_distance"].get(layer, np.nan) for c in run["checkpoints"]],
                        ls="--", lw=1, color=colour)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(words["step"])
    axes[0, 1].axhline(0.5, color="black", lw=0.8)
    axes[1, 2].set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    return fig


def summary(c) -> str:
    """One line: accuracy, weight distances raw and matched, agreement of the branches, the same-start drift."""
    u, same = "untied_independent", "untied_same_init"
    aligned = c["aligned_weight_distance_end"][u]
    aligned = "n/a" if aligned is None else f"{aligned:.3f}"
    return (f"{c['steps']} steps at rate {c['rate']:g}: held-out accuracy untied {c['held_out_accuracy'][u]:.3f}, "
            f"tied {c['held_out_accuracy']['tied']:.3f}; {c['layer']} untied from independent draws: relative "
            f"‖W−W'‖ {c['weight_distance_start'][u]:.3f} -> {c['weight_distance_end'][u]:.3f} ({aligned} after "
            f"matching channels, matched correlation {c['matched_correlation_end'][u]:.3f}), D(x,x)/D(different) "
            f"{c['self_D_over_different_D_start'][u]:.2f} -> {c['self_D_over_different_D_end'][u]:.2f}; from one "
            f"draw: ‖W−W'‖ {c['weight_distance_end'][same]:.3f}, displacement {c['displacement_end'][same]:.3f}"
            f"{_shuffle_text(c)} (seed {c['seed']})")


def _shuffle_text(c) -> str:
    if c["permutation_output_change"] is None:
        return ""
    return (f"; shuffling the channels of the second branch leaves its output unchanged "
            f"({c['permutation_output_change']:.1e}) and moves ‖W−W'‖ to {c['permutation_weight_distance']:.3f}")
