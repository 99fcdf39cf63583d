"""The parameter-count report (Exercise 1, Q3): one dict, rendered as text, Markdown, LaTeX or JSON."""

from __future__ import annotations

import json

from derive.errors import printable
from derive.prose import md_escape, tex_escape
from derive.shapes import PRELU_CONVENTIONS, count, total_params

FORMATS = ("text", "markdown", "latex", "json")
PRELU_WORDS = {"scalar": "one slope per layer", "channel": "one slope per channel or unit",
               "element": "one slope per activation element"}
COLUMNS = ("layer", "type", "geometry", "output", "weights", "biases", "prelu", "params", "mult-adds", "formula")


class Report(dict):
    """The count report: plain data under the stable JSON keys, and its rendering."""

    def render(self, fmt: str = "text") -> str:
        """The report in one of FORMATS (text, markdown, latex, json), ending with a newline."""
        return render(self, fmt)


def report(spec) -> Report:
    """Everything ``count-params`` prints, as plain data with the stable JSON keys.

    >>> from derive.spec import default_spec
    >>> report(default_spec())["total_params"]
    2245760
    """
    layers = count(spec)
    branch = sum(c.params for c in layers)
    return Report({
        "spec": spec.source,
        "input": list(spec.input),
        "layers": [
            {"name": c.name, "type": c.type, "activation": c.activation, "geometry": c.geometry,
             "input_shape": list(c.input_shape), "output_shape": list(c.output_shape),
             "weights": c.weights, "biases": c.biases, "prelu": c.prelu, "params": c.params,
             "mult_adds": c.mult_adds, "formula": c.formula}
            for c in layers
        ],
        "branch_params": branch,
        "branch_mult_adds": sum(c.mult_adds for c in layers),
        "total_params": total_params(spec),
        "shared_weights": spec.shared_weights,
        "prelu_convention": spec.prelu,
        "alternatives": [
            {"shared_weights": shared, "prelu_convention": p, "total_params": total_params(spec, shared, p)}
            for shared in (False, True) for p in PRELU_CONVENTIONS
        ],
    })


def render(data: dict, fmt: str) -> str:
    """Render a report in one of FORMATS; the result ends with a newline."""
    return {"text": _text, "markdown": _markdown, "latex": _latex, "json": _json}[fmt](data)


def _rows(data: dict) -> list[tuple[str, ...]]:
    return [
        (c["name"], c["type"], c["geometry"], "x".join(map(str, c["output_shape"])), str(c["weights"]),
         str(c["biases"]), str(c["prelu"]), str(c["params"]), str(c["mult_adds"]), c["formula"])
        for c in data["layers"]
    ]


def _footer(data: dict) -> list[str]:
    names = [c["name"] for c in data["layers"]]
    branch = data["branch_params"]
    first = f"one branch ({names[0]}-{names[-1]}): {branch} parameters, {data['branch_mult_adds']} mult-adds per image"
    if data["shared_weights"]:
        both = f"whole network, shared weights (one set for both branches): {data['total_params']}"
    else:
        both = f"whole network, unshared weights (L and L' separate): 2 x {branch} = {data['total_params']}"
    return [first, both]


def _alternatives(data: dict) -> list[tuple[str, dict[str, int]]]:
    table = []
    for shared in (False, True):
        row = {a["prelu_convention"]: a["total_params"] for a in data["alternatives"] if a["shared_weights"] == shared}
        table.append(("shared weights" if shared else "unshared weights", row))
    return table


def _heading(data: dict) -> str:
    h, w, c = data["input"]
    sharing = "shared" if data["shared_weights"] else "unshared"
    return (f"Parameters of the two-branch network, spec {data['spec']}: input {h}x{w}x{c}, "
            f"{sharing} weights, PReLU {PRELU_WORDS[data['prelu_convention']]}")


def _text(data: dict) -> str:
    rows = [COLUMNS] + _rows(data)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    numeric = {4, 5, 6, 7, 8}

    def line(r):
        cells = [r[i].rjust(widths[i]) if i in numeric else r[i].ljust(widths[i]) for i in range(len(r))]
        return "  ".join(cells).rstrip()

    out = [_heading(data), "", line(rows[0])] + [line(r) for r in rows[1:]] + [""] + _footer(data)
    out += ["", "Total under each convention (acceptable answers depend on the reading of the figure):"]
    out.append("  " + " " * 18 + "".join(f"{'prelu=' + p:>16}" for p in PRELU_CONVENTIONS))
    for label, row in _alternatives(data):
        out.append(f"  {label:<18}" + "".join(f"{row[p]:>16}" for p in PRELU_CONVENTIONS))
    return "\n".join(out) + "\n"


def _markdown(data: dict) -> str:
    def row(cells):
        return "| " + " | ".join(cells) + " |"

    align = ["---", "---", "---", "---", "--:", "--:", "--:", "--:", "--:", "---"]
    out = [f"**{md_escape(_heading(data))}**", "", row(COLUMNS), row(align)]
    out += [row(tuple(map(md_escape, r[:-1])) + (f"${_tex_formula(r[-1])}$",)) for r in _rows(data)]
    out += [""] + [f"- {md_escape(f)}" for f in _footer(data)]
    out += ["", "| total | " + " | ".join(f"prelu = {p}" for p in PRELU_CONVENTIONS) + " |",
            "|---|" + "--:|" * len(PRELU_CONVENTIONS)]
    out += [f"| {label} | " + " | ".join(str(r[p]) for p in PRELU_CONVENTIONS) + " |"
            for label, r in _alternatives(data)]
    return "\n".join(out) + "\n"


def _latex(data: dict) -> str:
    out = [f"% {printable(_heading(data))}", r"\begin{tabular}{lllrrrrrrl}", r"\hline",
           " & ".join(COLUMNS) + r" \\", r"\hline"]
    for r in _rows(data):
        cells = [tex_escape(x) for x in r[:-1]] + [f"${_tex_formula(r[-1])}$"]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\hline", r"\end{tabular}", ""]
    out += [tex_escape(f) + r"\\" for f in _footer(data)]
    out += ["", r"\begin{tabular}{l" + "r" * len(PRELU_CONVENTIONS) + "}", r"\hline",
            "total & " + " & ".join(f"prelu = {p}" for p in PRELU_CONVENTIONS) + r" \\", r"\hline"]
    out += [f"{label} & " + " & ".join(str(r[p]) for p in PRELU_CONVENTIONS) + r" \\"
            for label, r in _alternatives(data)]
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out) + "\n"


def _json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _tex_formula(formula: str) -> str:
    return formula.replace("·", r" \cdot ")
