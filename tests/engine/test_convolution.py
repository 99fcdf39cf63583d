"""The fast convolution kernels against the plain reference, against direct loops and against PyTorch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from derive.engine import convolution as C
from derive.engine import layers as ops
from derive.engine import products

# (window, stride, padding, input (h, w, c)): SAME with the odd pixel after, VALID leaving rows unused,
# strides larger than the window, 1x1 windows, non-square everything
GEOMETRIES = [
    ((3, 3), (1, 1), "same", (9, 8, 3)),
    ((3, 3), (2, 2), "same", (9, 10, 5)),
    ((3, 2), (2, 1), "valid", (9, 7, 2)),
    ((2, 3), (1, 2), "same", (7, 9, 6)),
    ((5, 2), (3, 3), "same", (11, 10, 3)),
    ((1, 1), (2, 2), "same", (8, 8, 2)),
    ((1, 1), (1, 1), "valid", (5, 6, 1)),
    ((2, 2), (3, 3), "valid", (9, 9, 4)),
]
ACTS = ["relu", "prelu", "tanh", "linear", "sigmoid"]


def case(geometry, act, n=7, c_out=4, seed=0):
    kernel, stride, padding, shape = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape)
    W, b = rng.standard_normal(kernel + (shape[2], c_out)), rng.standard_normal(c_out)
    a = rng.uniform(0.1, 0.4, c_out) if act == "prelu" else None
    return x, W, b, a


def run(kind, geometry, act, x, W, b, a, g_seed=1, **kw):
    kernel, stride, padding, shape = geometry
    k = kind(kernel, stride, padding, shape, **kw)
    f, grad = ops.ACTIVATIONS[act]
    o, s, ctx = k.forward(C.padded(x, k.pads()), W, b, f, a)
    g = np.random.default_rng(g_seed).standard_normal(s.shape).astype(s.dtype)
    return k, o, s, k.backward(g, ctx, W, grad, o, s, a)


def close(got, ref):
    if ref is None:
        assert got is None
        return
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))


FAST = [(kind, g) for kind in (C.Blocked, C.Planes) for g in GEOMETRIES
        if kind is C.Blocked or C.Planes.applies(g[0], g[1], g[3])]


@pytest.mark.parametrize("kind,geometry", FAST, ids=lambda v: v.__name__ if isinstance(v, type) else
                         f"{v[0]}/{v[1]}/{v[2]}/{v[3]}")
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("block_bytes", [1, 4096, C.BLOCK_BYTES], ids=["1 image", "some", "all"])
def test_fast_kernels_match_the_plain_one(kind, geometry, act, block_bytes):
    x, W, b, a = case(geometry, act)
    _, o, s, ref = run(C.Plain, geometry, act, x, W, b, a)
    kern, o2, s2, got = run(kind, geometry, act, x, W, b, a, block_bytes=block_bytes)
    for mine, theirs in zip((o2, s2) + got, (o, s) + ref):
        close(mine, theirs)
    assert len(kern.blocks(len(x), 8)) == {1: len(x), C.BLOCK_BYTES: 1}.get(block_bytes, len(kern.blocks(len(x), 8)))


def test_the_kernel_choice_and_a_forward_that_keeps_no_pre_activation():
    assert type(C.kernel((3, 3), (1, 1), "same", (32, 32, 3))) is C.Planes
    assert type(C.kernel((3, 3), (2, 2), "same", (32, 32, 3))) is C.Blocked
    assert type(C.kernel((3, 3), (1, 1), "same", (16, 16, 32))) is C.Blocked
    geometry = GEOMETRIES[0]
    x, W, b, _ = case(geometry, "relu")
    for kind in (C.Blocked, C.Planes):
        k = kind(*geometry, block_bytes=4096)
        o, s, _ = k.forward(C.padded(x, k.pads()), W, b, ops.relu)
        none, s2, _ = k.forward(C.padded(x, k.pads()), W, b, ops.relu, keep=False)
        assert none is None and np.array_equal(s2, s) and np.array_equal(s, np.maximum(o, 0))


def test_input_gradient_by_phases_matches_the_scatter_of_every_tap():
    for kernel, stride, padding, shape in GEOMETRIES:
        plain = C.Plain(kernel, stride, padding, shape)
        rng = np.random.default_rng(3)
        W = rng.standard_normal(kernel + (shape[2], 3))
        do = rng.standard_normal((4,) + plain.out_hw + (3,))
        ref = plain._input_grad(do.reshape(-1, 3), W)
        close(C.input_grad(do, W, shape, stride, plain.pads()), ref)
        out = np.full((4,) + shape, np.nan)
        assert C.input_grad(do, W, shape, stride, plain.pads(), out=out) is out
        close(out, ref)


def test_input_gradient_over_every_small_geometry():
    # every window, stride and padding up to 5x3 / 3x2 on small inputs: the phase grids alias rows
    # and columns into the zero border where they can, and must never land on a kept one
    rng = np.random.default_rng(5)
    checked = 0
    for kh, kw, sh, sw, padding, h, w in itertools.product([1, 2, 3, 4, 5], [1, 3], [1, 2, 3], [1, 2],
                                                           ["same", "valid"], [5, 8, 9], [6, 7]):
        if padding == "valid" and (kh > h or kw > w):
            continue
        plain = C.Plain((kh, kw), (sh, sw), padding, (h, w, 2))
        W, do = rng.standard_normal((kh, kw, 2, 3)), rng.standard_normal((3,) + plain.out_hw + (3,))
        close(C.input_grad(do, W, (h, w, 2), (sh, sw), plain.pads()), plain._input_grad(do.reshape(-1, 3), W))
        checked += 1
    assert checked == 720


def direct(x, W, b, stride, pads):
    """Direct loops over output positions, written apart from any im2col."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    kh, kw, _, c_out = W.shape
    oh, ow = (xp.shape[1] - kh) // stride[0] + 1, (xp.shape[2] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw, :]
            out[:, i, j, :] = np.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


