"""Exercise 1, Q3: count the parameters from the spec, draw the architecture, recount independently."""

from __future__ import annotations

import dataclasses
from math import prod

from derive import count
from derive.sheet import figures
from derive.sheet.units import claim

ID = "ex1.q3"
CONVENTIONS = ("scalar", "channel", "element")


def solve(inputs) -> dict:
    """The count report, the architecture drawing, and the count under the exam's literal stride 1."""
    report = inputs.report
    rows = [dict(layer, tex=layer["formula"].replace("·", r" \cdot ")) for layer in report["layers"]]
    largest = max(rows, key=lambda r: r["params"])
    spec = inputs.spec
    dense = [i for i, layer in enumerate(spec.layers) if layer.type == "dense"]
    activations = {layer.activation for layer in spec.layers if layer.type != "maxpool"}
    strided = [layer.name for layer in spec.layers if layer.type == "conv" and layer.stride != (1, 1)]
    literal = None
    if strided and dense:
        unit = dataclasses.replace(spec, layers=tuple(dataclasses.replace(layer, stride=(1, 1))
                                                      if layer.type == "conv" else layer for layer in spec.layers))
        full = count.report(unit)
        first = full["layers"][dense[0]]
        literal = {"total": full["total_params"], "branch": full["branch_params"], "dense": first["name"],
                   "dense_input": first["input_shape"], "dense_share": first["params"] / full["branch_params"]}
    alternatives = {(a["shared_weights"], a["prelu_convention"]): a["total_params"] for a in report["alternatives"]}
    return {
        "report": report, "rows": rows, "largest": largest, "net": spec, "strided": strided, "literal": literal,
        "largest_is_first_dense": bool(dense) and largest["name"] == spec.layers[dense[0]].name,
        # what feeds the first dense layer: the image, or a map flattened from the layer below
        "flattened": None if not dense else (spec.layers[dense[0] - 1].name if dense[0] else ""),
        "has_pool": any(layer.type == "maxpool" for layer in spec.layers),
        "free_activations": [a for a in ("relu", "tanh", "sigmoid", "linear") if a in activations],
        "has_prelu": "prelu" in activations,
        "prelu_dense_only": all(layer.type == "dense" for layer in spec.layers if layer.activation == "prelu"),
        "other_conventions": [c for c in CONVENTIONS if c != report["prelu_convention"]
                              and alternatives[(report["shared_weights"], c)] != report["total_params"]],
        "largest_share": largest["params"] / report["branch_params"],
        "alternatives": alternatives,
        "arch": inputs.figure("architecture.png", lambda p: figures.architecture(spec, p, inputs.lang)),
    }


def recount(spec, prelu: str) -> list[int]:
    """Parameters of each layer recounted from the shapes alone (independent of derive.shapes.count)."""
    shapes = [tuple(spec.input)] + spec.shapes()
    out = []
    for layer, before, after in zip(spec.layers, shapes, shapes[1:]):
        if layer.type == "maxpool":
            n = 0
        elif layer.type == "conv":
            n = layer.kernel[0] * layer.kernel[1] * before[-1] * layer.filters + layer.filters
        else:
            n = prod(before) * layer.units + layer.units
        if layer.activation == "prelu":
            n += {"scalar": 1, "channel": after[-1], "element": prod(after)}[prelu]
        out.append(n)
    return out


def claims(ctx) -> list:
    """Each layer's count, the totals and every convention's total equal an independent recount."""
    spec, report = ctx["net"], ctx["report"]
    mine = recount(spec, spec.prelu)
    branches = 1 if spec.shared_weights else 2
    alternatives_match = all(ctx["alternatives"][(s, p)] == sum(recount(spec, p)) * (1 if s else 2)
                             for s in (False, True) for p in CONVENTIONS)
    found = [
        claim(ID, "layers_recounted", {"fr": "le compte de chaque couche égale un recompte indépendant",
                                       "en": "each layer's count equals an independent recount"},
              "counted == recounted", required=True, counted=[r["params"] for r in report["layers"]],
              recounted=mine),
        claim(ID, "total", {"fr": "total du réseau = nombre de jeux de poids × total d'une branche",
                            "en": "network total = number of weight sets × one branch's total"},
              "total == sets * branch", required=True, total=report["total_params"], sets=branches,
              branch=sum(mine)),
        claim(ID, "conventions", {"fr": "les totaux sous chaque convention égalent le recompte",
                                  "en": "the totals under every convention equal the recount"},
              "all_match", required=True, all_match=alternatives_match),
    ]
    if ctx["literal"] is not None:
        literal = ctx["literal"]
        found.append(claim(ID, "literal_dense_dominates",
                           {"fr": "avec un pas de 1 partout, la première couche dense porte presque tous les paramètres",
                            "en": "with stride 1 everywhere, the first dense layer holds almost all the parameters"},
                           "dense_share > 0.9", dense_share=literal["dense_share"]))
    return found
