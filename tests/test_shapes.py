"""Shape propagation and parameter counts, checked against PyTorch modules built from the same spec."""

import math

import pytest
from hypothesis import assume, given, settings
from specgen import spec_dicts, to_toml

from derive import shapes
from derive import spec as specmod
from derive.errors import DeriveError


@pytest.mark.parametrize("n, k, s", [(32, 3, 1), (32, 3, 2), (7, 3, 2), (5, 5, 3), (4, 7, 1), (1, 1, 1), (9, 2, 4)])
def test_out_size_matches_tensorflow_definitions(n, k, s):
    assert shapes.out_size(n, k, s, "same") == math.ceil(n / s)
    expected_valid = math.floor((n - k) / s) + 1 if n >= k else 0
    assert shapes.out_size(n, k, s, "valid") == expected_valid
    before, after = shapes.same_padding(n, k, s)
    out = math.ceil(n / s)
    # After padding, a VALID window covers exactly `out` positions, and the extra pixel goes after.
    assert (n + before + after - k) // s + 1 == out and after - before in (0, 1)


def test_default_counts_by_hand():
    counts = shapes.count(specmod.default_spec())
    assert [c.params for c in counts] == [
        (3 * 3 * 3 + 1) * 32,
        (3 * 3 * 32 + 1) * 32,
        (3 * 3 * 32 + 1) * 64,
        (3 * 3 * 64 + 1) * 64,
        (8 * 8 * 64 + 1) * 256 + 256,
        (256 + 1) * 32,
    ]
    assert counts[0].formula == "(3·3·3 + 1)·32 = 896"
    assert counts[4].formula == "(8·8·64 + 1)·256 + 256 = 1049088"
    assert counts[0].mult_adds == 32 * 32 * 3 * 3 * 3 * 32


def test_sharing_halves_and_prelu_conventions_differ_only_in_slopes():
    net = specmod.default_spec()
    branch = shapes.branch_params(net)
    assert shapes.total_params(net, shared=False) == 2 * branch
    assert shapes.total_params(net, shared=True) == branch
    assert shapes.branch_params(net, "channel") - shapes.branch_params(net, "scalar") == 256 - 1
    conv_prelu = specmod.parse(to_toml({"input": [6, 6, 1], "layer": [
        {"name": "C", "type": "conv", "kernel": 3, "filters": 4, "activation": "prelu"},
        {"name": "D", "type": "dense", "units": 2, "activation": "linear"}]}))
    assert [c.prelu for c in (shapes.count(conv_prelu, p)[0] for p in ("scalar", "channel", "element"))] == [1, 4, 144]


def test_dense_cannot_precede_conv_in_shape_propagation():
    layers = [specmod.Layer("D", "dense", units=4), specmod.Layer("C", "conv", "relu", (3, 3), filters=2)]
    with pytest.raises(DeriveError, match="cannot follow a dense layer"):
        shapes.propagate((8, 8, 1), layers)


# --- PyTorch twin: the counts must equal the sum of its parameter tensors, layer by layer.

def torch_layer_params(net, convention):
    """Per-layer (weights, biases, slopes) and output shapes of the same network built in PyTorch."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional
    x = torch.zeros(1, net.input[2], net.input[0], net.input[1])
    out = []
    for layer in net.layers:
        if layer.type == "conv":
            (kh, kw), (sh, sw) = layer.kernel, layer.stride
            module = nn.Conv2d(x.shape[1], layer.filters, (kh, kw), (sh, sw))
            if layer.padding == "same":
                (t, b), (lft, r) = shapes.same_padding(x.shape[2], kh, sh), shapes.same_padding(x.shape[3], kw, sw)
                x = F.pad(x, (lft, r, t, b))
            x = module(x)
            counted = (module.weight.numel(), module.bias.numel())
        elif layer.type == "maxpool":
            x = nn.MaxPool2d(layer.kernel, layer.stride)(x)
            counted = (0, 0)
        else:
            module = nn.Linear(x.numel(), layer.units)
            x = module(x.reshape(1, -1))
            counted = (module.weight.numel(), module.bias.numel())
        slopes = 0
        if layer.activation == "prelu":
            per = {"scalar": 1, "channel": x.shape[1], "element": x[0].numel()}[convention]
            slopes = nn.PReLU(per).weight.numel() if convention != "element" else x[0].numel()
        shape = tuple(x.shape[2:]) + (x.shape[1],) if x.dim() == 4 else (x.shape[1],)
        out.append((counted + (slopes,), shape))
    return out


@pytest.mark.parametrize("convention", ["scalar", "channel", "element"])
def test_default_spec_counts_equal_pytorch(convention):
    net = specmod.default_spec()
    twin = torch_layer_params(net, convention)
    ours = shapes.count(net, convention)
    assert [(c.weights, c.biases, c.prelu) for c in ours] == [t[0] for t in twin]
    assert [c.output_shape for c in ours] == [t[1] for t in twin]


@settings(max_examples=300, deadline=None)
@given(spec_dicts())
def test_random_valid_specs_count_like_pytorch(data):
    try:
        net = specmod.parse(to_toml(data))
    except DeriveError:
        assume(False)
    for convention in ("scalar", "channel", "element"):
        twin = torch_layer_params(net, convention)
        ours = shapes.count(net, convention)
        assert [(c.weights, c.biases, c.prelu) for c in ours] == [t[0] for t in twin]
        assert [c.output_shape for c in ours] == [t[1] for t in twin]
        branch = sum(sum(t[0]) for t in twin)
        assert shapes.total_params(net, shared=True, prelu=convention) == branch
        assert shapes.total_params(net, shared=False, prelu=convention) == 2 * branch
