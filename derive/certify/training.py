"""Training steps driven by the printed gradients, against the pure-backprop trajectory.

Two copies of the network take the same N steps of plain SGD on the same pairs: one with every
gradient from backprop, the other with the top layers' gradients replaced by the printed results
(evaluated on that copy's own forward pass at every step). The printed formulas are right only if
the two trajectories stay together to rounding error, and training must lower the loss, unless
the loss does not move at all where the network stands (dead or saturated units): the steps then
only show the two trajectories equal, and the report says so (``flat``).
"""

from __future__ import annotations

import numpy as np

from derive.certify import tensors
from derive.engine import train

STEPS = 5
LR = 0.002
TOLERANCE = 1e-10
# A network whose upper layer was scaled up (to spread D around the margin) can have so steep a loss
# that LR overshoots: the rate is then divided by ten, a few times, until the steps lower the loss.
SHRINK, TRIES = 10.0, 6
FLAT = 1e-12  # relative change of the loss below which it did not move at all


def replay(ctx, derivations, steps: int = STEPS, lr: float = LR) -> dict:
    """N SGD steps with printed gradients for the top layers and backprop for the rest, vs backprop alone.

    The first rate among lr, lr/10, ... whose steps lower the loss is kept (the last one tried if none).
    """
    for _ in range(TRIES):
        found = _replay(ctx, derivations, steps, lr)
        if found["loss_last"] < found["loss_first"] or found["flat"]:
            break
        lr /= SHRINK
    return found


def _replay(ctx, derivations, steps: int, lr: float) -> dict:
    plain, mixed = ctx.net.copy(), ctx.net.copy()
    opt_plain, opt_mixed = train.SGD(lr), train.SGD(lr)
    results = [r for d in derivations for r in d.results]
    losses, deviation = [], 0.0
    for _ in range(steps):
        cache = plain.forward(ctx.x1, ctx.x2, ctx.l)
        losses.append(float(cache.loss))
        train.step(plain, plain.backward(cache), opt_plain)
        cache = mixed.forward(ctx.x1, ctx.x2, ctx.l)
        grads = mixed.backward(cache)
        values, batched = tensors.bindings(ctx.graph, mixed, cache)
        for r in results:
            grads[r.param] = tensors.batch_mean(r, values, batched, mixed.params[r.param].shape)
        train.step(mixed, grads, opt_mixed)
        deviation = max(deviation, max(float(np.abs(plain.params[k] - mixed.params[k]).max()) for k in plain.params))
    last = float(plain.forward(ctx.x1, ctx.x2, ctx.l).loss)
    flat = all(abs(v - losses[0]) <= FLAT * max(1.0, abs(losses[0])) for v in [*losses, last])
    return {"steps": steps, "lr": lr, "max_trajectory_deviation": deviation, "loss_first": losses[0],
            "loss_last": last, "flat": flat, "ok": deviation <= TOLERANCE and (last < losses[0] or flat),
            "replaced": sorted(r.param for r in results)}
