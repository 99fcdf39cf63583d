"""Answer units: one folder per exam question under ``answers/``, loaded by path; the marking-scheme sums.

The content lives apart from the code: ``answers/`` and ``templates/`` sit at the top of the project
(and inside the installed package, where the wheel maps them). A unit folder holds ``meta.toml``
(id, section, number, points, short title and restatement in each language, the marking scheme
per sub-item, the alternative answers that earn full marks), optionally ``answer.py``
(``solve(inputs) -> dict``, the numbers and objects its prose quotes, and
``claims(context) -> list[Claim]``, every conclusion it draws as a predicate over those numbers), and
its prose once per language: ``fr.md.j2`` and ``en.md.j2``, Jinja templates producing Markdown with a
block ``answer`` (both editions) and a block ``evidence`` (the teacher edition's appendix).
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from derive.prose import LANGS
from derive.sheet.claims import Claim, verdicts

SECTIONS = ("ex1", "ex2", "bonus")
# Points the exam gives: 7 per exercise; the bonuses (+0.5 in Ex. 2 Q3, +1 for the last question) on top.
SECTION_POINTS = {"ex1": 7.0, "ex2": 7.0, "bonus": 0.0}
BONUS_POINTS = {"ex1": 0.0, "ex2": 0.5, "bonus": 1.0}


def folder(name: str) -> Path:
    """A content folder (``answers`` or ``templates``): inside the installed package, or at the checkout's top."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is neither in {package} nor beside it")


ROOT = folder("answers")


def claim(unit_id: str, name: str, says: dict[str, str], predicate: str, required: bool = False, **numbers) -> Claim:
    """A claim of a question: ``claim("ex1.q6", "at_chance", {...}, "acc < top", acc=0.52, top=0.54)``."""
    return Claim(f"{unit_id}.{name}", says, predicate, numbers, required)


@dataclass(frozen=True)
class Item:
    """One line of a question's marking scheme: what earns these points."""

    points: float
    text: dict[str, str]
    bonus: bool = False


@dataclass(frozen=True)
class Unit:
    """One question of the exam: metadata, marking scheme, and its computation and prose."""

    id: str
    section: str
    number: int
    points: float
    title: dict[str, str]
    restate: dict[str, str]
    scheme: tuple[Item, ...]
    folder: str
    module: object = field(default=None, compare=False, repr=False)
    alternatives: tuple[dict, ...] = ()   # other answers that earn full marks, per language (teacher edition)

    @property
    def bonus(self) -> float:
        """Bonus points this question can earn on top of its points."""
        return sum(i.points for i in self.scheme if i.bonus)

    def solve(self, inputs) -> dict:
        """The context the prose needs, computed from the shared inputs (spec, derivations, experiments)."""
        if self.module is None or not hasattr(self.module, "solve"):
            return {}
        return self.module.solve(inputs)

    def answer(self, inputs) -> tuple[dict, list[Claim]]:
        """The context the prose is rendered with (the claims' verdicts under ``claims``) and the claims."""
        context = self.solve(inputs)
        found = self.claims(context)
        return {**context, "claims": verdicts(found)}, found

    def claims(self, context: dict) -> list[Claim]:
        """The conclusions this unit's prose draws, each a predicate over the numbers of its context."""
        if self.module is None or not hasattr(self.module, "claims"):
            return []
        found = list(self.module.claims(context))
        wrong = [c.id for c in found if not c.id.startswith(self.id + ".")]
        if wrong:
            raise ValueError(f"{self.id}: claims named outside the question: {', '.join(wrong)}")
        return found

    def template(self, lang: str) -> str:
        """The template name of this unit's prose in one language (relative to the answers folder)."""
        return f"{self.folder}/{lang}.md.j2"


def _module(path: Path):
    """The module of an answer.py, loaded from its path (answer folders are content, not a package)."""
    name = f"_derive_answers.{path.parent.name}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def _unit(where: Path) -> Unit:
    meta = tomllib.loads((where / "meta.toml").read_text(encoding="utf-8"))
    module = _module(where / "answer.py") if (where / "answer.py").exists() else None
    items = tuple(Item(float(i["points"]), {k: i[k] for k in LANGS}, bool(i.get("bonus", False)))
                  for i in meta["scheme"])
    alternatives = tuple({k: a[k] for k in LANGS} for a in meta.get("alternative", ()))
    return Unit(meta["id"], meta["section"], int(meta["number"]), float(meta["points"]),
                {k: meta["title"][k] for k in LANGS}, {k: meta["restate"][k] for k in LANGS},
                items, where.name, module, alternatives)


@cache
def load_all() -> tuple[Unit, ...]:
    """Every answer unit, in exam order (exercise 1, exercise 2, then the bonus question)."""
    units = [_unit(p.parent) for p in ROOT.glob("*/meta.toml")]
    return tuple(sorted(units, key=lambda u: (SECTIONS.index(u.section), u.number)))


@cache
def references() -> dict[str, dict]:
    """The bibliography the units cite, by key."""
    return tomllib.loads((ROOT / "references.toml").read_text(encoding="utf-8"))


@cache
def register() -> list[dict]:
    """The register of conventions and of ambiguous or ill-posed places in the exam text."""
    return tomllib.loads((ROOT / "register.toml").read_text(encoding="utf-8"))["entry"]


def scheme_problems(units=None) -> list[str]:
    """Every way the marking scheme fails to add up (empty when it sums exactly)."""
    units = load_all() if units is None else units
    problems = []
    for u in units:
        base = sum(i.points for i in u.scheme if not i.bonus)
        if abs(base - u.points) > 1e-9:
            problems.append(f"{u.id}: sub-items give {base} points, the question {u.points}")
    for s in SECTIONS:
        got = sum(u.points for u in units if u.section == s)
        bonus = sum(u.bonus for u in units if u.section == s)
        if abs(got - SECTION_POINTS[s]) > 1e-9:
            problems.append(f"{s}: questions give {got} points, the exam {SECTION_POINTS[s]}")
        if abs(bonus - BONUS_POINTS[s]) > 1e-9:
            problems.append(f"{s}: bonus items give {bonus} points, the exam {BONUS_POINTS[s]}")
    return problems
