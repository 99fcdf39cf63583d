"""What several experiments share: their data, the training recipe of the exam network, figure making.

The data source and its images come from :mod:`derive.data` (``labelled_images`` is re-exported here
for the experiments that draw images directly).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import hashlib
import json

from derive.engine.data import (
    labelled_images,  # experiments that draw images directly call it as common.labelled_images
)


@contextlib.contextmanager
def plotting():
    """Matplotlib's default style whatever the user's matplotlibrc says, so figures are reproducible."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw):
    """A figure (no pyplot state) and its axes, as ``plt.subplots`` would give them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def localised(fig, lang: str):
    """The figure with its linear axes' tick labels in the language's number style (a decimal comma in French).

    The labels are rewritten by a formatter, not read from a system locale, so the bytes do not
    depend on the machine; an offset ("1e-2" beside the axis) is never used.
    """
    from matplotlib.ticker import ScalarFormatter

    if lang != "fr":
        return fig

    class Comma(ScalarFormatter):
        def __call__(self, x, pos=None):
            return super().__call__(x, pos).replace(".", ",")

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:
                axis.set_major_formatter(Comma(useOffset=False))
    return fig


def grey_images(n: int, seed: int):
    """``n`` grey 32x32 Shapeset images flattened to (n, 1024) float64, their labels and the class count."""
    import numpy as np

    from derive.engine import data

    x, y = data.shapeset(n, seed=seed, color=False, dtype=np.float64)
    return x.reshape(n, -1), y, len(data.CLASSES)


# The training recipe shared by the experiments that train the exam network: Glorot's normalized
# initialisation (on standardised inputs it starts D near 0.3, below the margin; He's starts it
# near 100 and the first steps blow up), heavy-ball momentum without decay.
RECIPE = {"init": "glorot_normalized", "lr": 0.01, "momentum": 0.9, "batch": 32, "same_share": 0.5, "dtype": "float32"}


def exam_data(ctx, n_train: int, n_test: int):
    """Training and held-out images of the exam network, standardised per channel on the training set.

    Several experiments train on the same sets: a process draws each set once and hands out
    read-only arrays (the source's key holds its files' sizes and times, so new files are new sets).
    """
    return _exam_data(ctx.data, json.dumps(ctx.data.key()), n_train, n_test, ctx.seed, ctx.spec.input)


@functools.lru_cache(maxsize=2)
def _exam_data(source, source_key: str, n_train: int, n_test: int, seed: int, shape: tuple):
    from derive.engine import train

    (x, y), (xt, yt), _ = train.standardised(labelled_images(source, n_train, seed, "train", shape),
                                             labelled_images(source, n_test, seed, "test", shape))
    for array in (x, y, xt, yt):
        array.setflags(write=False)
    return x, y, xt, yt


def network(spec, seed: int, **options):
    """The exam network under the shared recipe (float32, Glorot's normalized initialisation); its branches
    run in two threads when this process has two cores to itself (the results are the same either way)."""
    import numpy as np

    from derive.engine.network import Network
    from derive.runtime import tuning

    return Network(spec, dtype=np.dtype(RECIPE["dtype"]).type, init=RECIPE["init"], seed=seed,
                   threads=tuning.branch_threads(), **options)


def momentum(lr: float | None = None, weight_decay: float = 0.0, mu: float | None = None):
    """AlexNet's update rule with the recipe's rate and momentum (no weight decay unless asked)."""
    from derive.engine import train

    return train.AlexNet(RECIPE["lr"] if lr is None else lr, momentum=RECIPE["momentum"] if mu is None else mu,
                         weight_decay=weight_decay)


def train_run(ctx, label: str, net, sets, *, steps: int, opt, every: int = 0, probe=None, eval_pairs: int = 1000):
    """Train on pairs of the training set; ``probe(net, step)`` records a checkpoint every ``every`` steps.

    Returns the loss of every step, the checkpoints, and the held-out verification (threshold on D
    fitted on training pairs, accuracy on held-out pairs, mean D of same- and different-label pairs).
    Several experiments train the same recipe: a run without probe that this process has already
    done (same network, weights, optimiser, data, seed and steps; probes only observe) is not redone,
    the network takes that run's final weights and the record is that run's (without checkpoints).
    The optimiser's state is then not advanced.
    """
    from derive.engine import data, train

    key = _run_key(net, sets, steps, opt, eval_pairs, ctx.seed)
    if probe is None and key in _DONE:
        weights, rng_state, record = _DONE[key]
        net.params.update({k: v.copy() for k, v in weights.items()})
        net.rng.bit_generator.state = copy.deepcopy(rng_state)
        return copy.deepcopy(record)
    x, y, xt, yt = sets
    checkpoints = [probe(net, 0)] if probe else []
    with ctx.bar(label, steps) as bar:
        def after(entry):
            bar.update(1)
            t = entry["step"] + 1
            if probe and every and (t % every == 0 or t == steps):
                checkpoints.append(probe(net, t))

        log = train.train(net, x, y, steps=steps, batch=RECIPE["batch"], opt=opt,
                          same_share=RECIPE["same_share"], seed=ctx.seed, callback=after)
    i, j, l = data.pair_indices(y, eval_pairs, same_share=0.5, rng=ctx.rng(8))
    threshold = train.best_threshold(train.distances(net, x[i], x[j]), l)
    held = train.verification(net, xt, yt, eval_pairs, threshold=threshold, seed=ctx.seed)
    record = {"loss": [e["loss"] for e in log], "checkpoints": [], "held_out": held}
    _DONE[key] = ({k: v.copy() for k, v in net.params.items()}, copy.deepcopy(net.rng.bit_generator.state),
                  copy.deepcopy(record))
    while len(_DONE) > KEEP_RUNS:
        _DONE.popitem(last=False)
    return {**record, "checkpoints": checkpoints}


KEEP_RUNS = 8  # finished runs a process remembers (final weights: a few MB each)
_DONE: collections.OrderedDict = collections.OrderedDict()


def _run_key(net, sets, steps: int, opt, eval_pairs: int, seed: int) -> str:
    """A digest of everything a training run's outcome depends on (the code aside: one process runs one version)."""
    import dataclasses

    import numpy as np

    digest = hashlib.sha256()
    state = {"spec": {k: v for k, v in dataclasses.asdict(net.spec).items() if k != "source"},
             "tied": net.tied, "dtype": str(net.dtype), "dropout": sorted(net.dropout.items()),
             "kl": net.kl and dataclasses.asdict(net.kl), "rng": net.rng.bit_generator.state,
             "opt": [type(opt).__name__, {k: v for k, v in vars(opt).items() if k != "velocity"},
                     sorted(getattr(opt, "velocity", {}))],
             "steps": steps, "recipe": RECIPE, "eval_pairs": eval_pairs, "seed": seed}
    digest.update(json.dumps(state, sort_keys=True, default=str).encode())
    for array in [net.params[k] for k in sorted(net.params)] + list(sets):
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


def smooth(values, window: int):
    """Moving average (valid part) for plotting noisy per-step losses."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")
