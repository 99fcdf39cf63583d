"""The architecture spec: frozen dataclasses, TOML loading and validation, the default spec.

A spec is a TOML file; ``derive/specs/exam.toml`` is the documented default, a reconstruction
of the exam's missing figure. Every problem found is reported as one line naming the layer,
the field and what was expected, through :class:`~derive.errors.DeriveError`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from derive.errors import DeriveError, printable, quote
from derive.shapes import MAX_PARAMS, PRELU_CONVENTIONS, branch_params, propagate

LAYER_TYPES = ("conv", "maxpool", "dense")
ACTIVATIONS = ("relu", "prelu", "linear", "tanh", "sigmoid")
PADDINGS = ("same", "valid")
MAX_SIZE = 2**20
MAX_SPEC_BYTES = 2**20   # a spec is a few dozen lines; a larger file is not one
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")

TOP_FIELDS = {"input", "shared_weights", "prelu", "layer"}
REQUIRED = {
    "conv": ("name", "type", "kernel", "filters", "activation"),
    "maxpool": ("name", "type", "size"),
    "dense": ("name", "type", "units", "activation"),
}
OPTIONAL = {"conv": ("stride", "padding"), "maxpool": ("stride", "activation"), "dense": ()}


@dataclass(frozen=True)
class Layer:
    """One layer of a branch. ``kernel`` is the pooling window for maxpool layers."""

    name: str
    type: str
    activation: str = "linear"
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] = (1, 1)
    padding: str = "same"
    filters: int | None = None
    units: int | None = None


@dataclass(frozen=True)
class Spec:
    """A two-branch network: the input shape, one branch's layers, weight sharing and PReLU convention."""

    input: tuple[int, int, int]
    layers: tuple[Layer, ...]
    shared_weights: bool = False
    prelu: str = "channel"
    source: str = field(default="<spec>", compare=False)

    def with_options(self, shared: bool | None = None, prelu: str | None = None) -> Spec:
        """The same spec with weight sharing and/or the PReLU convention overridden."""
        if prelu is not None and prelu not in PRELU_CONVENTIONS:
            raise DeriveError(f"unknown PReLU convention '{prelu}' (expected one of {', '.join(PRELU_CONVENTIONS)})")
        return dataclasses.replace(
            self,
            shared_weights=self.shared_weights if shared is None else shared,
            prelu=self.prelu if prelu is None else prelu,
        )

    def shapes(self) -> list[tuple[int, ...]]:
        """Output shape of every layer of one branch."""
        return propagate(self.input, self.layers)

    def render(self, fmt: str = "text") -> str:
        """What ``derive spec FILE`` prints: the input and each layer's type, activation and output shape."""
        h, w, c = self.input
        lines = [f"{self.source}: valid, input {h}x{w}x{c}, {len(self.layers)} layers"]
        lines += [f"  {layer.name:<8} {layer.type:<8} {layer.activation:<8} -> {'x'.join(map(str, shape))}"
                  for layer, shape in zip(self.layers, self.shapes())]
        return "\n".join(lines) + "\n"


def default_spec_text() -> str:
    """The TOML text of the default spec (the reconstruction of the exam's figure)."""
    return resources.files("derive").joinpath("specs/exam.toml").read_text(encoding="utf-8")


def default_spec() -> Spec:
    """The default spec, parsed from the file shipped inside the package."""
    return parse(default_spec_text(), "exam.toml (default)")


def load(path: str | Path | None) -> Spec:
    """Read and validate a spec file; ``None`` gives the default spec."""
    if path is None:
        return default_spec()
    path = Path(path)
    text = read_text_file(path, "spec file", MAX_SPEC_BYTES)
    return parse(text, printable(str(path)))


