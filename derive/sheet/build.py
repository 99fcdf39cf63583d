"""Building the correction sheet: solve every answer unit, render Markdown, LaTeX, Typst, PDF, write atomically.

Everything is built in a temporary folder beside the output folder; files are moved into place
(``os.replace``) only once every requested format has been produced, so a failure leaves the
output folder as it was.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from derive.engine import data
from derive.errors import DeriveError, printable, quote
from derive.runtime import cache, output
from derive.sheet import render, units
from derive.sheet.claims import Claim
from derive.sheet.inputs import SEED, Inputs
from derive.symbolic import graph

FORMATS = ("md", "tex", "typ", "pdf")
EDITIONS = ("student", "teacher")
STEMS = {"student": "corrige", "teacher": "corrige-teacher"}
CLAIMS_FILE = "claims.json"


class BuildFailed(Exception):
    """The sheet could not be produced: a check failed, or a converter or PDF engine reported an error."""


@dataclass
class Solved:
    """One answered question: its unit, its computed context and the claims its prose rests on."""

    unit: units.Unit
    context: dict
    claims: list[Claim]


def parse_formats(text: str) -> tuple[str, ...]:
    """The formats of a --format value such as "md,tex,pdf", in canonical order."""
    asked = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in asked if f not in FORMATS]
    if bad or not asked:
        raise DeriveError(f"unknown format {quote(','.join(bad) or text)} (expected a comma-separated list of "
                          f"{', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in asked)


def parse_editions(text: str) -> tuple[str, ...]:
    """The editions of an --edition value such as "student,teacher", in canonical order."""
    asked = [e.strip().lower() for e in text.split(",") if e.strip()]
    bad = [e for e in asked if e not in EDITIONS]
    if bad or not asked:
        raise DeriveError(f"unknown edition '{','.join(bad) or text}' (expected student, teacher or both, "
                          "comma-separated)")
    return tuple(e for e in EDITIONS if e in asked)


def _sources(formats, engine: str) -> tuple[str, ...]:
    """The files of one edition a build writes: the formats asked, and the source its PDF engine needs."""
    pdf_source = "typ" if engine == "typst" else "tex"
    return tuple(f for f in FORMATS if f in formats or (f == pdf_source and "pdf" in formats))


def steps(formats: tuple[str, ...], editions: tuple[str, ...] = EDITIONS, engine: str = "typst") -> int:
    """How many progress steps a build of these formats and editions reports."""
    return len(units.load_all()) + 1 + len(_sources(formats, engine)) * len(editions)


def solve_all(
    spec, figdir: Path, progress=None, cache_dir=None, pool=None, lang: str = "fr", reference=None
) -> tuple[list[Solved], Inputs]:
    """Compute every unit's context and evaluate its claims; a required claim that fails stops the build.

    With a :class:`derive.workers.Pool`, the experiments and certificates not cached yet are computed
    in its workers while the units that need none of them are solved here.
    """
    inputs = Inputs(spec, figdir, cache_dir, lang=lang, reference=reference)
    if pool is not None:
        inputs.start(pool)
    solved = []
    for unit in units.for_spec(spec):
        _tick(progress, f"{unit.id}")
        context, found = unit.answer(inputs)
        failed = [c for c in found if c.required and not c.holds]
        if failed:
            raise BuildFailed("; ".join(c.failure() for c in failed))
        solved.append(Solved(unit, context, found))
    return solved, inputs


def claims_report(solved) -> str:
    """Every claim of the sheet as JSON: id, question, holds, predicate, numbers (and what it says)."""
    return json.dumps([c.as_dict(s.unit.id) for s in solved for c in s.claims], indent=1, ensure_ascii=False,
                      allow_nan=False) + "\n"


def outputs(lang: str, formats, editions=EDITIONS) -> list[str]:
    """The names a build of these formats and editions writes into --out (the figures go into figures/)."""
    return [CLAIMS_FILE] + [f"{STEMS[e]}.{lang}.{fmt}" for e in editions for fmt in FORMATS if fmt in formats]


def check_request(lang: str, engine: str, out, cache_dir=None, evidence=None, formats=None, editions=EDITIONS,
                  spec=None) -> None:
    """Refuse, before any work, a language, engine, tool, folder or network the sheet cannot use (a DeriveError)."""
    if lang not in units.LANGS:
        raise DeriveError(f"unknown language {quote(lang)} (expected one of {', '.join(units.LANGS)})")
    if engine not in render.ENGINES:
        raise DeriveError(f"unknown PDF engine {quote(engine)} (expected one of {', '.join(render.ENGINES)})")
    if formats is None or "pdf" in formats:
        render.source_date()  # a malformed SOURCE_DATE_EPOCH, before the whole build
    if engine == "latex" and (formats is None or "pdf" in formats):
        render.check_latex()  # before the whole build, not after it
    for option, folder in (("--out", out), ("--cache", cache_dir), ("--evidence", evidence)):
        if folder is not None and not str(folder).strip():
            raise DeriveError(f"{option} is empty: name a folder (for the current one, '.')")
        if folder is not None:
            cache.check_folder(folder)
    if out is not None:
        _check_out(Path(out), Path(cache_dir) if cache_dir is not None else cache.DEFAULT_DIR)
    if formats is not None:
        output.check_targets(Path(out), outputs(lang, formats, editions), folders=("figures",))
    if evidence is not None:
        _check_evidence(Path(evidence), Path(out), Path(cache_dir) if cache_dir is not None else cache.DEFAULT_DIR)
    if spec is not None:
        graph.top(spec)  # the derivations need two dense layers at the top
        data.check_shape("shapeset", spec.input)  # what the certificate and the experiments are run on
        check_memory(spec)


def check_memory(spec) -> None:
    """Refuse a spec whose experiments or certificates this machine cannot hold (before any work)."""
    from derive.certify import certificate
    from derive.experiments import NAMES, runner

    certificate.check_memory(spec)
    runner.check_memory([runner.plan(name, spec=spec, seed=SEED) for name in NAMES])


EVIDENCE_KINDS = ("certificate", "experiments")


def _check_out(out: Path, cache_dir: Path) -> None:
    """Refuse an output folder that is the results store or lies inside it (the store is not a place for files)."""
    try:
        inside = out.resolve() == cache_dir.resolve() or cache_dir.resolve() in out.resolve().parents
    except (OSError, RuntimeError):  # a symlink loop: check_folder has said what it can
        return
    if inside:
        raise DeriveError(f"{printable(out)}: is or lies inside the cache (--cache); "
                          "give the output a folder of its own")


def _check_evidence(evidence: Path, out: Path, cache_dir: Path) -> None:
    """Refuse an evidence folder that holds other things, holds the sheet, or is (in) the cache."""
    where = printable(evidence)
    try:
        ev, places = evidence.resolve(), ((out.resolve(), "the output folder (--out)"),
                                          (cache_dir.resolve(), "the cache (--cache)"))
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise DeriveError(f"{where}: cannot tell where the folders lie ({exc})") from None
    for other, what in places:
        if ev == other or ev in other.parents:
            raise DeriveError(f"{where}: is or holds {what}; give the evidence a folder of its own")
        if other in ev.parents and what.startswith("the cache"):
            raise DeriveError(f"{where}: lies inside {what}; give the evidence a folder of its own")
    if ev.is_dir():
        # hidden entries (a temporary folder, .git) are left alone: nothing in the folder is deleted
        strays = sorted(p.name for p in ev.iterdir()
                        if not p.name.startswith(".") and (p.name not in EVIDENCE_KINDS or not p.is_dir()))
        if strays:
            raise DeriveError(f"{where}: not an evidence folder (it holds {', '.join(map(quote, strays[:3]))}); "
                              "give an empty folder or one written by --evidence")


def build(
    spec,
    lang: str = "fr",
    formats=("md", "tex", "pdf"),
    engine: str = "typst",
    out: str | Path = "build",
    progress=None,
    cache_dir=None,
    evidence=None,
    workers: int | None = None,
    editions=EDITIONS,
    reference=None,
    variant: str | None = None,
) -> Written:
    """Write corrige.<lang>.<fmt> (student), corrige-teacher.<lang>.<fmt>, claims.json and figures/ into `out`.

    Returns the written paths. ``editions`` chooses among the student and the teacher edition;

    ``cache_dir`` holds the experiments' and certificates' results (default: .derive-cache/);
    ``evidence``, if given, receives a copy of the results this sheet used (laid out as a cache; what it
    held stays, and a folder holding anything else is refused);
    ``workers`` > 0 computes the missing results in that many worker processes (default: one per
    core), 0 in this process. A variant's corrigé gives its label as ``variant`` and the spec its
    experiments were run on as ``reference`` (its own formulas, counts and certificate are computed).
    """
    from derive.runtime.workers import Pool, default_count
    from derive.sheet import document

    check_request(lang, engine, out, cache_dir, evidence, formats, editions, spec)
    out = Path(out)
    with output.staging(out, ".derive-sheet-") as tmp:
        workers = default_count() if workers is None else workers
        with Pool(workers) if workers else contextlib.nullcontext() as pool:
            solved, inputs = solve_all(spec, tmp / "figures", progress, cache_dir, pool, lang, reference)
        written = [output.write_text(tmp / CLAIMS_FILE, claims_report(solved))]
        for edition in editions:
            doc = document.Document(
                spec, lang, solved, runs=inputs.runs, certificates=inputs.certificates, edition=edition, variant=variant
            )
            written += documents(doc, tmp / f"{STEMS[edition]}.{lang}", formats, engine, progress)
        keep = [p for p in written if p.suffix.lstrip(".") in formats or p.name == CLAIMS_FILE]
        keep += sorted((tmp / "figures").glob("*")) if (tmp / "figures").exists() else []
        _tick(progress, "write")
        if evidence is not None:
            _check_evidence(Path(evidence), out, Path(cache_dir) if cache_dir is not None else cache.DEFAULT_DIR)
        written = Written(output.move_into(keep, tmp, out))
        if evidence is not None:
            inputs.export(Path(evidence))
        return written


def documents(doc, stem: Path, formats, engine: str, progress) -> list[Path]:
    """One edition's Markdown, LaTeX, Typst and PDF (the source a PDF engine needs is written too)."""
    written = []
    for fmt in _sources(formats, engine):
        _tick(progress, f"{stem.name}.{fmt}")
        target = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "pdf":
            compile_pdf = render.pdf_typst if engine == "typst" else render.pdf_latex
            try:
                written.append(compile_pdf(target.with_suffix(".typ" if engine == "typst" else ".tex")))
            except RuntimeError as exc:
                raise BuildFailed(str(exc)) from exc
        else:
            written.append(output.write_text(target, {"md": doc.markdown, "tex": doc.latex, "typ": doc.typst}[fmt]()))
    return written


class Written(list):
    """The files a build wrote, and their rendering (the documents, one per line; figures are not listed)."""

    def render(self, fmt: str = "text") -> str:
        """The written documents, one path per line."""
        return "".join(f"{p}\n" for p in self if p.parent.name != "figures")


def _tick(progress, label: str) -> None:
    if progress is not None:
        progress(label)
