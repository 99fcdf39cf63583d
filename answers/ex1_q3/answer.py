"""Exercise 1, Q3: count the parameters from the spec, draw the architecture, recount independently."""

from __future__ import annotations

from math import prod

from derive.prose import num
from derive.sheet import figures
from derive.sheet.units import Check, localised


def solve(inputs) -> dict:
    """The count-params report, the architecture drawing and the largest layer's share of a branch."""
    report = inputs.report
    rows = [dict(layer, tex=layer["formula"].replace("·", r" \cdot ")) for layer in report["layers"]]
    largest = max(rows, key=lambda r: r["params"])
    spec = inputs.spec
    dense = [i for i, layer in enumerate(spec.layers) if layer.type == "dense"]
    activations = {layer.activation for layer in spec.layers if layer.type != "maxpool"}
    return {
        "report": report,
        "rows": rows,
        "largest": largest,
        "largest_is_first_dense": bool(dense) and largest["name"] == spec.layers[dense[0]].name,
        # what feeds the first dense layer: the image, or a map flattened from the layer below
        "flattened": None if not dense else (spec.layers[dense[0] - 1].name if dense[0] else ""),
        "has_pool": any(layer.type == "maxpool" for layer in spec.layers),
        "free_activations": [a for a in ("relu", "tanh", "sigmoid", "linear") if a in activations],
        "has_prelu": "prelu" in activations,
        "prelu_dense_only": all(layer.type == "dense" for layer in spec.layers if layer.activation == "prelu"),
        "other_conventions": [c for c in ("scalar", "channel", "element") if c != report["prelu_convention"]],
        "largest_share": largest["params"] / report["branch_params"],
        "alternatives": {(a["shared_weights"], a["prelu_convention"]): a["total_params"]
                         for a in report["alternatives"]},
        "arch": inputs.figure("architecture.png", lambda p: figures.architecture(inputs.spec, p)),
        "net": inputs.spec,
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


def check(ctx) -> list:
    """Each layer's count, the branch total and the network total agree with an independent recount."""
    spec, report = ctx["net"], ctx["report"]
    mine = recount(spec, spec.prelu)
    theirs = [r["params"] for r in report["layers"]]
    branches = 1 if spec.shared_weights else 2
    alt = all(ctx["alternatives"][(s, p)] == sum(recount(spec, p)) * (1 if s else 2)
              for s in (False, True) for p in ("scalar", "channel", "element"))
    return [
        Check({"fr": "le compte de chaque couche égale un recompte indépendant à partir des formes",
               "en": "each layer's count equals an independent recount from the shapes"},
              mine == theirs, localised(lambda lang: " + ".join(num(m, lang) for m in mine))),
        Check({"fr": "total du réseau = nombre de jeux de poids × total d'une branche",
               "en": "network total = number of weight sets × one branch's total"},
              report["total_params"] == branches * sum(mine), localised(lambda lang: f"{num(report['total_params'], lang)} = {branches} × {num(sum(mine), lang)}")),
        Check({"fr": "les totaux sous chaque convention (partage, PReLU) égalent le recompte",
               "en": "the totals under every convention (sharing, PReLU) equal the recount"}, alt),
    ]
