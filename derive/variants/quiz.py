"""The Moodle questions of one variant: the network, Q3's count and Q1's gradient as numbers, the rest as essays."""

from __future__ import annotations

from pathlib import Path

from derive.prose import mnum, num
from derive.sheet import units
from derive.variants import answers
from derive.variants.moodle import Question

NUMERIC = ("ex1.q1", "ex1.q3")
WORDS = {
    "fr": {
        "network": "Le réseau",
        "count": "Donnez le nombre total de paramètres appris (un entier).",
        "pair": "Sur une paire d'images où $l = {l}$ et $D = {D}$, les sorties valent {given}.",
        "ask": "Calculez la valeur de $\\partial \\mathcal{{L}} / \\partial w^{{({w})}}_{{jk}}$ pour $j = {j}$ et "
        "$k = {k}$.",
        "scheme": "Barème",
        "item": "Élément attendu",
        "points": "Points",
        "alternatives": "Valent aussi la note maximale",
    },
    "en": {
        "network": "The network",
        "count": "Give the total number of learned parameters (a whole number).",
        "pair": "On a pair of images where $l = {l}$ and $D = {D}$, the outputs are {given}.",
        "ask": "Compute the value of $\\partial \\mathcal{{L}} / \\partial w^{{({w})}}_{{jk}}$ for $j = {j}$ and "
        "$k = {k}$.",
        "scheme": "Marking scheme",
        "item": "What earns the points",
        "points": "Points",
        "alternatives": "Also worth full marks",
    },
}


def category(v, lang: str, folder: Path, cache_dir=None) -> tuple[str, list[Question]]:
    """The category of variant ``v`` (built in ``folder``) and its questions, in the paper's order."""
    from derive.variants import exam

    w = WORDS[lang]
    figures = {"architecture": f"figures/exam-network.{lang}.png", "glorot": f"figures/glorot_backprop.{lang}.png"}
    paper = exam.ExamDocument(v.spec, lang, figures, v.label)
    files = {Path(p).name: folder / p for p in figures.values()}
    name = f"{v.folder} "
    out = [
        Question(
            "description",
            name + w["network"],
            paper.block("network", "md"),
            figures=_used(paper.block("network", "md"), files),
        )
    ]
    for unit in units.for_spec(v.spec):
        text = paper.statement(unit, "md")
        title = name + (f"Ex{unit.section[-1]} Q{unit.number}" if unit.section != "bonus" else "bonus")
        if unit.id == "ex1.q3":
            out.append(
                Question(
                    "numerical", title, f"{text}\n\n{w['count']}", unit.points, answers.count_choices(v.spec, lang)
                )
            )
        elif unit.id == "ex1.q1":
            g = answers.gradient(v.spec, lang, seed=0)
            out.append(
                Question(
                    "numerical",
                    title,
                    _gradient_text(text, g, paper.names, lang),
                    unit.points,
                    g.choices,
                    general=g.formula,
                )
            )
        else:
            out.append(
                Question(
                    "essay",
                    title,
                    text,
                    unit.points + unit.bonus,
                    grader=_grader(unit, lang),
                    figures=_used(text, files),
                )
            )
    return f"$course$/derive/seed-{v.seed}/{v.folder}", out


def _gradient_text(statement: str, g, names: dict, lang: str) -> str:
    w = WORDS[lang]
    given = dict(g.given)
    outputs = [f"${name} = {mnum(value, lang, 6)}$" for name, value in g.given[2:]]
    from derive.prose import listing

    pair = w["pair"].format(l=mnum(given["l"], lang), D=mnum(given["D"], lang, 6), given=listing(outputs, lang))
    return f"{statement}\n\n{pair} {w['ask'].format(w=names['w_upper'], j=g.j, k=g.k)}"


def _grader(unit, lang: str) -> str:
    """The teacher edition's marking scheme of a question, with the other answers that earn full marks."""
    w = WORDS[lang]
    rows = [f"| {item.text[lang]} | {'+' if item.bonus else ''}{num(item.points, lang, 4)} |" for item in unit.scheme]
    text = "\n".join([f"**{w['scheme']}**", "", f"| {w['item']} | {w['points']} |", "|:--|--:|", *rows])
    if unit.alternatives:
        text += f"\n\n**{w['alternatives']}**\n\n" + "\n".join(f"- {a[lang]}" for a in unit.alternatives)
    return text


def _used(markdown: str, files: dict) -> dict:
    """The figures a text shows, by name."""
    return {name: path for name, path in files.items() if f"figures/{name}" in markdown}
