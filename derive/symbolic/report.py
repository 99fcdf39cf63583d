"""The ``derive gradients`` report: derivations as Unicode text, LaTeX, Markdown or JSON.

Every formula shown is printed from the SymPy objects of derivation.py (the ones the certificate
evaluates); this module only arranges them, with a heading per layer and the conventions in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sympy as sp

from derive import prose
from derive.symbolic import derivation, printing

FORMATS = ("text", "latex", "markdown", "json")

# What each derivation is, and the conventions it relies on (English; the sheet has its own prose).
TITLES = {"upper": "upper dense layer (the exam's L6, question 1)",
          "lower": "lower dense layer (the exam's L5, question 2)",
          "prelu": "PReLU slopes", "kl": "KL sparsity penalty on the upper layer (question 7)"}
NOTES = {
    "loss": ["Quantities are those of one pair (iteration t); the batch loss is their mean, so is its gradient.",
             "At the kink D = 1 the hinge's derivative is taken as 0 (max(1 - D, 0) = relu(1 - D), relu'(0) = 0, "
             "as PyTorch); the case D >= 1 includes it."],
    "shared": ["Tied weights: both branches use the same parameters, and the two paths of the chain rule add up."],
    "unshared": ["Untied weights: each branch has its own parameters (primed for the second branch)."],
    "prelu": ["PReLU(z) = z if z > 0, a·z otherwise: its derivative at z = 0 is a (as PyTorch's backward)."],
    "kl": ["The exam writes the weight w^{(fg)}_{(fg)}; it is read as w^{(56)}_{fg}, the weight from unit f of the "
           "lower layer to unit g of the upper layer. rho = 1/10 (the exam's sparsity target), beta kept symbolic; "
           "i runs over the m examples of the batch (first branch only; t is the iteration).",
           "Literal reading: rho-hat_g is the mean of the linear output itself; the Bernoulli KL is defined only when "
           "0 < rho-hat_g < 1 for every g, which a linear layer does not guarantee.",
           "Sigmoid reading: rho-hat_g is the mean of sigma(s_g), always in (0, 1); the well-defined reading."],
}


# The key of each derivation in the JSON and the headings: the exam's names, the same in every spec.
KEYS = {"upper": "L6", "lower": "L5", "prelu": "prelu", "kl": "kl"}
LATEX_PREAMBLE = [r"\documentclass[11pt]{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
                  r"\usepackage{amsmath,amssymb}", r"\usepackage[a4paper,margin=2cm]{geometry}",
                  r"\allowdisplaybreaks", r"\begin{document}", ""]


def derive_all(spec, layer: str = "all", shared: bool | None = None) -> list:
    """The derivations ``--layer`` asks for (``all``: every one the spec supports), in a fixed order."""
    keys = derivation.layers(spec) if layer == "all" else [layer]
    return [derivation.derive(spec, key, shared) for key in keys]


@dataclass(frozen=True)
class Gradients:
    """What ``derive gradients`` prints: the derivations of a spec, in any of FORMATS."""

    spec: object
    derivations: list
    shared: bool

    def data(self) -> dict:
        """The JSON form (stable keys)."""
        return as_data(self.spec, self.derivations, self.shared)

    def render(self, fmt: str = "text") -> str:
        """The derivations as text, LaTeX, Markdown or JSON, ending with a newline."""
        return render(self.spec, self.derivations, fmt, self.shared)


def gradients(spec, layer: str = "all", shared: bool | None = None) -> Gradients:
    """Derive what ``--layer`` asks for (the spec's weight sharing unless ``shared`` says otherwise)."""
    shared = spec.shared_weights if shared is None else shared
    return Gradients(spec, derive_all(spec, layer, shared), shared)


def _notes(spec, d, shared: bool) -> list[str]:
    notes = NOTES["kl"] if d.kind == "kl" else NOTES["loss"] + NOTES["shared" if shared else "unshared"]
    g = d.results[0].graph
    shown = {s.lhs.base.label.name if isinstance(s.lhs, sp.Indexed) else s.lhs.name for s in d.definitions}
    if any(g.nodes[name].kind == "prelu" for name in shown if name in g.nodes):
        notes = notes + NOTES["prelu"]
    return notes


def as_data(spec, derivations, shared: bool) -> dict:
    """The JSON form: one key per derivation with steps, result and cases (LaTeX, SymPy, text)."""
    out = {}
    for d in derivations:
        n = d.notation

        def eq(lhs, rhs, reading="", n=n):
            return {"name": printing.text(lhs, n), "latex": printing.equation(lhs, rhs, n),
                    "text": printing.equation(lhs, rhs, n, "text"), "reading": reading}

        def result(r, n=n):
            return {"param": r.param, "reading": r.reading, **eq(r.lhs, r.expr), "sympy": sp.sstr(r.expr),
                    "chain": eq(r.lhs, r.chain),
                    "condition": None if r.condition == sp.true else {"latex": printing.latex(r.condition, n),
                                                                      "text": printing.text(r.condition, n)},
                    "cases": [{**eq(r.lhs, c.expr), "name": c.name, "condition": printing.latex(c.condition, n),
                               "condition_text": printing.text(c.condition, n), "sympy": sp.sstr(c.expr)}
                              for c in r.cases]}

        results = [result(r) for r in d.results]
        out[KEYS[d.kind]] = {"title": TITLES[d.kind], "layer": d.key if d.kind in ("upper", "lower") else None,
                      "definitions": [eq(s.lhs, s.rhs, s.reading) for s in d.definitions],
                      "steps": [eq(s.lhs, s.rhs, s.reading) for s in d.steps], "result": results[0],
                      "cases": results[0]["cases"], "results": results, "notes": _notes(spec, d, shared)}
    return out


def render(spec, derivations, fmt: str, shared: bool) -> str:
    """The derivations in one output format."""
    data = as_data(spec, derivations, shared)
    if fmt == "json":
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    lines = LATEX_PREAMBLE[:] if fmt == "latex" else []
    for key, d in data.items():
        lines += _section(d["layer"] or key, d, fmt)
    if fmt == "latex":
        lines += [r"\end{document}"]
    return "\n".join(lines).rstrip("\n") + "\n"


def _section(name: str, d: dict, fmt: str) -> list[str]:
    """One derivation: definitions, steps, results with their chain rule and cases, conventions.

    The layer's name and the notes are plain text, escaped for Markdown or LaTeX.
    """
    field = "text" if fmt == "text" else "latex"
    words = {"text": str, "markdown": prose.md_escape, "latex": prose.tex_escape}[fmt]

    def show(body: str, reading: str = "", label: str = "") -> list[str]:
        tag = f"  ({reading} reading)" if reading else ""
        if fmt == "text":
            return [f"  {label}{body}{tag}"]
        if fmt == "markdown":
            return ([label.rstrip()] if label else []) + [f"$$ {body} $${tag}", ""]
        return [rf"{label}\[ {body} \]{tag}"]

    title = words(f"{name}: {d['title']}")
    head = {"text": f"== {title} ==", "markdown": f"## {title}", "latex": rf"\section*{{{title}}}"}[fmt]
    lines = [head, ""]
    for title, items in (("Definitions", d["definitions"]), ("Steps", d["steps"])):
        lines += _heading(title, fmt)
        for item in items:
            lines += show(item[field], item["reading"])
        lines.append("")
    lines += _heading("Results", fmt)
    math = {"text": "{}", "markdown": "${}$", "latex": "${}$"}[fmt]
    for r in d["results"]:
        lines += show(r["chain"][field], r["reading"], "Chain rule: ")
        lines += show(r[field], r["reading"], "Result: ")
        if r["condition"]:
            lines += show(r["condition"][field], "", "Defined where: ")
        for c in r["cases"]:
            cond = math.format(c["condition_text"] if fmt == "text" else c["condition"])
            lines += show(c[field], "", f"If {cond}: ")
        lines.append("")
    lines += _heading("Conventions", fmt)
    lines += [{"text": f"  - {note}", "markdown": f"- {note}", "latex": rf"\noindent {note}\par"}[fmt]
              for note in map(words, d["notes"])]
    return lines + [""]


def _heading(title: str, fmt: str) -> list[str]:
    return {"text": [title], "markdown": [f"### {title}", ""], "latex": [rf"\subsection*{{{title}}}", ""]}[fmt]
