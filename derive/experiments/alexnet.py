"""Exercise 2, Q6: AlexNet's update rule is SGD with momentum on L + (λ/2)·‖w‖² (weight decay).

Krizhevsky et al. (2012, section 5): v ← 0.9·v − 0.0005·ε·w − ε·∂L/∂w, w ← w + v. Heavy-ball
momentum on the regularised loss L̃ = L + (λ/2)·‖w‖², whose gradient is ∂L/∂w + λ·w, is the same
recurrence; the experiment runs both (and PyTorch's SGD with weight_decay when it is installed) from
one start in float64 and measures how far the trajectories part. Then it trains the exam network with
plain SGD, momentum alone, weight decay alone, and both.
"""

from __future__ import annotations

import numpy as np

from derive.experiments import common
from derive.experiments.runner import Outcome

QUESTION = "Ex. 2 Q6"
TITLE = "AlexNet's rule = momentum SGD on L + (0.0005/2)·‖w‖²; training with and without each term"
NEEDS = frozenset({"spec", "data"})
SIZES = {
    "quick": {"replay_steps": 5, "replay_pairs": 4, "steps": 15, "train_images": 400, "test_images": 200,
              "eval_pairs": 200},
    "full": {"replay_steps": 15, "replay_pairs": 4, "steps": 120, "train_images": 5000, "test_images": 1000,
             "eval_pairs": 500},
}
MU, LAMBDA, EPS = 0.9, 0.0005, 0.01  # AlexNet's momentum and weight decay; the replay's learning rate
OPTIMISERS = {"sgd": (0.0, 0.0), "momentum": (MU, 0.0), "weight_decay": (0.0, LAMBDA), "alexnet": (MU, LAMBDA)}


