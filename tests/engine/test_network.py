"""The NumPy network: every gradient against float64 central differences and PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest

from derive.engine import layers as ops
from derive.engine import network as N
from derive.errors import DeriveError
from derive.spec import default_spec, parse

STEP = 1e-6  # central-difference step (float64)
# Fixed tolerances: the relative one covers the O(h²) truncation, the absolute one the rounding of
# a difference of two losses, c·ε·|L|/h. A kink crossing is detected and reported, never absorbed.
RTOL = 1e-6
ROUNDING = 64 * np.finfo(np.float64).eps / STEP
ENTRIES = 3  # sampled entries per tensor for the element-wise checks

# Every layer kind and activation, non-square kernels, strides, SAME (asymmetric) and VALID padding.
SPEC_A = """
input = [7, 6, 2]
prelu = "channel"
[[layer]]
name = "C1"
type = "conv"
kernel = [3, 2]
stride = [2, 1]
filters = 3
activation = "prelu"
[[layer]]
name = "P"
type = "maxpool"
size = 2
[[layer]]
name = "D1"
type = "dense"
units = 5
activation = "tanh"
[[layer]]
name = "D2"
type = "dense"
units = 3
activation = "linear"
"""

SPEC_B = """
input = [8, 9, 3]
prelu = "element"
[[layer]]
name = "C1"
type = "conv"
kernel = [2, 3]
padding = "valid"
filters = 2
activation = "relu"
[[layer]]
name = "C2"
type = "conv"
kernel = 3
stride = [1, 2]
filters = 3
activation = "sigmoid"
[[layer]]
name = "C3"
type = "conv"
kernel = 2
stride = 2
padding = "valid"
filters = 2
activation = "prelu"
[[layer]]
name = "D1"
type = "dense"
units = 6
activation = "relu"
[[layer]]
name = "D2"
type = "dense"
units = 2
activation = "linear"
"""

# Overlapping max-pool windows, a 1x1 convolution, a network that ends without a dense layer.
SPEC_C = """
input = [9, 9, 2]
prelu = "scalar"
[[layer]]
name = "C1"
type = "conv"
kernel = 3
filters = 3
activation = "tanh"
[[layer]]
name = "P"
type = "maxpool"
size = 3
stride = 2
[[layer]]
name = "C2"
type = "conv"
kernel = 1
filters = 3
activation = "prelu"
[[layer]]
name = "C3"
type = "conv"
kernel = 2
padding = "valid"
filters = 2
activation = "linear"
"""


def batch(net, n=8, seed=1, calibrate=True):
    """Random pairs, half of each label, and (``calibrate``) the network calibrated on them."""
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(net.spec.input)
    x1, x2, l = rng.standard_normal(shape), rng.standard_normal(shape), np.array([0, 1] * (n // 2))
    if calibrate:
        calibrated(net, x1, x2, l)
    return x1, x2, l


def calibrated(net, x1, x2, l, masks=None):
    """Scale the last layer so that the different-label pairs fall on both sides of the kink D = 1.

    The two branches' last biases are made equal first, so that D depends on the inputs only.
    """
    last = net.names[-1]
    keys = sorted({net.key(last, 0), net.key(last, 1)})
    net.params[keys[-1] + ".b"][...] = net.params[keys[0] + ".b"]
    D = net.forward(x1, x2, l, masks=masks).D
    scale = 1 / np.sqrt(np.median(D[l == 1]))  # D grows as the square of the last layer's scale
    for key in keys:
        net.params[key + ".W"] *= scale
        net.params[key + ".b"] *= scale
    return net


def pattern(net, cache):
    """Which side of every kink the pass lies on: ReLU/PReLU signs, max-pool choices, hinge."""
    out = []
    for b in (0, 1):
        for layer in net.layers:
            if layer.activation in ("relu", "prelu"):
                out.append(cache.o[b][layer.name] > 0)
            if layer.type == "maxpool":
                out.append(cache.ctx[b][layer.name][0])
    out.append(cache.D < 1)
    return out


def same_pattern(p, q):
    return all(np.array_equal(a, b) for a, b in zip(p, q))


def fd_check(net, x1, x2, l, grads, masks=None, seed=0, entries=ENTRIES):
    """Central differences on every parameter tensor: one random direction + sampled entries.

    Returns (failures, crossings, checks): failures name the key and entry; a perturbation that
    moves any kink is not compared but listed in ``crossings``.
    """
    rng = np.random.default_rng(seed)
    base = pattern(net, net.forward(x1, x2, l, masks=masks))
    failures, crossings, checks = [], [], 0
    for key, p in net.params.items():
        picked = rng.choice(p.size, min(entries, p.size), replace=False)
        idx = [np.unravel_index(k, p.shape) if p.ndim else () for k in picked]
        directions = [("random direction", rng.standard_normal(p.shape))]
        for i in idx:
            e = np.zeros(p.shape)
            e[i] = 1
            directions.append((f"entry {i}", e))
        for where, u in directions:
            losses, patterns = [], []
            for sign in (1, -1):
                net.params[key] = p + sign * STEP * u
                c = net.forward(x1, x2, l, masks=masks)
                losses.append(c.loss)
                patterns.append(pattern(net, c))
            net.params[key] = p
            if not (same_pattern(base, patterns[0]) and same_pattern(base, patterns[1])):
                crossings.append(f"{key} {where}")
                continue
            fd = (losses[0] - losses[1]) / (2 * STEP)
            bp = float(np.sum(grads[key] * u))
            checks += 1
            if not abs(fd - bp) <= ROUNDING * max(map(abs, losses)) + RTOL * abs(fd):
                failures.append(f"{key} {where}: finite difference {fd:.10g}, backprop {bp:.10g}")
    return failures, crossings, checks


def assert_alive(net, cache):
    """The check must exercise every path: both signs at every ReLU/PReLU, distinct distances."""
    for b in (0, 1):
        for layer in net.layers:
            if layer.activation in ("relu", "prelu"):
                o = cache.o[b][layer.name]
                assert (o > 0).any() and (o < 0).any(), f"branch {b}, layer {layer.name}: one-signed"
    assert np.unique(cache.D).size == cache.D.size


def assert_fd(net, x1, x2, l, masks=None, **kw):
    cache = net.forward(x1, x2, l, masks=masks)
    assert_alive(net, cache)
    grads = net.backward(cache)
    assert list(grads) == list(net.params)
    failures, crossings, checks = fd_check(net, x1, x2, l, grads, masks, **kw)
    assert not failures, "\n".join(failures)
    # kinks must stay rare, or the check would certify little: at most one perturbation in ten
    assert checks >= 10 * len(crossings), f"too many kink crossings: {crossings}"
    return checks


@pytest.mark.parametrize("text", [SPEC_A, SPEC_B, SPEC_C], ids=["A", "B", "C"])
@pytest.mark.parametrize("shared", [False, True], ids=["untied", "tied"])
def test_gradients_match_finite_differences(text, shared):
    net = N.Network(parse(text).with_options(shared=shared), seed=3)
    assert assert_fd(net, *batch(net)) > 0


@pytest.mark.parametrize("convention", ["scalar", "channel", "element"])
def test_prelu_slopes_under_each_convention(convention):
    net = N.Network(parse(SPEC_A).with_options(prelu=convention), seed=4)
    expected = {"scalar": (), "channel": (3,), "element": (4, 6, 3)}[convention]
    assert net.params["C1.a"].shape == expected
    assert np.all(net.params["C1.a"] == 0.25)
    assert_fd(net, *batch(net))


@pytest.mark.parametrize("shared", [False, True], ids=["untied", "tied"])
def test_gradients_with_dropout_masks_held_fixed(shared):
    net = N.Network(parse(SPEC_B).with_options(shared=shared), seed=5, dropout={"C2": 0.3, "D1": 0.5})
    x1, x2, l = batch(net, calibrate=False)
    cache = net.forward(x1, x2, l, train=True)
    masks = cache.masks
    calibrated(net, x1, x2, l, masks)
    assert set(masks[0]) == set(masks[1]) == {"C2", "D1"}
    assert not np.array_equal(masks[0]["C2"], masks[1]["C2"])  # independent masks per branch
    assert set(np.unique(masks[0]["D1"])) <= {0.0, 2.0}  # inverted scaling 1/(1 - p)
    assert_fd(net, x1, x2, l, masks=masks)


def kl_net(reading, shared=False):
    """A network with the KL term on its last layer, a calibrated batch, and every ρ̂ at 0.5."""
    net = N.Network(parse(SPEC_A).with_options(shared=shared), seed=6,
                    kl=N.KL(layer="D2", rho=0.1, beta=0.7, reading=reading))
    x1, x2, l = batch(net)
    # the same shift on both branches' biases leaves D alone and moves the literal ρ̂ to 0.5
    shift = 0.5 - net.forward(x1, x2, l).out[0]["D2"].mean(axis=0)
    for key in {net.key("D2", 0), net.key("D2", 1)}:
        net.params[key + ".b"] += shift
    return net, (x1, x2, l)


@pytest.mark.parametrize("reading", ["literal", "sigmoid"])
@pytest.mark.parametrize("shared", [False, True], ids=["untied", "tied"])
def test_gradients_with_the_kl_term(reading, shared):
    net, (x1, x2, l) = kl_net(reading, shared)
    cache = net.forward(x1, x2, l)
    np.testing.assert_allclose(cache.rho_hat, 0.5 if reading == "literal" else cache.rho_hat)
    assert cache.kl_defined and cache.kl > 0
    assert cache.loss == pytest.approx(cache.pair_loss + cache.kl)
    assert_fd(net, x1, x2, l)


def test_literal_kl_reading_reports_undefined_rho_hat():
    net, pairs = kl_net("literal")
    net.params["D2.b"][0] -= 1.0  # ρ̂ of unit 0 falls from 0.5 to -0.5: log of a negative number
    cache = net.forward(*pairs)
    assert not cache.kl_defined
    assert np.isnan(cache.loss) and np.isnan(cache.kl) and np.isfinite(cache.pair_loss)
    assert cache.rho_hat[0] == pytest.approx(-0.5)
    assert np.isnan(net.backward(cache)["D2.W"]).any()
    sig, pairs = kl_net("sigmoid")
    sig.params["D2.b"][0] -= 1.0
    assert sig.forward(*pairs).kl_defined  # the sigmoid reading stays defined


def test_checker_names_a_wrong_gradient():
    net = N.Network(parse(SPEC_A), seed=7)
    x1, x2, l = batch(net)
    grads = net.backward(net.forward(x1, x2, l))
    grads["D1'.b"] = grads["D1'.b"] * 1.001
    failures, _, _ = fd_check(net, x1, x2, l, grads)
    assert failures and all(f.startswith("D1'.b") for f in failures)


def test_kink_crossing_is_detected_not_compared():
    net = N.Network(parse(SPEC_A), seed=8)
    x1, x2, l = batch(net)
    cache = net.forward(x1, x2, l)
    # put one pair exactly on the hinge's kink D = 1 by scaling the last layer
    scale = np.sqrt(1 / cache.D[1])
    net.params["D2.W"] *= scale
    net.params["D2'.W"] *= scale
    net.params["D2.b"] *= scale
    net.params["D2'.b"] *= scale
    grads = net.backward(net.forward(x1, x2, l))
    _, crossings, _ = fd_check(net, x1, x2, l, grads)
    assert any(c.startswith("D2") for c in crossings)


def test_tied_gradients_add_both_branches():
    net = N.Network(parse(SPEC_B).with_options(shared=True), seed=9)
    cache = net.forward(*batch(net))
    total, split = net.backward(cache), net.backward(cache, split=True)
    assert all("'" not in k for k in total) and set(split) == set(total) | {k.replace(".", "'.") for k in total}
    for k in total:
        np.testing.assert_allclose(total[k], split[k] + split[k.replace(".", "'.")], rtol=1e-12, atol=1e-15)


def test_cache_exposes_what_the_other_modules_read():
    net = N.Network(default_spec(), seed=0)
    x1, x2, l = batch(net, n=2)
    c = net.forward(x1, x2, l)
    assert c.o[1]["L2"].shape == c.s[1]["L2"].shape == (2, 16, 16, 32)
    assert c.flat(0).shape == (2, 8 * 8 * 64)
    np.testing.assert_array_equal(c.flat(0), c.out[0]["L4"].reshape(2, -1))  # (h, w, c) order
    np.testing.assert_array_equal(c.s[0]["L1"], np.maximum(c.o[0]["L1"], 0))
    assert c.D.shape == (2,) and np.isclose(c.loss, np.mean(l * np.maximum(1 - c.D, 0) + (1 - l) * c.D))
    assert "L6'.W" in net.params and net.params["L5.W"].shape == (4096, 256) and net.params["L5.a"].shape == (256,)


def test_initialisations_follow_their_definitions():
    spec = default_spec()
    d = N.Network(spec, init="default", seed=1).params
    bound = 1 / np.sqrt(3 * 3 * 32)
    assert np.abs(d["L2.W"]).max() <= bound and np.abs(d["L2.W"]).max() > 0.99 * bound
    assert np.abs(d["L2.b"]).max() <= bound and np.any(d["L2.b"] != 0)
    g = N.Network(spec, init="glorot_normalized", seed=1).params
    bound = np.sqrt(6 / (3 * 3 * 32 + 3 * 3 * 64))
    assert np.abs(g["L3.W"]).max() <= bound and np.abs(g["L3.W"]).max() > 0.99 * bound and not g["L3.b"].any()
    s = N.Network(spec, init="glorot_standard", seed=1).params
    assert np.abs(s["L5.W"]).max() <= 1 / 64 and not s["L5.b"].any()
    h = N.Network(spec, init="he", seed=1).params
    assert h["L5.W"].std() == pytest.approx(np.sqrt(2 / 4096), rel=0.01)
    assert not np.array_equal(d["L1.W"], d["L1'.W"])  # untied branches start apart


def test_deterministic_by_seed_and_dtype():
    spec = default_spec()
    a, b = N.Network(spec, seed=2), N.Network(spec, seed=2)
    f = N.Network(spec, seed=2, dtype=np.float32)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert all(f.params[k].dtype == np.float32 for k in f.params)
    assert not np.array_equal(a.params["L1.W"], N.Network(spec, seed=3).params["L1.W"])
    x1, x2, l = batch(f, n=2)
    c = f.forward(x1, x2, l)
    assert c.o[0]["L5"].dtype == np.float32 and all(g.dtype == np.float32 for g in f.backward(c).values())


def test_bad_options_are_reported():
    spec = default_spec()
    with pytest.raises(DeriveError, match="unknown layer 'L9'"):
        N.Network(spec, dropout={"L9": 0.5})
    with pytest.raises(DeriveError, match=r"\[0, 1\)"):
        N.Network(spec, dropout={"L5": 1.0})
    with pytest.raises(DeriveError, match="initialisation"):
        N.Network(spec, init="xavier")
    with pytest.raises(DeriveError, match="rho"):
        N.KL(rho=1.5)
    with pytest.raises(DeriveError, match="threads"):
        N.Network(spec, threads=0)
    net = N.Network(spec)
    with pytest.raises(DeriveError, match="do not fit"):
        net.forward(np.zeros((1, 28, 28, 1)), np.zeros((1, 28, 28, 1)), [0])


def test_pair_loss_on_hand_computed_cases():
    a, b = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), np.array([[0.6, 0.8], [0.3, 0.4], [0.3, 0.4]])
    # D = ½·1 = 0.5 and ½·0.25 = 0.125; losses: l=1 → 1 - 0.5, l=1 → 1 - 0.125, l=0 → 0.125
    loss, D, ga, gb = ops.pair_loss(a, b, np.array([1, 1, 0]))
    np.testing.assert_allclose(D, [0.5, 0.125, 0.125])
    assert loss == pytest.approx((0.5 + 0.875 + 0.125) / 3)
    np.testing.assert_allclose(ga[2], (a[2] - b[2]) / 3)  # l = 0: dD/ds6 = s6 - s6'
    np.testing.assert_allclose(ga[0], -(a[0] - b[0]) / 3)  # l = 1, D < 1: -dD/ds6
    _, _, ga, gb = ops.pair_loss(np.array([[0.0]]), np.array([[np.sqrt(2)]]), np.array([1]))
    assert ga[0, 0] == 0 and gb[0, 0] == 0  # at the kink D = 1 the hinge's derivative is 0


def test_maxpool_matches_direct_loops_and_routes_ties_to_the_first():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 5, 3))
    o, ctx = ops.maxpool(x, (3, 2), (2, 2))
    for i in range(o.shape[1]):
        for j in range(o.shape[2]):
            np.testing.assert_array_equal(o[:, i, j], x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 2].max(axis=(1, 2)))
    flat = np.zeros((1, 2, 2, 1))
    _, ctx = ops.maxpool(flat, (2, 2), (2, 2))
    dx = ops.maxpool_grad(np.ones((1, 1, 1, 1)), ctx)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])


def test_agrees_with_pytorch_autograd():
    torch = pytest.importorskip("torch")
    from derive.engine.torch_twin import TorchTwin

    cases = [
        (parse(SPEC_A), {}, None),
        (parse(SPEC_C), {"P": 0.5}, N.KL("C2", 0.1, 0.5, "sigmoid")),  # KL on an inner layer
        (parse(SPEC_B).with_options(shared=True), {"C2": 0.4}, N.KL("D2", 0.1, 0.5, "sigmoid")),
        (default_spec().with_options(prelu="element"), {"L5": 0.5, "L6": 0.2}, N.KL("L6", 0.2, 0.3, "sigmoid")),
        (default_spec().with_options(shared=True, prelu="scalar"), {"L3": 0.3}, None),
    ]
    for spec, dropout, kl in cases:
        net = N.Network(spec, seed=11, dropout=dropout, kl=kl)
        x1, x2, l = batch(net, calibrate=False)
        masks = net.forward(x1, x2, l, train=True).masks
        cache = net.forward(x1, x2, l, masks=calibrated(net, x1, x2, l, masks) and masks)
        assert_alive(net, cache)
        grads = net.backward(cache)
        loss, tgrads = TorchTwin(net, torch.float64).grads(x1, x2, l, masks)
        assert cache.loss == pytest.approx(loss, rel=1e-12)
        assert list(tgrads) == list(grads)
        for k in grads:
            scale = np.abs(tgrads[k]).max()
            err = np.abs(grads[k] - tgrads[k]).max()
            assert err <= 1e-10 * scale, f"{spec.source} {k}: relative error {err / scale:.3g}"