@pytest.mark.parametrize("kernel,stride,padding,expected_pads", [
    ((3, 3), (1, 1), "same", ((1, 1), (1, 1))),
    ((3, 3), (2, 2), "same", ((0, 1), (1, 1))),  # TensorFlow: the odd pixel after
    ((2, 3), (2, 1), "same", ((0, 0), (1, 1))),
    ((2, 3), (2, 2), "valid", ((0, 0), (0, 0))),
])
def test_conv_matches_direct_loops(kernel, stride, padding, expected_pads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 7, 3))
    W, b = rng.standard_normal(kernel + (3, 4)), rng.standard_normal(4)
    pads = ops.conv_pads(8, 7, kernel, stride, padding)
    assert pads == expected_pads  # computed by hand: total = (out - 1)·s + k - n
    o, _ = ops.conv(x, W, b, stride, padding)
    np.testing.assert_allclose(o, direct(x, W, b, stride, pads), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}/{g[1]}/{g[2]}/{g[3]}")
def test_every_kernel_matches_direct_loops(geometry):
    kernel, stride, padding, shape = geometry
    x, W, b, _ = case(geometry, "linear")
    ref = direct(x, W, b, stride, C.conv_pads(shape[0], shape[1], kernel, stride, padding))
    kinds = [C.Plain, C.Blocked] + ([C.Planes] if C.Planes.applies(kernel, stride, shape) else [])
    for kind in kinds:
        k = kind(kernel, stride, padding, shape)
        close(k.forward(C.padded(x, k.pads()), W, b, ops.linear)[0], ref)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}/{g[1]}/{g[2]}/{g[3]}")
def test_every_kernel_agrees_with_pytorch_autograd(geometry):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kernel, stride, padding, shape = geometry
    x, W, b, a = case(geometry, "prelu")
    (pt, pb), (pl, pr) = C.conv_pads(shape[0], shape[1], kernel, stride, padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    Wt = torch.tensor(W.transpose(3, 2, 0, 1), requires_grad=True)
    bt, at = torch.tensor(b, requires_grad=True), torch.tensor(a, requires_grad=True)
    st = F.prelu(F.conv2d(F.pad(xt, (pl, pr, pt, pb)), Wt, bt, stride=stride), at)
    g = np.random.default_rng(1).standard_normal(tuple(st.shape[i] for i in (0, 2, 3, 1)))
    st.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    ref = (xt.grad.numpy().transpose(0, 2, 3, 1), Wt.grad.numpy().transpose(2, 3, 1, 0), bt.grad.numpy(),
           at.grad.numpy())
    kinds = [C.Plain, C.Blocked] + ([C.Planes] if C.Planes.applies(kernel, stride, shape) else [])
    for kind in kinds:
        k = kind(kernel, stride, padding, shape, **({} if kind is C.Plain else {"block_bytes": 4096}))
        o, s, ctx = k.forward(C.padded(x, k.pads()), W, b, ops.prelu, a)
        np.testing.assert_allclose(s, st.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-11, atol=1e-11)
        for mine, theirs in zip(k.backward(g, ctx, W, ops.prelu_grad, o, s, a), ref):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10 * np.abs(theirs).max())


def test_float32_kernels_stay_close_to_float64():
    geometry = ((3, 3), (2, 2), "same", (16, 16, 8))
    x, W, b, a = case(geometry, "relu", n=5, c_out=8)
    _, _, s64, g64 = run(C.Blocked, geometry, "relu", x, W, b, a)
    f32 = [v.astype(np.float32) for v in (x, W, b)]
    _, _, s32, g32 = run(C.Blocked, geometry, "relu", *f32, a)
    assert s32.dtype == np.float32 and all(v.dtype == np.float32 for v in g32[:3])
    for mine, ref in zip((s32,) + g32[:3], (s64,) + g64[:3]):
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("a_order,b_order", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F")])
def test_matmul_add_accumulates_in_place_whatever_the_operands_layout(a_order, b_order):
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        a = np.asarray(rng.standard_normal((5, 3)), dtype=dtype, order=a_order)
        b = np.asarray(rng.standard_normal((3, 4)), dtype=dtype, order=b_order)
        c = rng.standard_normal((5, 4)).astype(dtype)
        expected = c + a @ b
        before = c.ctypes.data
        products.matmul_add(a, b, c)
        assert c.ctypes.data == before
        np.testing.assert_allclose(c, expected, rtol=1e-6 if dtype is np.float32 else 1e-13)


def test_the_products_clock_counts_products_only():
    a = np.ones((200, 200))
    with products.timing() as clock:
        products.matmul(a, a)
        np.sin(a)
    assert clock[0] > 0
    with products.timing() as idle:
        np.sin(a)
    assert idle[0] == 0.0
