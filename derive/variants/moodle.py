"""Moodle XML export: one category per variant, its machine-graded numbers and its essay questions.

Per variant: a description (the network, with its figure), Q3's number of parameters and Q1's
gradient entry as numerical questions whose recognised wrong answers carry the grader's feedback,
and every other question as an essay whose grader information is the teacher edition's marking
scheme. Text is HTML converted from the project's Markdown by pandoc, math left as \\( \\) for
Moodle's MathJax filter, inside CDATA; figures travel inside the file (base64, @@PLUGINFILE@@).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lxml import etree

from derive.errors import DeriveError, printable
from derive.sheet import render

IMAGE = re.compile(r"!\[([^\]]*)\]\(figures/([^)\s]+)\)(\{[^}]*\})?")
# What Moodle's importer (qformat_xml) reads for each type; the round-trip check asks for all of it.
REQUIRED = {
    "category": ("category/text",),
    "description": ("name/text", "questiontext/text"),
    "numerical": (
        "name/text",
        "questiontext/text",
        "generalfeedback/text",
        "defaultgrade",
        "penalty",
        "hidden",
        "answer/text",
        "answer/tolerance",
        "answer/feedback/text",
    ),
    "essay": (
        "name/text",
        "questiontext/text",
        "generalfeedback/text",
        "defaultgrade",
        "penalty",
        "hidden",
        "responseformat",
        "responserequired",
        "responsefieldlines",
        "attachments",
        "graderinfo/text",
        "responsetemplate",
    ),
}
PENALTY = "0.3333333"


@dataclass
class Question:
    """One question of the quiz, its texts in Markdown (converted to HTML when written)."""

    kind: str  # description, numerical or essay
    name: str
    text: str
    points: float = 0.0
    answers: tuple = ()  # numerical: derive.variants.answers.Choice
    general: str = ""  # general feedback
    grader: str = ""  # essay: what the grader reads
    figures: dict = field(default_factory=dict)  # figure name -> path of the PNG


def quiz(categories: list[tuple[str, list[Question]]]) -> bytes:
    """The quiz as Moodle XML bytes (UTF-8), one category per (path, questions)."""
    texts = []
    for _, questions in categories:
        for q in questions:
            texts += [t for t in (q.text, q.general, q.grader) if t] + [c.feedback for c in q.answers if c.feedback]
    texts = list(dict.fromkeys(texts))
    html = dict(zip(texts, render.convert([_images(t) for t in texts], "html")))
    root = etree.Element("quiz")
    for path, questions in categories:
        category = etree.SubElement(etree.SubElement(root, "question", type="category"), "category")
        _text(category, path, cdata=False)
        for q in questions:
            _question(root, q, html)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _images(markdown: str) -> str:
    """Figures point into the question's own files, as Moodle stores them."""
    return IMAGE.sub(lambda m: f"![{m.group(1)}](@@PLUGINFILE@@/{m.group(2)})", markdown)


def _question(root, q: Question, html: dict) -> None:
    node = etree.SubElement(root, "question", type=q.kind)
    _text(etree.SubElement(node, "name"), q.name, cdata=False)
    text = etree.SubElement(node, "questiontext", format="html")
    _text(text, html.get(q.text, ""))
    for name, path in sorted(q.figures.items()):
        file = etree.SubElement(text, "file", name=name, path="/", encoding="base64")
        file.text = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    if q.kind == "description":
        return
    _text(etree.SubElement(node, "generalfeedback", format="html"), html.get(q.general, ""))
    etree.SubElement(node, "defaultgrade").text = _decimal(q.points)
    etree.SubElement(node, "penalty").text = PENALTY if q.kind == "numerical" else "0"
    etree.SubElement(node, "hidden").text = "0"
    if q.kind == "numerical":
        for choice in q.answers:
            answer = etree.SubElement(node, "answer", fraction=_decimal(choice.fraction), format="moodle_auto_format")
            _text(answer, _decimal(choice.value), cdata=False)
            etree.SubElement(answer, "tolerance").text = _decimal(choice.tolerance)
            _text(etree.SubElement(answer, "feedback", format="html"), html.get(choice.feedback, ""))
        etree.SubElement(node, "unitgradingtype").text = "0"
        etree.SubElement(node, "unitpenalty").text = "0.1000000"
        etree.SubElement(node, "showunits").text = "3"
        etree.SubElement(node, "unitsleft").text = "0"
    else:
        for tag, value in (
            ("responseformat", "editor"),
            ("responserequired", "1"),
            ("responsefieldlines", "15"),
            ("attachments", "1"),
            ("attachmentsrequired", "0"),
        ):
            etree.SubElement(node, tag).text = value
        _text(etree.SubElement(node, "graderinfo", format="html"), html.get(q.grader, ""))
        _text(etree.SubElement(node, "responsetemplate", format="html"), "")


def _text(parent, value: str, cdata: bool = True) -> None:
    node = etree.SubElement(parent, "text")
    node.text = etree.CDATA(value) if cdata and value else value


def _decimal(x: float) -> str:
    """A number as Moodle reads it: a point for the decimals, no exponent, no grouping."""
    return str(int(x)) if float(x).is_integer() else np.format_float_positional(float(x), trim="-")


def check(data: bytes) -> list[str]:
    """Every element Moodle's importer needs that the file lacks, and every grade it would refuse (empty: valid)."""
    from derive.variants.answers import FRACTIONS

    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != "quiz":
        return [f"the root element is <{root.tag}>, not <quiz>"]
    problems = []
    for i, q in enumerate(root.iter("question"), 1):
        kind = q.get("type")
        if kind not in REQUIRED:
            problems.append(f"question {i}: unknown type {kind!r}")
            continue
        problems += [f"question {i} ({kind}): no <{path}>" for path in REQUIRED[kind] if q.find(path) is None]
        for answer in q.findall("answer"):
            fraction = float(answer.get("fraction", "nan"))
            if not any(abs(fraction - f) < 1e-4 for f in FRACTIONS):
                problems.append(f"question {i} ({kind}): grade {fraction} is not one Moodle offers")
            try:
                float(answer.findtext("text"))
            except (TypeError, ValueError):
                problems.append(f"question {i} ({kind}): answer {answer.findtext('text')!r} is not a number")
    return problems


def check_replaceable(path: Path) -> None:
    """Refuse to write the quiz over a file that holds something else (a quiz, or nothing, may be replaced)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DeriveError(f"{printable(path)}: cannot read what it holds ({exc.strerror})") from None
    if head.strip() and not (head.lstrip().startswith(b"<?xml") and b"<quiz" in head):
        raise DeriveError(f"{printable(path)}: exists and is not a Moodle quiz (it would be replaced); "
                          "remove it or give the quiz another name")


def checked(data: bytes) -> bytes:
    """The quiz, once :func:`check` finds nothing missing (anything missing is a bug of this module)."""
    problems = check(data)
    if problems:
        raise RuntimeError("Moodle export: " + "; ".join(problems))
    return data
