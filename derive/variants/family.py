"""A family of exam variants: ranges of architectures in a TOML file, and seeded draws from it.

Variant k of seed S is drawn from its own stream, a hash of (S, k, attempt, field), so it does not
depend on how many variants are drawn with it, on the machine or on the Python version. A draw
equal to an earlier variant of the same seed, or breaking one of the family's limits, is drawn again.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from derive import spec as specs
from derive.errors import DeriveError
from derive.shapes import PRELU_CONVENTIONS, branch_params

ATTEMPTS = 1000  # draws tried for one variant before the family is declared too small
# What each list field may hold: (type, smallest, largest) for integers, the allowed values otherwise.
CHOICES = {
    "conv_layers": (int, 1, 8),
    "kernel": (int, 1, 11),
    "filters": (int, 1, 512),
    "stride": (int, 1, 4),
    "pooling": (int, 0, 4),
    "dense_units": (int, 1, 4096),
    "output_units": (int, 1, 1024),
    "prelu": PRELU_CONVENTIONS,
    "shared_weights": (False, True),
}
LIMITS = {"min_side": (1, 1024), "max_side": (1, 1024), "max_branch_params": (1, 10**9)}


@dataclass(frozen=True)
class Family:
    """The values each draw picks from, and the limits every variant keeps."""

    input: tuple[int, int, int]
    choices: dict
    limits: dict
    source: str = "<family>"

    def draw(self, seed: int, k: int) -> specs.Spec:
        """Variant k (from 1) of seed S: the same spec whether drawn alone or among others."""
        return self.draws(seed, k)[-1]

    def draws(self, seed: int, count: int) -> list[specs.Spec]:
        """Variants 1..count of a seed, no two alike."""
        if count < 1:
            return []
        seen, out = set(), []
        for k in range(1, count + 1):
            spec = self._first_new(seed, k, seen)
            seen.add(spec)
            out.append(spec)
        return out

    def _first_new(self, seed: int, k: int, seen: set) -> specs.Spec:
        for attempt in range(ATTEMPTS):
            spec = self._candidate(_Stream(seed, k, attempt), k)
            if spec is not None and spec not in seen:
                return spec
        raise DeriveError(
            f"{self.source}: no new variant {k} in {ATTEMPTS} draws (the family holds too few "
            "distinct networks within its limits for this many variants)"
        )

    def _candidate(self, pick: _Stream, k: int) -> specs.Spec | None:
        c = self.choices
        n = pick("conv_layers", c["conv_layers"])
        convs = [
            (pick(f"kernel{i}", c["kernel"]), pick(f"filters{i}", c["filters"]), pick(f"stride{i}", c["stride"]))
            for i in range(n)
        ]
        filters = sorted(f for _, f, _ in convs)
        # A pool never follows the last conv layer: the exam's notation wants a conv layer below the dense ones.
        pools = set(pick.sample("pool_after", list(range(n - 1)), min(pick("pooling", c["pooling"]), n - 1)))
        layers, number = [], 0
        for i, ((kernel, _, stride), f) in enumerate(zip(convs, filters)):
            number += 1
            layers.append(specs.Layer(f"L{number}", "conv", "relu", (kernel, kernel), (stride, stride), "same", f))
            if i in pools:
                layers.append(specs.Layer(f"P{len(layers) - number + 1}", "maxpool", "linear", (2, 2), (2, 2)))
        layers.append(specs.Layer(f"L{number + 1}", "dense", "prelu", units=pick("dense_units", c["dense_units"])))
        layers.append(specs.Layer(f"L{number + 2}", "dense", "linear", units=pick("output_units", c["output_units"])))
        spec = specs.Spec(
            self.input,
            tuple(layers),
            pick("shared_weights", c["shared_weights"]),
            pick("prelu", c["prelu"]),
            source=f"variant-{k:02d}/spec.toml",
        )
        return spec if self._keeps_limits(spec) else None

    def _keeps_limits(self, spec: specs.Spec) -> bool:
        try:
            shapes = spec.shapes()
            params = branch_params(spec)
        except DeriveError:
            return False
        side = min(shapes[-3][:2])
        return (
            self.limits["min_side"] <= side
            and max(shapes[-3][:2]) <= self.limits["max_side"]
            and params <= self.limits["max_branch_params"]
        )


class _Stream:
    """Choices for one attempt at one variant, each a hash of the seed, variant, attempt and field."""

    def __init__(self, seed: int, k: int, attempt: int):
        self.prefix = f"{seed}:{k}:{attempt}:"

    def _index(self, name: str, n: int) -> int:
        digest = hashlib.sha256((self.prefix + name).encode()).digest()
        return int.from_bytes(digest, "big") % n

    def __call__(self, name: str, values):
        """One of ``values``, each equally likely."""
        return values[self._index(name, len(values))]

    def sample(self, name: str, values: list, n: int) -> list:
        """``n`` distinct items of ``values`` (a seeded partial shuffle)."""
        values = list(values)
        for i in range(n):
            j = i + self._index(f"{name}{i}", len(values) - i)
            values[i], values[j] = values[j], values[i]
        return values[:n]


def default_text() -> str:
    """The TOML text of the default family."""
    return resources.files("derive.variants").joinpath("family.toml").read_text(encoding="utf-8")


def default_family() -> Family:
    """The documented default family, around the exam's network."""
    return parse(default_text(), "family.toml (default)")


