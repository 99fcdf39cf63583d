"""The plain deep MLP of the gradient-flow experiments: every gradient against central differences."""

import numpy as np
import pytest

from derive.experiments import mlp

H = 1e-6


def fd_error(net, x, y):
    """Worst relative error of dC/dW (random directions) and dC/do (entries) against central differences."""
    rng = np.random.default_rng(1)
    trace = mlp.backprop(net, x, y)
    worst = 0.0
    for i, W in enumerate(net.W):
        V = rng.standard_normal(W.shape)
        W += H * V
        up = mlp.cost(net, x, y)
        W -= 2 * H * V
        down = mlp.cost(net, x, y)
        W += H * V
        fd, exact = (up - down) / (2 * H), float(np.sum(trace.grad_W[i] * V))
        worst = max(worst, abs(fd - exact) / max(abs(exact), 1e-4))
    # dC/do of the first hidden layer through the bias (o = s W + b): sum over the batch
    for k in range(2):
        net.b[0][k] += H
        up = mlp.cost(net, x, y)
        net.b[0][k] -= 2 * H
        down = mlp.cost(net, x, y)
        net.b[0][k] += H
        exact = float(trace.grad_pre[0][:, k].sum())
        worst = max(worst, abs((up - down) / (2 * H) - exact) / max(abs(exact), 1e-4))
    return worst


def small(act, bn, res, seed=0):
    rng = np.random.default_rng(seed)
    net = mlp.build([7, 5, 5, 5, 3], act, "glorot_normalized", rng, batchnorm=bn, residual=res)
    for b in net.b:
        b[:] = 0.3 * rng.standard_normal(b.shape)
    return net, rng.standard_normal((6, 7)), rng.integers(0, 3, 6)


@pytest.mark.parametrize("act", mlp.ACTIVATIONS)
@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("res", [False, True])
def test_gradients_match_finite_differences(act, bn, res):
    assert fd_error(*small(act, bn, res)) < 1e-5


def test_a_wrong_derivative_is_caught(monkeypatch):
    right = mlp._act

    def wrong(name, o):
        s, d = right(name, o)
        return s, (d * 1.1 if name == "tanh" else d)

    monkeypatch.setattr(mlp, "_act", wrong)
    assert fd_error(*small("tanh", False, False)) > 1e-3


def test_initialisations_have_their_variance():
    rng = np.random.default_rng(0)
    n_in, n_out = 400, 300
    assert mlp.init_weight(rng, n_in, n_out, "glorot_standard").var() == pytest.approx(1 / (3 * n_in), rel=0.03)
    assert mlp.init_weight(rng, n_in, n_out, "glorot_normalized").var() == pytest.approx(2 / (n_in + n_out), rel=0.03)
    assert mlp.init_weight(rng, n_in, n_out, "he").var() == pytest.approx(2 / n_in, rel=0.03)
    with pytest.raises(ValueError, match="unknown initialisation"):
        mlp.init_weight(rng, 2, 2, "zeros")
    with pytest.raises(ValueError, match="unknown activation"):
        mlp.build([2, 2], "softsign", "he", rng)
