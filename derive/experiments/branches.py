"""Exercise 1, Q4: what becomes of the weights of L2 and L'2 (and of every layer pair) in training.

Three runs on the same pairs: untied weights drawn independently (the exam's setting), tied weights
(a siamese network, the control where both branches are one function), and untied weights that start
from the same draw. Through training: the relative gap between the two branches' embeddings of the
same held-out images, the raw relative distance between the weights of each layer pair, and how well
the channels correspond once matched one-to-one by activation correlation (Hungarian matching, as
Li, Yosinski et al. 2016, "Convergent learning", match units across independently trained networks).
Last, shuffling the channels of L'2 (and the inputs of L'3 to match) leaves the second branch's
function, hence the loss, unchanged while its weights move away: the loss cannot ask for W = W'.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 1 Q4"
TITLE = "Do the weights of L2 and L'2 become equal? Untied, tied and same-start branches"
NEEDS = frozenset({"spec", "data"})
USES = ("derive.network", "derive.layers", "derive.train", "derive.data")
SIZES = {
    "quick": {"steps": 20, "every": 10, "train_images": 400, "test_images": 200, "probe_images": 32,
              "probe_pairs": 100, "eval_pairs": 200},
    "full": {"steps": 300, "every": 50, "train_images": 5000, "test_images": 1000, "probe_images": 96,
             "probe_pairs": 150, "eval_pairs": 500},
}
RUNS = ("untied_independent", "tied", "untied_same_init")


def compute(ctx) -> Outcome:
    """Train the three variants on the same pairs and probe them at regular checkpoints."""
    z = ctx.sizes
    sets = common.exam_data(ctx, z["train_images"], z["test_images"])
    probe_x = sets[2][: z["probe_images"]]
    runs = {}
    for name in RUNS:
        net = _network(ctx.spec, name, ctx.seed)
        probe = _prober(ctx.spec, probe_x, sets[2], sets[3], ctx.rng(9), z["probe_pairs"])
        runs[name] = common.train_run(ctx, name, net, sets, steps=z["steps"], opt=common.momentum(),
                                      every=z["every"], probe=probe, eval_pairs=z["eval_pairs"])
        last_net = net  # the untied run from one draw: its two branches are closest
    tracked = _tracked_layer(ctx.spec)
    permuted = _permutation(last_net, ctx.spec, tracked, sets[2][:64], ctx.rng(10))
    end = {name: run["checkpoints"][-1] for name, run in runs.items()}
    start = {name: run["checkpoints"][0] for name, run in runs.items()}
    conclusion = {
        "layer": tracked,
        "weight_distance_start": {n: start[n]["weight_distance"].get(tracked) for n in RUNS},
        "weight_distance_end": {n: end[n]["weight_distance"].get(tracked) for n in RUNS},
        "aligned_weight_distance_end": {n: end[n]["aligned_weight_distance"].get(tracked) for n in RUNS},
        "displacement_end": {n: end[n]["displacement"].get(tracked) for n in RUNS},
        "matched_correlation_start": {n: start[n]["matched_correlation"].get(tracked) for n in RUNS},
        "matched_correlation_end": {n: end[n]["matched_correlation"].get(tracked) for n in RUNS},
        "embedding_gap_start": {n: start[n]["embedding_gap"] for n in RUNS},
        "embedding_gap_end": {n: end[n]["embedding_gap"] for n in RUNS},
        "self_D_over_different_D_end": {n: end[n]["self_D_over_different_D"] for n in RUNS},
        "held_out_accuracy": {n: runs[n]["held_out"]["accuracy"] for n in RUNS},
        "permutation_weight_distance": permuted and permuted["weight_distance_after"],
        "permutation_output_change": permuted and permuted["max_output_change"],
        "seed": ctx.seed, "steps": z["steps"], "batch": common.RECIPE["batch"], "data": ctx.data.label(),
    }
    numbers = {"recipe": common.RECIPE, "tracked_layer": tracked, "runs": runs, "permutation": permuted}
    return Outcome(numbers, conclusion, {"branches": _figure(runs, tracked)})


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


def _prober(spec, probe_x, xt, yt, rng, pairs: int):
    """A function (net, step) -> the measurements of one checkpoint."""
    from derive import data, train

    i, j, l = data.pair_indices(yt, pairs, same_share=0.5, rng=rng)
    weighted = _weighted(spec)
    start = {}

    def probe(net, step: int) -> dict:
        if step == 0:
            start.update({k: v.astype(np.float64) for k, v in net.params.items() if k.endswith(".W")})
        cache = net.forward(probe_x, probe_x, np.zeros(len(probe_x), np.int64))
        last = spec.layers[-1].name
        e0, e1 = (cache.out[b][last].reshape(len(probe_x), -1).astype(np.float64) for b in (0, 1))
        D_pairs = train.distances(net, xt[i], xt[j])
        self_D = float(np.mean(0.5 * np.sum((e0 - e1) ** 2, axis=1)))
        record = {"step": step, "embedding_gap": _relative(e0, e1), "self_D": self_D,
                  "D_same": float(D_pairs[l == 0].mean()), "D_different": float(D_pairs[l == 1].mean()),
                  "weight_distance": {}, "matched_correlation": {}, "aligned_weight_distance": {},
                  "displacement": {}}
        record["self_D_over_different_D"] = self_D / max(record["D_different"], 1e-30)
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


def _figure(runs, layer: str):
    fig, axes = common.figure(12, 3.6, 1, 4)
    panels = (("weight_distance", f"‖W − W'‖ (relative), {layer}"),
              ("matched_correlation", f"matched channel correlation, {layer}"),
              ("embedding_gap", "embedding gap, same image (relative)"),
              ("self_D_over_different_D", "D(x, x) / mean D of different labels"))
    for ax, (key, title) in zip(axes[0], panels):
        for name, run in runs.items():
            steps = [c["step"] for c in run["checkpoints"]]
            values = [c[key][layer] if isinstance(c[key], dict) else c[key] for c in run["checkpoints"]]
            ax.plot(steps, values, marker="o", ms=3, label=name.replace("_", " "))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step")
    run = runs["untied_independent"]
    axes[0, 0].plot([c["step"] for c in run["checkpoints"]], [c["displacement"][layer] for c in run["checkpoints"]],
                    "k--", lw=1, label="‖W_t − W_0‖/‖W_0‖ (untied independent)")
    axes[0, 0].legend(fontsize=7)
    return fig


def summary(c) -> str:
    """One line: raw and aligned weight distances, channel matching and the embedding gap at the end."""
    u, same = "untied_independent", "untied_same_init"
    aligned = c["aligned_weight_distance_end"][u]
    aligned = "n/a" if aligned is None else f"{aligned:.3f}"
    return (f"{c['layer']} after {c['steps']} steps, untied from independent draws: relative ‖W−W'‖ "
            f"{c['weight_distance_start'][u]:.3f} -> {c['weight_distance_end'][u]:.3f} ({aligned} after matching "
            f"channels) while W moved {c['displacement_end'][u]:.3f} from its start, matched channel correlation {c['matched_correlation_end'][u]:.3f}, embedding gap "
            f"{c['embedding_gap_end'][u]:.3f}; from one draw: ‖W−W'‖ {c['weight_distance_end'][same]:.3f}, gap "
            f"{c['embedding_gap_end'][same]:.3f}; held-out accuracy {c['held_out_accuracy'][u]:.3f} / tied "
            f"{c['held_out_accuracy']['tied']:.3f}{_shuffle_text(c)} (seed {c['seed']})")


def _shuffle_text(c) -> str:
    if c["permutation_output_change"] is None:
        return ""
    return (f"; shuffling the channels of the second branch leaves its output unchanged "
            f"({c['permutation_output_change']:.1e}) and moves ‖W−W'‖ to {c['permutation_weight_distance']:.3f}")
