"""Optimisers (plain SGD, AlexNet's momentum with weight decay), the training loop, verification.

AlexNet's rule is the exam's Figure 2 (Krizhevsky et al. 2012, section 5):
v ← μ·v − λ·ε·w − ε·∂L/∂w, w ← w + v, with μ = 0.9 and λ = 0.0005 by default. The paper's
rule is written for the weights w; by default the decay applies to connection weights only, not
to biases nor PReLU slopes (He et al. 2015 use no weight decay on the slopes); ``decay="all"``
applies it to every parameter.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field

import numpy as np

from derive.engine import data
from derive.errors import DeriveError, printable

DECAY_CHOICES = ("weights", "all")


@dataclass
class SGD:
    """Plain gradient descent w ← w − ε·∂L/∂w."""

    lr: float = 0.01

    def update(self, params: dict, grads: dict) -> None:
        """Apply one step to ``params`` in place."""
        for k, g in grads.items():
            params[k] -= self.lr * g


@dataclass
class AlexNet:
    """Momentum with weight decay, as in the exam's Figure 2; the velocities start at zero."""

    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    decay: str = "weights"
    velocity: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.decay not in DECAY_CHOICES:
            raise DeriveError(f"weight decay applies to one of {', '.join(DECAY_CHOICES)}, got {self.decay!r}")

    def decays(self, key: str) -> bool:
        """Whether the weight-decay term applies to this parameter."""
        return self.decay == "all" or key.endswith(".W")

    def update(self, params: dict, grads: dict) -> None:
        """v ← μ·v − λ·ε·w − ε·g, then w ← w + v, in place."""
        for k, g in grads.items():
            w = params[k]
            v = self.velocity.get(k)
            v = np.zeros_like(w) if v is None else v
            v *= self.momentum
            if self.decays(k) and self.weight_decay:
                v -= (self.weight_decay * self.lr) * w
            v -= self.lr * g
            self.velocity[k] = v
            w += v


def optimizer(name: str, lr: float, **options):
    """An optimiser by name: 'sgd' or 'alexnet'."""
    if name == "sgd":
        return SGD(lr)
    if name == "alexnet":
        return AlexNet(lr, **options)
    raise DeriveError(f"unknown optimiser '{name}' (expected sgd or alexnet)")


def step(net, grads: dict, opt) -> None:
    """Apply gradients (any subset of the parameter keys, e.g. some replaced by symbolic ones).

    The update of each parameter depends on that parameter alone: the keys are shared out between
    the network's threads (one half each when it runs its branches in two), with the same result.
    """
    unknown = sorted(set(grads) - set(net.params))
    if unknown:
        raise KeyError(f"gradients for unknown parameters: {', '.join(unknown)}")
    halves, sizes = ({}, {}), [0, 0]
    for k in sorted(grads, key=lambda k: -np.size(grads[k])):  # the largest first, each to the lighter half
        b = int(sizes[1] < sizes[0])
        halves[b][k], sizes[b] = grads[k], sizes[b] + np.size(grads[k])
    net.both(lambda b: opt.update(net.params, halves[b]))


def train(net, images, labels, *, steps: int, batch: int, opt, same_share: float = 0.5, seed: int = 0,
          callback=None) -> list[dict]:
    """Train on pairs drawn from a labelled set; returns the log (step, loss, pair loss, KL term).

    ``callback(entry)`` is called after every step (a progress bar, an early look at the loss).
    """
    if steps < 1 or batch < 1:
        raise DeriveError(f"training needs steps >= 1 and batch >= 1, got {steps} and {batch}")
    rng = np.random.default_rng([seed, 2])
    log = []
    for t in range(steps):
        i, j, l = data.pair_indices(labels, batch, same_share=same_share, rng=rng)
        with np.errstate(all="ignore"):  # a diverging run is reported below, not by NumPy's warnings
            cache = net.forward(images[i], images[j], l, train=True)
            if not cache.kl_defined:
                raise DeriveError(f"step {t}: the literal KL reading is undefined (some ρ̂ of layer "
                                  f"'{net.kl.layer}' lies outside (0, 1)); use the sigmoid reading")
            if not np.isfinite(cache.loss):
                raise DeriveError(f"step {t}: the loss is {cache.loss} (training diverged); lower the learning rate")
            step(net, net.backward(cache), opt)
        entry = {"step": t, "loss": float(cache.loss), "pair_loss": float(cache.pair_loss), "kl": float(cache.kl)}
        log.append(entry)
        if callback is not None:
            callback(entry)
    broken = sorted(k for k, p in net.params.items() if not np.isfinite(p).all())
    if broken:  # the last step's update overflowed: no loss shows it, the verification would be all NaN
        raise DeriveError(f"step {steps - 1}: the parameters {', '.join(broken[:3])} are no longer finite "
                          "(training diverged); lower the learning rate")
    return log


