"""Optimisers, the mixed training step, the training loop and the verification accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive import network as N
from derive import train as T
from derive.errors import DeriveError
from derive.spec import parse

TINY = """
input = [8, 8, 1]
[[layer]]
name = "C"
type = "conv"
kernel = 3
stride = 2
filters = 4
activation = "relu"
[[layer]]
name = "H"
type = "dense"
units = 8
activation = "prelu"
[[layer]]
name = "E"
type = "dense"
units = 4
activation = "linear"
"""


def test_alexnet_rule_is_figure_2():
    """Two steps by hand: v1 = -0.0005·ε·w0 - ε·g0, w1 = w0 + v1; v2 = 0.9·v1 - 0.0005·ε·w1 - ε·g1."""
    eps = 0.1
    w0, g0, g1 = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([-1.0, 2.0])
    params, opt = {"L.W": w0.copy(), "L.b": w0.copy()}, T.AlexNet(eps)
    opt.update(params, {"L.W": g0, "L.b": g0})
    v1 = -0.0005 * eps * w0 - eps * g0
    np.testing.assert_allclose(params["L.W"], w0 + v1, rtol=1e-15)
    np.testing.assert_allclose(params["L.b"], w0 - eps * g0, rtol=1e-15)  # no decay on biases by default
    w1 = w0 + v1
    opt.update(params, {"L.W": g1})
    v2 = 0.9 * v1 - 0.0005 * eps * w1 - eps * g1
    np.testing.assert_allclose(params["L.W"], w1 + v2, rtol=1e-15)
    every = {"L.b": w0.copy()}
    T.AlexNet(eps, decay="all").update(every, {"L.b": g0})
    np.testing.assert_allclose(every["L.b"], w0 + v1, rtol=1e-15)
    custom = {"L.W": w0.copy()}
    T.AlexNet(eps, momentum=0.5, weight_decay=0.01).update(custom, {"L.W": g0})
    np.testing.assert_allclose(custom["L.W"], w0 - 0.01 * eps * w0 - eps * g0, rtol=1e-15)


def test_sgd_and_mixed_step_take_a_grads_dict():
    net = N.Network(parse(TINY), seed=0)
    rng = np.random.default_rng(0)
    x1, x2, l = rng.random((4, 8, 8, 1)), rng.random((4, 8, 8, 1)), np.array([0, 1, 0, 1])
    grads = net.backward(net.forward(x1, x2, l))
    before = {k: v.copy() for k, v in net.params.items()}
    replaced = dict(grads, **{"E.W": np.ones_like(grads["E.W"])})  # e.g. a symbolic gradient
    T.step(net, replaced, T.SGD(0.5))
    np.testing.assert_allclose(net.params["E.W"], before["E.W"] - 0.5)
    np.testing.assert_allclose(net.params["C'.b"], before["C'.b"] - 0.5 * grads["C'.b"])
    with pytest.raises(KeyError, match="X.W"):
        T.step(net, {"X.W": np.zeros(1)}, T.SGD(0.1))


def test_one_step_lowers_the_loss_on_its_batch():
    net = N.Network(parse(TINY), seed=1)
    rng = np.random.default_rng(1)
    x1, x2, l = rng.random((8, 8, 8, 1)), rng.random((8, 8, 8, 1)), np.array([0, 1] * 4)
    c = net.forward(x1, x2, l)
    T.step(net, net.backward(c), T.SGD(1e-3))
    assert net.forward(x1, x2, l).loss < c.loss


def test_thresholds_and_accuracy():
    D = np.array([0.1, 0.2, 0.9, 1.5, 0.3])
    l = np.array([0, 0, 1, 1, 1])
    t = T.best_threshold(D, l)
    assert 0.2 < t <= 0.3 and T.accuracy(D, l, t) == 1.0
    assert T.accuracy(D, l, 0.0) == 0.6  # everything called "different"


def test_write_json_is_atomic(tmp_path):
    T.write_json(tmp_path / "log.json", {"b": 1, "a": [1.5]})
    assert json.loads((tmp_path / "log.json").read_text()) == {"a": [1.5], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["log.json"]
    with pytest.raises(DeriveError, match="cannot write"):
        T.write_json(tmp_path / "missing" / "log.json", {})


def test_bad_training_options():
    with pytest.raises(DeriveError, match="optimiser"):
        T.optimizer("adam", 0.1)
    with pytest.raises(DeriveError, match="weight decay"):
        T.AlexNet(0.1, decay="some")
