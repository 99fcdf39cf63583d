"""The exam paper: both exercises in the project's own words, the points, and the network's figure.

The paper is written from the answer units' statements (``statement`` in each ``meta.toml``) and
the templates ``exam.<lang>.md.j2``; its LaTeX and Typst come from the sheet's skeletons, so the
paper and its corrigé look alike. For the default spec it is the 2019 exam with its lost figure
redrawn (and said to be a reconstruction); for a variant, the variant's network.
"""

from __future__ import annotations

from pathlib import Path

from derive import spec as specs
from derive.runtime import output
from derive.sheet import build as sheets
from derive.sheet import document, figures, render, units
from derive.sheet.document import Section
from derive.version import __version__

STEM = "exam"


def words(lang: str, variant: str | None = None, reference: bool = True) -> dict:
    """The skeleton's words for the exam paper: the sheet's, with the paper's own title and subtitle.

    ``reference``: the spec is the exam's own network (its figure a reconstruction), not another one.
    """
    base, own = document.strings(lang), document.string_table(lang)["exam"]
    if variant is None:
        title, subtitle = own["title"], own["subtitle" if reference else "other_subtitle"]
    else:
        title, subtitle = own["variant_title"].format(label=variant), own["variant_subtitle"]
    return {**base, "title": title, "subtitle": subtitle, "figure1": own["figure1"]}


class ExamDocument:
    """The exam paper in one language, for one spec (the reference network's, or a variant's)."""

    def __init__(self, spec, lang: str, figures: dict, variant: str | None = None):
        self.spec, self.lang, self.figures, self.variant = spec, lang, figures, variant
        self.reference = variant is None and spec == specs.default_spec()
        self.words = words(lang, variant, self.reference)
        self.env = render.environment(document.TEMPLATES, units.ROOT)
        self.units = units.for_spec(spec)
        self.names = units.names(spec)

    def _context(self, target: str) -> dict:
        layers = self.spec.layers
        return {
            "lang": self.lang,
            "target": target,
            "S": self.words,
            "spec": self.spec,
            "n": self.names,
            "variant": self.variant,
            "reference": self.reference,
            "teacher": False,
            "edition": "exam",
            "convs": [x.name for x in layers if x.type == "conv"],
            "pools": [x.name for x in layers if x.type == "maxpool"],
            "architecture": self.figures["architecture"],
        }

    def block(self, block: str, target: str) -> str:
        """One block of the paper's template (``intro`` or ``network``) in Markdown for ``target``."""
        template = self.env.get_template(f"exam.{self.lang}.md.j2")
        context = template.new_context(self._context(target))
        return "".join(template.blocks[block](context)).strip("\n")

    def statement(self, unit, target: str) -> str:
        """A question as the paper states it, Markdown for ``target`` (Q5 of Exercise 2 with its figure)."""
        figure = ""
        if "glorot" in self.figures:
            macros = self.env.get_template("_macros.j2").make_module(self._context(target))
            figure = str(macros.figure(self.figures["glorot"], self.words["figure1"], 80))
        text = self.env.from_string(unit.statement[self.lang])
        return text.render(**self._context(target), figure=figure).strip("\n")

    def sections(self, target: str) -> list[Section]:
        """The paper's sections: the note, each exercise with its questions (Exercise 1 opens on the network)."""
        w = self.words
        out = [Section("lead", "", self.block("intro", target), label="intro")]
        for section in units.SECTIONS:
            mine = [u for u in self.units if u.section == section]
            if section != "bonus":  # the bonus question is a heading of its own
                title = {"ex1": w["exercise1"], "ex2": w["exercise2"]}[section]
                out.append(
                    Section(
                        "part",
                        title,
                        points=sum(u.points for u in mine),
                        bonus=sum(u.bonus for u in mine),
                        label=section,
                    )
                )
            if section == "ex1":
                out.append(Section("lead", "", self.block("network", target), label="network"))
            for u in mine:
                heading = f"{w['question']} {u.number}" if section != "bonus" else w["bonus"]
                out.append(
                    Section(
                        "question", heading, self.statement(u, target), u.points, u.bonus, label=u.id.replace(".", "-")
                    )
                )
        return out

    def _skeleton(self, name: str, sections: list[Section], bodies: list[str]) -> str:
        template = self.env.get_template(name)
        return (
            template.render(
                **self._context("skeleton"),
                sections=sections,
                bodies=bodies,
                rows=[],
                total=0,
                total_bonus=0,
                version=__version__,
                command="derive exam",
            ).strip("\n")
            + "\n"
        )

    def markdown(self) -> str:
        """The paper as Markdown."""
        sections = self.sections("md")
        return self._skeleton("sheet.md.j2", sections, [s.body for s in sections])

    latex, typst, converted = document.Document.latex, document.Document.typst, document.Document.converted


def build(
    spec,
    lang: str = "fr",
    formats=("md", "pdf"),
    engine: str = "typst",
    out: str | Path = "exam",
    cache_dir=None,
    variant: str | None = None,
    progress=None,
) -> sheets.Written:
    """Write exam.<lang>.<fmt> and its figures/ into ``out``, all at once (nothing is left half-written).

    The figure of Exercise 2 Q5 is the "glorot" experiment's, taken from the store ``cache_dir``
    (computed there when missing: a few seconds).
    """
    from derive.sheet.inputs import Inputs

    sheets.check_request(lang, engine, out, cache_dir)
    # a folder where a paper goes, or a file named figures, is refused before the build, not at the move
    output.check_targets(Path(out), [f"{STEM}.{lang}.{f}" for f in formats], folders=("figures",))
    with output.staging(out, ".derive-exam-") as tmp:
        inputs = Inputs(spec, tmp / "figures", cache_dir, lang=lang)
        drawn = {
            "architecture": inputs.figure("exam-network.png", lambda p: figures.architecture(spec, p, lang, exam=True)),
            "glorot": inputs.experiment_figures("glorot")["glorot_backprop"],
        }
        doc = ExamDocument(spec, lang, drawn, variant)
        written = sheets.documents(doc, tmp / f"{STEM}.{lang}", formats, engine, progress)
        keep = [p for p in written if p.suffix.lstrip(".") in formats]
        keep += sorted((tmp / "figures").glob("*"))
        return sheets.Written(output.move_into(keep, tmp, Path(out)))