def load(path: str | Path | None) -> Family:
    """Read and validate a family file; ``None`` gives the default family.

    A field the file leaves out (or a limit its [limits] table leaves out) keeps the default
    family's value, so a file may say only what it changes: ``conv_layers = [4]``.
    """
    if path is None:
        return default_family()
    text = specs.read_text_file(Path(path), "family file", specs.MAX_SPEC_BYTES)
    return parse(text, str(path), base=tomllib.loads(default_text()))


def parse(text: str, source: str = "<family>", base: dict | None = None) -> Family:
    """Parse and validate the TOML text of a family (over the fields of ``base``); each problem is one line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeriveError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise DeriveError(f"{source}: values nested too deeply for a family") from None
    if base is not None:
        limits = data.get("limits", {})
        data = {**base, **data}
        if isinstance(limits, dict):
            data["limits"] = {**base.get("limits", {}), **limits}
    problems = []
    known = {"input", "limits", *CHOICES}
    problems += [f"unknown field '{key}' (expected {', '.join(sorted(known))})" for key in sorted(set(data) - known)]
    shape = data.get("input")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(v, 1, 4096) for v in shape)):
        problems.append(f"field 'input' must be [height, width, channels], positive integers, got {shape!r}")
    else:
        problems += _drawable(tuple(shape))
    choices = {name: _choices(data, name, allowed, problems) for name, allowed in CHOICES.items()}
    limits = _limits(data.get("limits", {}), problems)
    if problems:
        raise DeriveError(*(f"{source}: {p}" for p in problems))
    return Family(tuple(shape), choices, limits, source)


def _drawable(shape: tuple) -> list[str]:
    """What the certificate and the experiments run every variant on (Shapeset images) refuses of ``input``."""
    from derive.engine import data

    try:
        data.check_shape("shapeset", shape)
    except DeriveError as exc:
        return [f"field 'input': {p}" for p in exc.problems]
    return []


def _choices(data: dict, name: str, allowed, problems: list) -> tuple:
    values = data.get(name)
    if not isinstance(values, list) or not values:
        problems.append(f"field '{name}' must be a non-empty list of the values a draw picks from, got {values!r}")
        return ()
    if isinstance(allowed[0], type):
        _, low, high = allowed
        bad = [v for v in values if not _is_int(v, low, high)]
        what = f"integers from {low} to {high}"
    else:
        bad = [v for v in values if v not in allowed or isinstance(v, bool) != isinstance(allowed[0], bool)]
        what = "among " + ", ".join(map(_toml_word, allowed))
    if bad:
        problems.append(f"field '{name}': values must be {what}, got {', '.join(map(repr, bad))}")
    if len(set(map(repr, values))) < len(values):
        problems.append(f"field '{name}' lists a value twice (each value is equally likely once)")
    return tuple(values)


def _limits(table, problems: list) -> dict:
    if not isinstance(table, dict):
        problems.append("'limits' must be a table, written [limits]")
        return {}
    for key in sorted(set(table) - set(LIMITS)):
        problems.append(f"[limits]: unknown field '{key}' (expected {', '.join(LIMITS)})")
    out = {}
    for key, (low, high) in LIMITS.items():
        if key not in table:
            problems.append(f"[limits]: missing field '{key}'")
        elif not _is_int(table[key], low, high):
            problems.append(f"[limits]: field '{key}' must be an integer from {low} to {high}, got {table[key]!r}")
        else:
            out[key] = table[key]
    if out.get("min_side", 0) > out.get("max_side", 10**9):
        problems.append("[limits]: min_side is larger than max_side")
    return out


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _toml_word(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