def verification(net, images, labels, n_pairs: int, *, threshold: float, seed: int = 0) -> dict:
    """Verification on ``n_pairs`` half-same pairs: accuracy of "same label iff D < threshold", mean D."""
    i, j, l = data.pair_indices(labels, n_pairs, same_share=0.5, rng=np.random.default_rng([seed, 3]))
    D = distances(net, images[i], images[j])
    return {"pairs": n_pairs, "threshold": threshold, "accuracy": accuracy(D, l, threshold),
            "mean_D_same": float(D[l == 0].mean()), "mean_D_different": float(D[l == 1].mean())}


def standardised(train_set, test_set):
    """Both sets centred and scaled per channel by the training set's mean and standard deviation."""
    x = train_set[0]
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = np.maximum(x.std(axis=(0, 1, 2), dtype=np.float64), 1e-8)
    return (((x - mean) / std).astype(x.dtype), train_set[1]), \
        (((test_set[0] - mean) / std).astype(x.dtype), test_set[1]), (mean, std)


def fit(net, train_set, test_set, *, steps: int, batch: int, opt, same_share: float = 0.5, seed: int = 0,
        eval_pairs: int = 1000, standardise: bool = True, callback=None) -> dict:
    """Train, then fit a threshold on D over training pairs and verify it on held-out pairs.

    With ``standardise``, the inputs are first centred and scaled per channel (training-set statistics).
    Returns a JSON-ready record: the per-step log, the first and last losses (means over the
    first and last tenth of the steps) and the held-out verification.
    """
    stats = None
    if standardise:
        train_set, test_set, stats = standardised(train_set, test_set)
    x, y = train_set
    log = train(net, x, y, steps=steps, batch=batch, opt=opt, same_share=same_share, seed=seed, callback=callback)
    i, j, l = data.pair_indices(y, eval_pairs, same_share=0.5, rng=np.random.default_rng([seed, 4]))
    threshold = best_threshold(distances(net, x[i], x[j]), l)
    losses = [e["loss"] for e in log]
    k = max(1, steps // 10)
    return {"steps": steps, "batch": batch, "seed": seed, "same_share": same_share,
            "input_mean": None if stats is None else [float(v) for v in stats[0]],
            "input_std": None if stats is None else [float(v) for v in stats[1]],
            "loss_first": float(np.mean(losses[:k])), "loss_last": float(np.mean(losses[-k:])),
            "held_out": verification(net, *test_set, eval_pairs, threshold=threshold, seed=seed), "log": log}


def distances(net, x1, x2, chunk: int = 256) -> np.ndarray:
    """D = ½‖s6 − s6'‖² of every pair, without dropout, in chunks."""
    out = []
    for k in range(0, len(x1), chunk):
        diff = net.embed(x1[k:k + chunk], 0) - net.embed(x2[k:k + chunk], 1)
        out.append(0.5 * np.sum(diff.reshape(len(diff), -1) ** 2, axis=1))
    return np.concatenate(out)


def best_threshold(D: np.ndarray, l: np.ndarray) -> float:
    """The threshold on D (same label when D < threshold) with the best accuracy on these pairs."""
    order = np.argsort(D, kind="stable")
    d, lab = D[order], np.asarray(l)[order]
    # accuracy when the first k pairs (smallest D) are called "same": same-label among them + different after
    correct = np.concatenate([[0], np.cumsum(lab == 0)]) + np.concatenate([np.cumsum((lab == 1)[::-1])[::-1], [0]])
    k = int(np.argmax(correct))
    if k == 0:
        return float(d[0])
    if k == len(d):
        return float(np.nextafter(d[-1], np.inf))
    return float((d[k - 1] + d[k]) / 2)


def accuracy(D: np.ndarray, l: np.ndarray, threshold: float) -> float:
    """Share of pairs classified right: same label predicted when D < threshold."""
    return float(np.mean((threshold > D) == (np.asarray(l) == 0)))


def write_json(path, payload) -> None:
    """Write JSON atomically (a temporary file, then a rename): never a half-written log.

    A symlink is followed (its target is replaced, the link stays); the file gets the mode a new file
    gets under the umask, or keeps the mode of the file it replaces; anything but a regular file
    (a device such as /dev/null, a FIFO, a folder) is refused, never replaced.
    """
    target = _log_target(path)
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    except OSError as exc:
        raise DeriveError(f"{printable(path)}: cannot write the log ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, _mode(target))
        os.replace(tmp, target)
    except OSError as exc:
        os.unlink(tmp)
        raise DeriveError(f"{printable(path)}: cannot write the log ({exc.strerror})") from None


def _log_target(path) -> str:
    """The file a log path names, symlinks followed; a DeriveError for anything but a (new) regular file."""
    shown = printable(os.fspath(path))
    target = os.path.realpath(os.fspath(path))
    try:
        os.stat(target)
    except FileNotFoundError:
        pass  # a new file
    except OSError as exc:  # a name too long, a loop: what the rename at the end would meet
        raise DeriveError(f"{shown}: cannot write the log ({exc.strerror})") from None
    if os.path.isdir(target):
        raise DeriveError(f"{shown}: cannot write the log (it is a folder)")
    if os.path.lexists(target) and not os.path.isfile(target):
        raise DeriveError(f"{shown}: cannot write the log (not a regular file: a device, a pipe or a socket "
                          "is never replaced)")
    if not os.path.isdir(os.path.dirname(target)):
        raise DeriveError(f"{shown}: cannot write the log (no such directory)")
    if not os.access(os.path.dirname(target), os.W_OK | os.X_OK):
        raise DeriveError(f"{shown}: cannot write the log (its folder is not writable)")
    return target


def _mode(target: str) -> int:
    """The mode of the file being replaced, or of a new file under the process's umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


class Session(dict):
    """A training session's record (the JSON log) and its summary for a terminal."""

    def render(self, fmt: str = "text") -> str:
        """The summary: loss at the start and the end, held-out verification, where the log went."""
        if fmt == "json":
            return json.dumps(self, indent=1, sort_keys=True) + "\n"
        held, opt = self["held_out"], self["optimizer"]
        lines = [f"{self['steps']} steps of {self['batch']} pairs on {self['data']}, {opt['name']} ε={opt['lr']:g}, "
                 f"{'tied' if self['shared_weights'] else 'untied'} branches, seed {self['seed']}",
                 f"loss: first {self['loss_first']:.4f}, last {self['loss_last']:.4f}",
                 f"held-out verification ({held['pairs']} pairs, half same-label): accuracy {held['accuracy']:.3f} "
                 f"at D < {held['threshold']:.4g} (threshold fitted on training pairs)",
                 f"mean D: same label {held['mean_D_same']:.4g}, different labels {held['mean_D_different']:.4g}"]
        if self.get("log_file"):
            lines.append(f"log: {printable(self['log_file'])}")
        return "\n".join(lines) + "\n"


def session(spec, data_source="shapeset", *, images: int = 5000, steps: int = 300, batch: int = 32, lr: float = 0.01,
            optimizer_name: str = "sgd", momentum: float = 0.9, weight_decay: float = 0.0005, decay: str = "weights",
            init: str = "glorot_normalized", dropout=None, same_share: float = 0.5, standardise: bool = True,
            seed: int = 0, threads: int = 2, log=None, callback=None) -> Session:
    """Train the network of a spec on pairs from a data source and verify it; ``log``: write the record there."""
    from derive.engine.network import Network

    check(spec, data_source, images, batch, log)
    source = data.parse_data(data_source)
    options = {}
    if optimizer_name == "alexnet":
        options = {"momentum": momentum, "weight_decay": weight_decay, "decay": decay}
    opt = optimizer(optimizer_name, lr, **options)
    net = Network(spec, dtype=np.float32, init=init, seed=seed, dropout=dropout, threads=threads)
    train_set = data.labelled_images(source, images, seed, "train", spec.input)
    test_set = data.labelled_images(source, min(images, 2000), seed, "test", spec.input)
    record = fit(net, train_set, test_set, steps=steps, batch=batch, opt=opt, same_share=same_share, seed=seed,
                 standardise=standardise, callback=callback)
    record.update(spec=spec.source, shared_weights=spec.shared_weights, data=source.label(),
                  optimizer=dict(name=optimizer_name, lr=lr, **options), init=init, dropout=dict(dropout or {}))
    if log is not None:
        write_json(log, record)
    return Session(record, log_file=None if log is None else str(log))


def check(spec, data_source="shapeset", images: int = 5000, batch: int = 32, log=None) -> None:
    """Refuse, before any work, a training run that cannot be done: a log path, the data, the memory."""
    if log is not None:
        check_log(log)
    data.check_shape(data_source, spec.input)
    check_memory(spec, images, batch)


def check_memory(spec, images: int, batch: int) -> None:
    """Refuse, before any work, a training run this machine cannot hold (one line, a DeriveError)."""
    from derive.runtime import tuning
    from derive.shapes import working_set

    h, w, c = spec.input
    data = 4 * 2 * (images + min(images, 2000)) * h * w * c  # float32 images, standardised copies too
    step = max(working_set(spec, batch, 4), working_set(spec, 256, 4, backward=False))  # a step, a chunk of D
    tuning.check_memory(data + step, f"training {batch} pairs a step on {images} images")


def check_log(path) -> None:
    """Refuse, before training, a log path that cannot be written (a folder, a device, in a missing folder)."""
    _log_target(path)
