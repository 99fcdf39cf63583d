"""A correction sheet as a document: its sections in Markdown, and the same sheet as LaTeX or Typst.

Markdown is written once, by the answer units' templates. The LaTeX and Typst sheets are skeletons
(title block, marking-scheme table, headings) filled with that Markdown converted by pandoc.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from derive.sheet import render, units
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


def strings(lang: str) -> dict[str, str]:
    """The skeleton's words in one language."""
    return tomllib.loads((TEMPLATES / "strings.toml").read_text(encoding="utf-8"))[lang]


class Document:
    """The sheet in one language, built from solved answer units."""

    def __init__(self, spec, lang: str, solved, runs: dict | None = None, certificates: dict | None = None):
        self.spec, self.lang, self.solved, self.runs = spec, lang, solved, dict(runs or {})
        self.certificates = dict(certificates or {})
        self.words = strings(lang)
        self.env = render.environment(TEMPLATES, units.ROOT)
        self.cited: list[str] = []

    def cite(self, *keys: str) -> str:
        """A citation "Author, year; Author, year", remembering the keys for the references list."""
        refs = units.references()
        for k in keys:
            if k not in refs:
                raise KeyError(f"unknown reference '{k}'")
            if k not in self.cited:
                self.cited.append(k)
        return "; ".join(f"{refs[k]['short']}, {refs[k]['year']}" for k in keys)

    def _render(self, name: str, target: str, **context) -> str:
        base = {"lang": self.lang, "target": target, "S": self.words, "cite": self.cite, "spec": self.spec}
        return self.env.get_template(name).render(**base, **context).strip("\n")

    def sections(self, target: str) -> list[Section]:
        """Every section of the sheet, its body Markdown written for `target` ("md" or "pandoc")."""
        self.cited = []
        w = self.words
        out = [Section("text", w["register"], self._render("register.md.j2", target,
                                                            entries=units.register()), label="register")]
        for section in SECTIONS:
            solved = [s for s in self.solved if s.unit.section == section]
            title = {"ex1": w["exercise1"], "ex2": w["exercise2"], "bonus": w["bonus"]}[section]
            out.append(Section("part", title, points=sum(s.unit.points for s in solved),
                               bonus=sum(s.unit.bonus for s in solved), label=section))
            for s in solved:
                u = s.unit
                body = self._render("question.md.j2", target, unit=u,
                                    answer=self._render(u.template(self.lang), target, **s.context))
                title = (f"{w['question']} {u.number}. {u.title[self.lang]}" if section != "bonus"
                         else f"{w['bonus_question']}. {u.title[self.lang]}")
                out.append(Section("question", title, body, u.points, u.bonus, label=u.id.replace(".", "-")))
        checks = [(s.unit, c) for s in self.solved for c in s.checks]
        out.append(Section("text", w["verified"], self._render(f"verified.{self.lang}.md.j2", target,
                                                                checks=checks, version=__version__,
                                                                runs=[self.runs[k] for k in sorted(self.runs)],
                                                                cert=self._certificate(),
                                                                pandoc=render.pandoc_version()), label="verified"))
        refs = units.references()
        cited = sorted(self.cited, key=lambda k: (refs[k]["short"], refs[k]["year"]))
        out.append(Section("text", w["references"], self._render("references.md.j2", target,
                                                                  refs=[refs[k] | {"key": k} for k in cited]),
                           label="references"))
        return out

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
        rows = []
        for s in self.solved:
            u = s.unit
            number = f"{u.section[-1]}.{u.number}" if u.section != "bonus" else self.words["bonus_question"]
            rows.append({"number": number, "title": u.title[self.lang], "points": u.points, "bonus": u.bonus})
        return rows

    def _skeleton(self, name: str, sections: list[Section], bodies: list[str] | None = None) -> str:
        rows = self.scheme()
        return self._render(name, "skeleton", sections=sections, bodies=bodies or [s.body for s in sections],
                            rows=rows, total=sum(r["points"] for r in rows),
                            total_bonus=sum(r["bonus"] for r in rows), version=__version__) + "\n"

    def markdown(self) -> str:
        """The whole sheet as Markdown (GitHub-readable; pandoc's input for the other formats)."""
        return self._skeleton("sheet.md.j2", self.sections("md"))

    def latex(self) -> str:
        """The whole sheet as a LaTeX document (pdfLaTeX, A4)."""
        sections = self.sections("pandoc")
        return self._skeleton("sheet.tex.j2", sections, render.convert([s.body for s in sections], "latex"))

    def typst(self) -> str:
        """The whole sheet as a Typst document (A4)."""
        sections = self.sections("pandoc")
        return self._skeleton("sheet.typ.j2", sections, render.convert([s.body for s in sections], "typst"))
