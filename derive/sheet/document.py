"""A correction sheet as a document: its sections in Markdown, and the same sheet as LaTeX or Typst.

Markdown is written once, by the answer units' templates. The LaTeX and Typst sheets are skeletons
(title block, marking-scheme table, headings) filled with that Markdown converted by pandoc.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass

from derive.sheet import render, typography, units
from derive.sheet.claims import Replacements, Verdicts
from derive.sheet.units import SECTIONS
from derive.version import __version__

TEMPLATES = units.folder("templates")
TARGETS = {"md": "md", "latex": "pandoc", "typst": "pandoc"}


@dataclass(frozen=True)
class Section:
    """One section of the sheet: a heading (with points for a question) and its Markdown body."""

    kind: str  # "part" (an exercise heading), "question", or "text"
    title: str
    body: str = ""
    points: float = 0.0
    bonus: float = 0.0
    label: str = ""
    level: int = 1  # a text section's heading level (2: under the previous part)
    top: bool = False  # a question that is a part of its own (the one bonus question): a part's heading


def string_table(lang: str) -> dict:
    """Every word of the skeletons in one language, as ``strings.toml`` holds them (with its sub-tables)."""
    return tomllib.loads((TEMPLATES / "strings.toml").read_text(encoding="utf-8"))[lang]


def strings(lang: str, variant: str | None = None) -> dict[str, str]:
    """The sheet skeleton's words in one language; for a variant's corrigé, with its own forms put in place."""
    words = string_table(lang)
    words.pop("exam")
    own = words.pop("variant")
    if variant is not None:
        words.update({key: text.format(label=variant) for key, text in own.items()})
    return words


class Document:
    """The sheet in one language and one edition (student or teacher), built from solved answer units.

    Both editions hold the same answers. The student edition adds only a short reading of the exam
    text; the teacher edition adds the marking scheme with the alternative answers that earn full
    marks, the register of conventions and ambiguities, and the verification appendix (certificate,
    claims with their predicates and numbers, experiments).
    """

    def __init__(
        self,
        spec,
        lang: str,
        solved,
        runs: dict | None = None,
        certificates: dict | None = None,
        edition: str = "teacher",
        variant: str | None = None,
    ):
        self.spec, self.lang, self.solved, self.runs = spec, lang, solved, dict(runs or {})
        self.certificates = dict(certificates or {})
        self.edition, self.variant = edition, variant
        self.words = strings(lang, variant)
        if lang == "fr":  # the skeleton's words get the same spaces and apostrophes as the answers
            self.words = {k: typography.french(v) for k, v in self.words.items()}
        self.env = render.environment(TEMPLATES, units.ROOT)
        self.cited: list[str] = []
        self.replacements: dict[str, Replacements] = {}  # by template: the wordings printed for failed claims

    @property
    def teacher(self) -> bool:
        """Whether this is the teacher edition."""
        return self.edition == "teacher"

    def reference(self, key: str) -> dict:
        """One work of the bibliography in the sheet's language (``title_fr`` over ``title``...), its year labelled."""
        refs = units.references()
        if key not in refs:
            raise KeyError(f"unknown reference '{key}'")
        ref = {field: refs[key].get(f"{field}_{self.lang}", value) for field, value in refs[key].items()}
        return ref | {"key": key, "label": f"{ref['year']}{ref.get('suffix', '')}"}  # 2016a, 2016b

    def cite(self, *keys: str) -> str:
        """A citation "Author, year; Author, year", remembering the keys for the references list."""
        refs = [self.reference(k) for k in keys]
        self.cited += [k for k in keys if k not in self.cited]
        return "; ".join(f"{r['short']}, {r['label']}" for r in refs)

    def citet(self, key: str) -> str:
        """A citation as the subject of a sentence: "Author (year)"."""
        r = self.reference(key)
        self.cite(key)
        return f"{r['short']} ({r['label']})"

    def _base(self, target: str) -> dict:
        return {
            "lang": self.lang,
            "target": target,
            "S": self.words,
            "cite": self.cite,
            "citet": self.citet,
            "spec": self.spec,
            "edition": self.edition,
            "teacher": self.teacher,
            "variant": self.variant,
        }

    def _render(self, name: str, target: str, **context) -> str:
        return self.env.get_template(name).render(**self._base(target), **context).strip("\n")

    def block(self, name: str, block: str, target: str, context: dict) -> str:
        """One block of a unit's template (``answer`` or ``evidence``); empty when the template has none."""
        template = self.env.get_template(name)
        if block not in template.blocks:
            return ""
        otherwise = self.replacements.setdefault(name, Replacements(context.get("claims", Verdicts())))
        values = {**self._base(target), "otherwise": otherwise, **context}
        return "".join(template.blocks[block](template.new_context(values))).strip("\n")

    def sections(self, target: str) -> list[Section]:
        """Every section of the sheet, its body Markdown written for `target` ("md" or "pandoc")."""
        self.cited, self.replacements = [], {}
        w = self.words
        register = "register" if self.teacher else "reading"
        entries = units.register(self.spec, self.variant is not None)
        out = [Section("text", w[register], self._render("register.md.j2", target, entries=entries), label=register)]
        for section in SECTIONS:
            solved = [s for s in self.solved if s.unit.section == section]
            title = {"ex1": w["exercise1"], "ex2": w["exercise2"], "bonus": w["bonus"]}[section]
            alone = section == "bonus" and len(solved) == 1  # one heading: the question is the part
            if not alone:
                out.append(Section("part", title, points=sum(s.unit.points for s in solved),
                                   bonus=sum(s.unit.bonus for s in solved), label=section))
            for s in solved:
                u = s.unit
                body = self._render("question.md.j2", target, unit=u,
                                    answer=self.block(u.template(self.lang), "answer", target, s.context))
                title = (f"{w['question']} {u.number}. {u.title[self.lang]}" if section != "bonus"
                         else f"{title if alone else w['bonus_question']}. {u.title[self.lang]}")
                out.append(Section("question", title, body, u.points, u.bonus, label=u.id.replace(".", "-"), top=alone))
        if self.teacher:
            out.append(Section("part", w["verified"], label="verified"))
            out.append(Section("text", w["verified_how"], level=2, body=self._render(
                f"verified.{self.lang}.md.j2", target, version=__version__, cert=self._certificate(),
                runs=[self.runs[k] for k in sorted(self.runs)], pandoc=render.pandoc_version()), label="how"))
            for s in self.solved:
                name = s.unit.template(self.lang)
                evidence = self.block(name, "evidence", target, s.context)
                instead = self.replacements.setdefault(name, Replacements(s.context.get("claims", {})))
                body = self._render("evidence.md.j2", target, unit=s.unit, claims=s.claims, evidence=evidence,
                                    instead=instead.instead(s.claims))
                out.append(Section("text", f"{w['evidence_for']} {self._number(s.unit)}", body,
                                   label=f"evidence-{s.unit.id.replace('.', '-')}", level=2))
        else:
            out.append(Section("text", w["checked"], self._render("checked.md.j2", target), label="checked"))
        cited = sorted((self.reference(k) for k in self.cited), key=lambda r: (r["short"], r["label"]))
        out.append(Section("text", w["references"], self._render("references.md.j2", target, refs=cited),
                           label="references"))
        if self.lang == "fr":
            out = [dataclasses.replace(s, title=typography.french(s.title), body=typography.french(s.body))
                   for s in out]
        return out

    def _number(self, u) -> str:
        return f"{u.section[-1]}.{u.number}" if u.section != "bonus" else self.words["bonus_question"]

    def _certificate(self) -> dict | None:
        """The certificates' summary for the verification section, tolerances read from the checking code."""
        if not self.certificates:
            return None
        from derive.certify import evidence, training

        reports = [self.certificates[k] for k in sorted(self.certificates)]
        first = reports[0]
        return {
            "pairs": first["pairs"], "cases": first["hinge_cases"], "data": first["data"], "seed": first["seed"],
            "checked": sum(t["checked"] for r in reports for t in r["tensors"]),
            "max_rel_error": max(t["max_rel_error"] for r in reports for t in r["tensors"]),
            "autograd": all(r["autograd"] for r in reports), "training": first["training"],
            "variants": len(reports), "step": evidence.STEP, "rtol": evidence.RTOL, "agree": evidence.AGREE_RTOL,
            "trajectory_tolerance": training.TOLERANCE,
        }

    def scheme(self) -> list[dict]:
        """The marking-scheme summary: one row per question with its points and bonus."""
        prose = typography.french if self.lang == "fr" else str
        return [{"number": self._number(s.unit), "title": prose(s.unit.title[self.lang]), "points": s.unit.points,
                 "bonus": s.unit.bonus} for s in self.solved]

    def _skeleton(self, name: str, sections: list[Section], bodies: list[str] | None = None) -> str:
        rows = self.scheme()
        return (
            self._render(
                name,
                "skeleton",
                sections=sections,
                bodies=bodies or [s.body for s in sections],
                rows=rows,
                total=sum(r["points"] for r in rows),
                total_bonus=sum(r["bonus"] for r in rows),
                version=__version__,
                command="derive sheet",
            )
            + "\n"
        )

    def markdown(self) -> str:
        """The whole sheet as Markdown (GitHub-readable; pandoc's input for the other formats)."""
        return self._skeleton("sheet.md.j2", self.sections("md"))

    def latex(self) -> str:
        """The whole document as LaTeX (pdfLaTeX, A4)."""
        return self.converted("sheet.tex.j2", "latex")

    def typst(self) -> str:
        """The whole document as Typst (A4)."""
        return self.converted("sheet.typ.j2", "typst")

    def converted(self, skeleton: str, to: str) -> str:
        """The document's sections converted by pandoc to ``to`` and laid into the skeleton."""
        sections = self.sections("pandoc")
        return self._skeleton(skeleton, sections, render.convert([s.body for s in sections], to))
