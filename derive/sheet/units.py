"""Answer units: one folder per exam question under ``answers/``, loaded by path; the marking-scheme sums.

The content lives apart from the code: ``answers/`` and ``templates/`` sit at the top of the project
(and inside the installed package, where the wheel maps them). A unit folder holds ``meta.toml``
(id, section, number, points, short title, restatement and the exam paper's statement in each
language, the marking scheme per sub-item, the alternative answers that earn full marks; its texts
are templates written with the spec's layer names, ``{{ n.upper }}``), optionally ``answer.py``
(``solve(inputs) -> dict``, the numbers and objects its prose quotes, and
``claims(context) -> list[Claim]``, every conclusion it draws as a predicate over those numbers), and
its prose once per language: ``fr.md.j2`` and ``en.md.j2``, Jinja templates producing Markdown with a
block ``answer`` (both editions) and a block ``evidence`` (the teacher edition's appendix).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from derive.prose import LANGS, primed
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
    alternatives: tuple[dict, ...] = ()  # other answers that earn full marks, per language (teacher edition)
    statement: dict = field(default_factory=dict)  # the question as the exam paper words it (a template)

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

    def named(self, n: dict) -> Unit:
        """The unit with its titles, restatements, scheme and alternatives written with a spec's layer names."""
        return dataclasses.replace(
            self,
            title=_named(self.title, n),
            restate=_named(self.restate, n),
            scheme=tuple(dataclasses.replace(i, text=_named(i.text, n)) for i in self.scheme),
            alternatives=tuple(_named(a, n) for a in self.alternatives),
        )

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
    return Unit(
        meta["id"],
        meta["section"],
        int(meta["number"]),
        float(meta["points"]),
        {k: meta["title"][k] for k in LANGS},
        {k: meta["restate"][k] for k in LANGS},
        items,
        where.name,
        module,
        alternatives,
        {k: meta["statement"][k] for k in LANGS},
    )


@cache
def load_all() -> tuple[Unit, ...]:
    """Every answer unit, in exam order (exercise 1, exercise 2, then the bonus question)."""
    units = [_unit(p.parent) for p in ROOT.glob("*/meta.toml")]
    return tuple(sorted(units, key=lambda u: (SECTIONS.index(u.section), u.number)))


def names(spec) -> dict:
    """The layer names and notation labels the metadata's templates use (``{{ n.upper }}``, ``{{ n.u }}``...).

    Those of :func:`derive.symbolic.graph.prose_names`, plus ``convs`` (the conv layers, "L1-L4") and
    ``second`` (the branch's second layer with weights, the exam's L2).
    """
    from derive.symbolic.graph import prose_names

    convs = [layer.name for layer in spec.layers if layer.type == "conv"]
    span = (convs[0] if len(convs) == 1 else f"{convs[0]}-{convs[-1]}") if convs else ""
    weighted = [layer.name for layer in spec.layers if layer.type != "maxpool"]
    second = weighted[1] if len(weighted) > 1 else weighted[0]
    return {**prose_names(spec), "convs": span, "second": second}


@cache
def for_spec(spec) -> tuple[Unit, ...]:
    """Every unit, its metadata written with the layer names of ``spec``."""
    n = names(spec)
    return tuple(u.named(n) for u in load_all())


@cache
def _text_environment():
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["primed"] = primed
    return env


def _named(texts: dict[str, str], n: dict) -> dict[str, str]:
    return {
        lang: _text_environment().from_string(text).render(n=n) if "{" in text else text for lang, text in texts.items()
    }


@cache
def references() -> dict[str, dict]:
    """The bibliography the units cite, by key."""
    return tomllib.loads((ROOT / "references.toml").read_text(encoding="utf-8"))


@cache
def _register() -> list[dict]:
    return tomllib.loads((ROOT / "register.toml").read_text(encoding="utf-8"))["entry"]


def register(spec=None, variant: bool = False) -> list[dict]:
    """The register of conventions and of ambiguous places in the exam text, written for a spec's names.

    A variant's corrigé keeps only the entries marked ``variants = true``: its exam is the
    project's own text, which has none of the 2019 text's slips.
    """
    from derive.spec import default_spec

    n = names(spec or default_spec())
    out = []
    for entry in _register():
        if variant and not entry.get("variants"):
            continue
        own = {key[len("variant_") :]: value for key, value in entry.items() if key.startswith("variant_")}
        entry = {key: value for key, value in entry.items() if not key.startswith("variant_")}
        entry.update(own if variant else {})
        out.append({key: _named(value, n) if isinstance(value, dict) else value for key, value in entry.items()})
    return out


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