def read_text_file(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes (see :func:`read_file`)."""
    data = read_file(path, what, limit)
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is not TOML's first key
    except UnicodeDecodeError:
        raise DeriveError(f"{printable(str(path))}: not a UTF-8 text file") from None


def read_file(path: Path, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; a FIFO, a device or a folder is refused.

    The file is opened without blocking (a FIFO with no writer would wait forever), then checked;
    every problem is a DeriveError naming the file as ``what``.
    """
    where = printable(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DeriveError(f"{where}: no such {what}") from None
    except IsADirectoryError:
        raise DeriveError(f"{where}: is a directory, not a {what}") from None
    except OSError as exc:
        raise DeriveError(f"{where}: cannot read the {what} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise DeriveError(f"{where}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise DeriveError(f"{where}: not a regular file (a {what} is read from a file, not a pipe or a device)")
        if info.st_size > limit:
            raise DeriveError(f"{where}: {info.st_size} bytes, larger than the {limit} a {what} may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise DeriveError(f"{where}: cannot read the {what} ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise DeriveError(f"{where}: larger than the {limit} bytes a {what} may have")
    return data


def parse(text: str, source: str = "<spec>") -> Spec:
    """Parse and validate the TOML text of a spec."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeriveError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise DeriveError(f"{source}: values nested too deeply for a spec") from None
    problems: list[str] = []
    spec = _build(data, problems, source)
    if problems:
        raise DeriveError(*(f"{source}: {p}" for p in problems))
    try:
        spec.shapes()
        n = branch_params(spec)
    except DeriveError as exc:
        raise DeriveError(*(f"{source}: {p}" for p in exc.problems)) from None
    if n > MAX_PARAMS:
        raise DeriveError(f"{source}: one branch would have {n} parameters, more than the {MAX_PARAMS:.0e} "
                          "this tool accepts")
    return spec


def _build(data: dict, problems: list[str], source: str) -> Spec:
    for key in sorted(set(data) - TOP_FIELDS):
        problems.append(f"unknown top-level field '{key}' (expected {', '.join(sorted(TOP_FIELDS))})")
    shape = _int_list(data.get("input"), 3, "input", "[height, width, channels]", problems)
    shared = data.get("shared_weights", False)
    if not isinstance(shared, bool):
        problems.append(f"field 'shared_weights' must be true or false, got {shared!r}")
        shared = False
    prelu = data.get("prelu", "channel")
    if prelu not in PRELU_CONVENTIONS:
        problems.append(f"field 'prelu' must be one of {', '.join(PRELU_CONVENTIONS)}, got {prelu!r}")
        prelu = "channel"
    tables = data.get("layer")
    if tables is None or tables == []:
        problems.append("no layers: add at least one [[layer]] table")
        tables = []
    elif not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append("'layer' must be an array of tables, written [[layer]]")
        tables = []
    layers, names, seen_dense = [], set(), False
    for i, table in enumerate(tables, 1):
        layer = _layer(table, i, problems)
        if layer is None:
            continue
        if layer.name in names:
            problems.append(f"layer {i}: name {quote(layer.name)} is used twice")
        names.add(layer.name)
        if layer.type != "dense" and seen_dense:
            problems.append(f"layer {i} ({quote(layer.name)}): a {layer.type} layer cannot follow a dense layer")
        seen_dense |= layer.type == "dense"
        layers.append(layer)
    return Spec(shape or (1, 1, 1), tuple(layers), shared, prelu, source)


def _layer(table: dict, i: int, problems: list[str]) -> Layer | None:
    name = table.get("name")
    where = f"layer {i}" + (f" ({quote(name)})" if isinstance(name, str) else "")
    before = len(problems)
    kind = table.get("type")
    if kind not in LAYER_TYPES:
        problems.append(f"{where}: field 'type' must be one of {', '.join(LAYER_TYPES)}, got {kind!r}"
                        if kind is not None else f"{where}: missing field 'type' ({', '.join(LAYER_TYPES)})")
        return None
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    for key in sorted(set(table) - allowed):
        problems.append(f"{where}: unknown field '{key}' for a {kind} layer (expected {', '.join(sorted(allowed))})")
    for key in REQUIRED[kind]:
        if key not in table:
            problems.append(f"{where}: missing field '{key}'")
    if "name" in table and (not isinstance(name, str) or not NAME.fullmatch(name)):
        problems.append(f"{where}: field 'name' must be 1-32 letters, digits, '_' or '-' starting with a letter "
                        f"(the second branch adds a prime), got {name!r}")
    activation = table.get("activation", "linear")
    if activation not in ACTIVATIONS:
        problems.append(f"{where}: field 'activation' must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    elif kind == "maxpool" and activation != "linear":
        problems.append(f"{where}: a maxpool layer has no activation (only 'linear' is accepted), got {activation!r}")
    window_key = "size" if kind == "maxpool" else "kernel"
    kernel = _pair(table.get(window_key), f"{where}: field '{window_key}'", problems) if window_key in table else None
    default_stride = kernel if kind == "maxpool" else (1, 1)
    stride = _pair(table["stride"], f"{where}: field 'stride'", problems) if "stride" in table else default_stride
    padding = table.get("padding", "same")
    if padding not in PADDINGS:
        problems.append(f"{where}: field 'padding' must be 'same' or 'valid', got {padding!r}")
    filters = _positive(table["filters"], f"{where}: field 'filters'", problems) if "filters" in table else None
    units = _positive(table["units"], f"{where}: field 'units'", problems) if "units" in table else None
    if len(problems) > before:
        return None
    return Layer(name, kind, activation, kernel, stride, padding, filters, units)


def _positive(value, what: str, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{what} must be a positive integer, got {value!r}")
    elif value < 1:
        problems.append(f"{what} must be a positive integer, got {value}")
    elif value > MAX_SIZE:
        problems.append(f"{what} is {value}, larger than the {MAX_SIZE} this tool accepts")
    else:
        return value
    return None


def _pair(value, what: str, problems: list[str]) -> tuple[int, int] | None:
    if isinstance(value, list):
        if len(value) != 2:
            problems.append(f"{what} must be an integer or a list of 2 integers, got {value!r}")
            return None
        a, b = (_positive(v, what, problems) for v in value)
        return (a, b) if a and b else None
    n = _positive(value, what, problems)
    return (n, n) if n else None


def _int_list(value, n: int, what: str, form: str, problems: list[str]) -> tuple[int, ...] | None:
    if value is None:
        problems.append(f"missing field '{what}' ({form})")
        return None
    if not isinstance(value, list) or len(value) != n:
        problems.append(f"field '{what}' must be a list of {n} positive integers {form}, got {value!r}")
        return None
    out = [_positive(v, f"field '{what}'", problems) for v in value]
    return tuple(out) if all(out) else None


def to_toml(spec: Spec, comment: str = "") -> str:
    """The TOML text of a spec, in the layout of the default file; :func:`parse` reads it back equal."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += ([""] if lines else []) + [
        f"input = [{', '.join(map(str, spec.input))}]",
        f"shared_weights = {'true' if spec.shared_weights else 'false'}",
        f'prelu = "{spec.prelu}"',
    ]
    for layer in spec.layers:
        lines += ["", "[[layer]]", f"name = {json.dumps(layer.name, ensure_ascii=False)}", f'type = "{layer.type}"']
        if layer.type == "maxpool":
            lines.append(f"size = {_toml_pair(layer.kernel)}")
            if layer.stride != layer.kernel:
                lines.append(f"stride = {_toml_pair(layer.stride)}")
            continue
        if layer.type == "conv":
            lines += [
                f"kernel = {_toml_pair(layer.kernel)}",
                f"filters = {layer.filters}",
                f"stride = {_toml_pair(layer.stride)}",
                f'padding = "{layer.padding}"',
            ]
        else:
            lines.append(f"units = {layer.units}")
        lines.append(f'activation = "{layer.activation}"')
    return "\n".join(lines) + "\n"


def _toml_pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"
