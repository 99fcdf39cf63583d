"""Building the correction sheet: solve every answer unit, render Markdown, LaTeX, Typst, PDF, write atomically.

Everything is built in a temporary folder beside the output folder; files are moved into place
(``os.replace``) only once every requested format has been produced, so a failure leaves the
output folder as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from derive.errors import DeriveError
from derive.runtime import cache, output
from derive.sheet import render, units
from derive.sheet.inputs import Inputs

FORMATS = ("md", "tex", "typ", "pdf")
STEM = "corrige"


class BuildFailed(Exception):
    """The sheet could not be produced: a check failed, or a converter or PDF engine reported an error."""


@dataclass
class Solved:
    """One answered question: its unit, its computed context and the evidence checked on it."""

    unit: units.Unit
    context: dict
    checks: list[units.Check]


def parse_formats(text: str) -> tuple[str, ...]:
    """The formats of a --format value such as "md,tex,pdf", in canonical order."""
    asked = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in asked if f not in FORMATS]
    if bad or not asked:
        raise DeriveError(f"unknown format '{','.join(bad) or text}' (expected a comma-separated list of "
                          f"{', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in asked)


def steps(formats: tuple[str, ...]) -> int:
    """How many progress steps a build of these formats reports."""
    return len(units.load_all()) + 2 + ("tex" in formats or "pdf" in formats) + ("pdf" in formats)


def solve_all(spec, figdir: Path, progress=None, cache_dir=None, pool=None) -> tuple[list[Solved], Inputs]:
    """Compute every unit's context and check its evidence; a failed check stops the build.

    With a :class:`derive.workers.Pool`, the experiments and certificates not cached yet are computed
    in its workers while the units that need none of them are solved here.
    """
    inputs = Inputs(spec, figdir, cache_dir)
    if pool is not None:
        inputs.start(pool)
    solved = []
    for unit in units.load_all():
        _tick(progress, f"{unit.id}")
        context = unit.solve(inputs)
        checks = unit.check(context)
        failed = [c for c in checks if not c.ok]
        if failed:
            raise BuildFailed("; ".join(f"{unit.id}: check failed: {c.text('en')} ({c.note('en')})" for c in failed))
        solved.append(Solved(unit, context, checks))
    return solved, inputs


def check_request(lang: str, engine: str, out, cache_dir=None, evidence=None) -> None:
    """Refuse, before any work, a language, engine or folder the sheet cannot use (a DeriveError)."""
    if lang not in units.LANGS:
        raise DeriveError(f"unknown language '{lang}' (expected one of {', '.join(units.LANGS)})")
    if engine not in render.ENGINES:
        raise DeriveError(f"unknown PDF engine '{engine}' (expected one of {', '.join(render.ENGINES)})")
    for folder in (out, cache_dir, evidence):
        if folder is not None:
            cache.check_folder(folder)


def build(spec, lang: str = "fr", formats=("md", "tex", "pdf"), engine: str = "typst",
          out: str | Path = "build", progress=None, cache_dir=None, evidence=None, workers: int | None = None
          ) -> Written:
    """Write corrige.<lang>.<fmt> and figures/ into `out`; returns the written paths.

    ``cache_dir`` holds the experiments' and certificates' results (default: .derive-cache/);
    ``evidence``, if given, is replaced by a copy of the results this sheet used (laid out as a cache);
    ``workers`` > 0 computes the missing results in that many worker processes (default: one per
    core), 0 in this process.
    """
    from derive.runtime.workers import Pool, default_count
    from derive.sheet import document

    check_request(lang, engine, out, cache_dir, evidence)
    out = Path(out)
    with output.staging(out, ".derive-sheet-") as tmp:
        workers = default_count() if workers is None else workers
        with Pool(workers) if workers else contextlib.nullcontext() as pool:
            solved, inputs = solve_all(spec, tmp / "figures", progress, cache_dir, pool)
        doc = document.Document(spec, lang, solved, runs=inputs.runs, certificates=inputs.certificates)
        _tick(progress, "markdown")
        written = [output.write_text(tmp / f"{STEM}.{lang}.md", doc.markdown())]
        if "tex" in formats or (engine == "latex" and "pdf" in formats):
            _tick(progress, "latex")
            written.append(output.write_text(tmp / f"{STEM}.{lang}.tex", doc.latex()))
        if "typ" in formats or (engine == "typst" and "pdf" in formats):
            _tick(progress, "typst")
            written.append(output.write_text(tmp / f"{STEM}.{lang}.typ", doc.typst()))
        if "pdf" in formats:
            _tick(progress, f"pdf ({engine})")
            compile_pdf = render.pdf_typst if engine == "typst" else render.pdf_latex
            try:
                written.append(compile_pdf(tmp / f"{STEM}.{lang}.{'typ' if engine == 'typst' else 'tex'}"))
            except RuntimeError as exc:
                raise BuildFailed(str(exc)) from exc
        keep = [p for p in written if p.suffix.lstrip(".") in formats]
        keep += sorted((tmp / "figures").glob("*")) if (tmp / "figures").exists() else []
        if evidence is not None:
            inputs.export(tmp / "evidence")
        _tick(progress, "write")
        written = Written(output.move_into(keep, tmp, out))
        if evidence is not None:
            _replace_folder(tmp / "evidence", Path(evidence))
        return written


class Written(list):
    """The files a build wrote, and their rendering (the documents, one per line; figures are not listed)."""

    def render(self, fmt: str = "text") -> str:
        """The written documents, one path per line."""
        return "".join(f"{p}\n" for p in self if p.parent.name != "figures")


def _replace_folder(source: Path, target: Path) -> None:
    """Put folder `source` in place of `target` (renames, so readers never see a half-copied folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


def _tick(progress, label: str) -> None:
    if progress is not None:
        progress(label)