def compute(ctx) -> Outcome:
    """The float64 replay of the three equivalent rules, then four training runs on the same pairs."""
    z = ctx.sizes
    replay = _replay(ctx, z["replay_steps"], z["replay_pairs"])
    spec = ctx.spec.with_options(shared=True)
    sets = common.exam_data(ctx, z["train_images"], z["test_images"])
    runs = {}
    for name, (mu, lam) in OPTIMISERS.items():
        net = common.network(spec, ctx.seed)
        opt = common.momentum(weight_decay=lam, mu=mu)
        runs[name] = common.train_run(ctx, f"training, {name}", net, sets, steps=z["steps"], opt=opt,
                                      every=max(1, z["steps"] // 10), probe=_weight_norm,
                                      eval_pairs=z["eval_pairs"])
        runs[name].update(momentum=mu, weight_decay=lam)
    k = max(1, z["steps"] // 10)
    conclusion = {
        "max_relative_gap_momentum_on_regularised_loss": replay["gap"]["momentum_on_regularised_loss"],
        "max_relative_gap_torch_sgd": replay["gap"].get("torch_sgd_weight_decay"),
        "max_relative_gap_wrong_coefficient": replay["gap"]["wrong_coefficient_lambda_not_half"],
        "replay_steps": z["replay_steps"], "replay_dtype": "float64",
        "loss_last": {n: float(np.mean(r["loss"][-k:])) for n, r in runs.items()},
        "weight_norm_ratio": {n: r["checkpoints"][-1]["weight_norm"] / r["checkpoints"][0]["weight_norm"]
                              for n, r in runs.items()},
        "held_out_accuracy": {n: r["held_out"]["accuracy"] for n, r in runs.items()},
        "decay_only_shrink_per_step": 1 - LAMBDA * common.RECIPE["lr"],
        "decay_only_norm_ratio": {n: _decay_only(mu, lam, common.RECIPE["lr"], z["steps"])
                                  for n, (mu, lam) in OPTIMISERS.items()},
        "momentum": MU, "weight_decay": LAMBDA, "lr": common.RECIPE["lr"], "steps": z["steps"],
        "eval_pairs": z["eval_pairs"],
        "seed": ctx.seed, "data": ctx.data.label(),
    }
    numbers = {"recipe": common.RECIPE, "tied": True, "replay": replay, "runs": runs}
    return Outcome(numbers, conclusion, {"alexnet": lambda lang: _figure(runs, lang)})


def _decay_only(mu: float, lam: float, lr: float, steps: int) -> float:
    """w_T / w_0 under the update rule with the decay term alone (no gradient): what decay does by itself."""
    w, v = 1.0, 0.0
    for _ in range(steps):
        v = mu * v - lam * lr * w
        w += v
    return w


def _replay(ctx, steps: int, pairs: int) -> dict:
    """Run the rules side by side from one start on the same batches; record the largest relative gap."""
    from derive.engine import data, train
    from derive.engine.network import Network

    x, y, _, _ = common.exam_data(ctx, max(4 * pairs, 64), 16)
    rules = ("alexnet_rule", "momentum_on_regularised_loss", "wrong_coefficient_lambda_not_half",
             "torch_sgd_weight_decay")
    nets = {name: Network(ctx.spec, dtype=np.float64, seed=ctx.seed) for name in rules}
    reference = train.AlexNet(EPS, momentum=MU, weight_decay=LAMBDA)
    decays = reference.decays
    heavy = {"momentum_on_regularised_loss": _HeavyBall(EPS, MU, LAMBDA, decays),
             "wrong_coefficient_lambda_not_half": _HeavyBall(EPS, MU, 2 * LAMBDA, decays)}
    torch_step = _torch_sgd(nets["torch_sgd_weight_decay"].params, decays)
    if torch_step is None:
        del nets["torch_sgd_weight_decay"]
    rng = ctx.rng(13)
    gaps = {name: 0.0 for name in nets if name != "alexnet_rule"}
    for _ in range(steps):
        i, j, l = data.pair_indices(y, pairs, same_share=0.5, rng=rng)
        grads = {name: net.backward(net.forward(x[i], x[j], l)) for name, net in nets.items()}
        reference.update(nets["alexnet_rule"].params, grads["alexnet_rule"])
        for name, opt in heavy.items():
            opt.update(nets[name].params, grads[name])
        if torch_step is not None:
            torch_step(grads["torch_sgd_weight_decay"])
        ref = nets["alexnet_rule"].params
        for name in gaps:
            gaps[name] = max(gaps[name], max(float(np.max(np.abs(nets[name].params[k] - w)) / np.max(np.abs(w)))
                                             for k, w in ref.items()))
    return {"steps": steps, "pairs": pairs, "lr": EPS, "momentum": MU, "weight_decay": LAMBDA, "gap": gaps,
            "decayed": sorted(k for k in nets["alexnet_rule"].params if decays(k))}


class _HeavyBall:
    """v ← μ·v − ε·∇L̃, w ← w + v, with ∇L̃ = ∂L/∂w + λ·w on the decayed parameters (L̃ = L + λ/2·‖w‖²)."""

    def __init__(self, lr, mu, lam, decays):
        self.lr, self.mu, self.lam, self.decays, self.v = lr, mu, lam, decays, {}

    def update(self, params, grads):
        """One step in place."""
        for key, g in grads.items():
            total = g + self.lam * params[key] if self.decays(key) else g
            self.v[key] = self.mu * self.v.get(key, 0.0) - self.lr * total
            params[key] += self.v[key]


def _torch_sgd(params, decays):
    """PyTorch's SGD(momentum=0.9, weight_decay=0.0005) on the same arrays, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    tensors = {k: torch.from_numpy(w) for k, w in params.items()}  # shares memory with the arrays
    groups = [{"params": [t for k, t in tensors.items() if decays(k)], "weight_decay": LAMBDA},
              {"params": [t for k, t in tensors.items() if not decays(k)], "weight_decay": 0.0}]
    opt = torch.optim.SGD([g for g in groups if g["params"]], lr=EPS, momentum=MU)

    def step(grads):
        for k, t in tensors.items():
            # ascontiguousarray makes a 0-d slope 1-d: reshape brings it back to the tensor's shape
            t.grad = torch.from_numpy(np.ascontiguousarray(grads[k]).reshape(t.shape))
        with torch.no_grad():
            opt.step()

    return step


def _weight_norm(net, step: int) -> dict:
    norm = np.sqrt(sum(float(np.sum(w.astype(np.float64) ** 2)) for k, w in net.params.items() if k.endswith(".W")))
    return {"step": step, "weight_norm": norm}


WORDS = {
    "en": {"loss": "training loss (moving average of 10 steps)", "norm": "norm of all weights W",
           "step": "training step", "sgd": "SGD", "momentum": "momentum", "weight_decay": "weight decay",
           "alexnet": "momentum + weight decay"},
    "fr": {"loss": "perte d'entraînement (moyenne glissante sur 10 pas)", "norm": "norme de tous les poids W",
           "step": "pas d'entraînement", "sgd": "SGD", "momentum": "moment", "weight_decay": "décroissance des poids",
           "alexnet": "moment + décroissance des poids"},
}


def _figure(runs, lang: str):
    words = WORDS[lang]
    fig, axes = common.figure(10, 3.6, 1, 2)
    for name, run in runs.items():
        axes[0, 0].plot(common.smooth(run["loss"], 10), label=words[name])
        steps = [c["step"] for c in run["checkpoints"]]
        axes[0, 1].plot(steps, [c["weight_norm"] for c in run["checkpoints"]], "o-", ms=3, label=words[name])
    axes[0, 0].set_title(words["loss"], fontsize=9)
    axes[0, 1].set_title(words["norm"], fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel(words["step"])
        ax.legend(fontsize=7)
    return fig


def summary(c) -> str:
    """One line: the replay gaps, and the last loss and weight-norm change of each optimiser."""
    torch_gap = c["max_relative_gap_torch_sgd"]
    torch_text = "" if torch_gap is None else f", PyTorch SGD(weight_decay) {torch_gap:.1e}"
    losses = ", ".join(f"{n} {v:.3f}" for n, v in c["loss_last"].items())
    return (f"{c['replay_steps']} float64 steps: momentum on L + λ/2‖w‖² parts from AlexNet's rule by at most "
            f"{c['max_relative_gap_momentum_on_regularised_loss']:.1e}{torch_text} (λ instead of λ/2: "
            f"{c['max_relative_gap_wrong_coefficient']:.1e}); last loss {losses} "
            f"(seed {c['seed']}, {c['steps']} steps)")
