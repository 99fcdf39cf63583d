"""Shape propagation and per-layer parameter counts, each with the formula that gives it.

Pure integer arithmetic on a validated spec: no NumPy, no SymPy, so ``count-params`` stays light.
Padding follows TensorFlow: SAME gives ceil(n / s), VALID gives floor((n - k) / s) + 1;
max-pooling has no padding, as in Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.errors import DeriveError

if TYPE_CHECKING:
    from derive.spec import Layer, Spec

PRELU_CONVENTIONS = ("scalar", "channel", "element")

# Beyond these the "network" is no longer something one counts by hand or builds in memory.
MAX_PARAMS = 10**12
MAX_ELEMENTS = 10**12


def out_size(n: int, k: int, s: int, padding: str) -> int:
    """Output length of a window of size k and stride s sliding over n positions."""
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1 if n >= k else 0


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis; the extra pixel goes after."""
    total = max((out_size(n, k, s, "same") - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def layer_output(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of one layer given its input shape ((H, W, C) or (N,)); raises on impossible shapes."""
    if layer.type == "dense":
        return (layer.units,)
    if len(shape) != 3:
        raise DeriveError(f"layer '{layer.name}': a {layer.type} layer cannot follow a dense layer")
    h, w, c = shape
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    padding = layer.padding if layer.type == "conv" else "valid"
    for axis, n, k in (("height", h, kh), ("width", w, kw)):
        if padding == "valid" and k > n:
            what = "kernel" if layer.type == "conv" else "pool size"
            raise DeriveError(
                f"layer '{layer.name}': {what} {k} is larger than the input {axis} {n} "
                f"(padding 'valid' needs {what} <= input)"
            )
    oh, ow = out_size(h, kh, sh, padding), out_size(w, kw, sw, padding)
    if oh < 1 or ow < 1:
        raise DeriveError(f"layer '{layer.name}': the output size reaches 0 ({oh}x{ow})")
    return (oh, ow, layer.filters if layer.type == "conv" else c)


def propagate(input_shape: tuple[int, int, int], layers) -> list[tuple[int, ...]]:
    """Output shape of every layer, in order, from the input shape (H, W, C)."""
    shapes, shape = [], tuple(input_shape)
    for layer in layers:
        shape = layer_output(layer, shape)
        if _prod(shape) > MAX_ELEMENTS:
            raise DeriveError(
                f"layer '{layer.name}': output of {_prod(shape)} values, more than the {MAX_ELEMENTS:.0e} "
                "this tool accepts"
            )
        shapes.append(shape)
    return shapes


@dataclass(frozen=True)
class LayerCount:
    """Parameters and cost of one layer of one branch, with the formula that gives them."""

    name: str
    type: str
    activation: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    geometry: str
    weights: int
    biases: int
    prelu: int
    mult_adds: int
    formula: str

    @property
    def params(self) -> int:
        """Weights, biases and PReLU slopes of this layer."""
        return self.weights + self.biases + self.prelu


def prelu_slopes(shape: tuple[int, ...], convention: str) -> int:
    """Number of PReLU slopes for an activation of this output shape under a convention."""
    if convention == "scalar":
        return 1
    if convention == "channel":
        return shape[-1]
    return _prod(shape)


def count_layer(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...], prelu: str) -> LayerCount:
    """Count the parameters and mult-adds of one layer; the formula shows the numbers it multiplies."""
    slopes = prelu_slopes(out_shape, prelu) if layer.activation == "prelu" else 0
    if layer.type == "maxpool":
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        return LayerCount(layer.name, layer.type, layer.activation, in_shape, out_shape,
                          f"{kh}x{kw} /{sh}x{sw}", 0, 0, 0, 0, "0")
    if layer.type == "conv":
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        fan_in = f"{kh}·{kw}·{in_shape[2]}"
        weights = kh * kw * in_shape[2] * layer.filters
        biases = layer.filters
        mult_adds = out_shape[0] * out_shape[1] * weights
        geometry = f"{kh}x{kw} /{sh}x{sw} {layer.padding}"
    else:
        n_in = _prod(in_shape)
        fan_in = str(n_in) if len(in_shape) == 1 else "·".join(map(str, in_shape))
        weights = n_in * layer.units
        biases = layer.units
        mult_adds = weights
        geometry = "flatten" if len(in_shape) == 3 else ""
    formula = f"({fan_in} + 1)·{biases}"
    if slopes:
        formula += f" + {slopes}"
    formula += f" = {weights + biases + slopes}"
    return LayerCount(layer.name, layer.type, layer.activation, in_shape, out_shape, geometry,
                      weights, biases, slopes, mult_adds, formula)


def count(spec: Spec, prelu: str | None = None) -> list[LayerCount]:
    """Per-layer counts of one branch of a spec (optionally under another PReLU convention)."""
    convention = prelu or spec.prelu
    shapes = propagate(spec.input, spec.layers)
    ins = [tuple(spec.input)] + shapes[:-1]
    return [count_layer(layer, i, o, convention) for layer, i, o in zip(spec.layers, ins, shapes)]


def branch_params(spec: Spec, prelu: str | None = None) -> int:
    """Parameters of one branch."""
    return sum(c.params for c in count(spec, prelu))


def total_params(spec: Spec, shared: bool | None = None, prelu: str | None = None) -> int:
    """Parameters of the whole two-branch network: one branch if weights are shared, else two."""
    shared = spec.shared_weights if shared is None else shared
    return branch_params(spec, prelu) * (1 if shared else 2)


def working_set(spec: Spec, images: int, itemsize: int, *, backward: bool = True, copies: int = 4) -> int:
    """Bytes the engine allocates to run ``images`` images through both branches (and back, with ``backward``).

    An estimate from the shapes alone, to refuse before any work what no machine holds: the
    parameters of both branches ``copies`` times (weights, gradients, velocities, a copy), and per
    image what a layer keeps for the backward pass (its output, activation, im2col columns and
    padded input) plus the largest transient of one layer (the gradients going back through it).
    """
    shapes = propagate(spec.input, spec.layers)
    ins = [tuple(spec.input)] + shapes[:-1]
    kept = transient = 0
    for layer, i, o in zip(spec.layers, ins, shapes):
        out = _prod(o)
        cols = _prod(o[:2]) * layer.kernel[0] * layer.kernel[1] * i[2] if layer.type == "conv" else 0
        padded = _prod(i) * 2 if layer.type == "conv" else 0
        kept += 2 * out + cols + padded
        transient = max(transient, 3 * out + 2 * cols + _prod(i))
    params = sum(c.params for c in count(spec))
    per_image = kept + (transient if backward else 0)
    return itemsize * 2 * (copies * params + images * per_image)


def _prod(shape) -> int:
    out = 1
    for n in shape:
        out *= n
    return out
