"""A batch of variants: each one's spec, exam paper and corrigé (own certificate), the key, the Moodle quiz.

Variant k of seed S is the same spec whether it is built alone (``only``) or in a batch, and the
same inputs give the same bytes, so a large course splits its batch by ranges across machines.
The reference network's experiments are computed once (or read from the store); then each
variant is built whole by one worker of the pool, and everything is moved into the output
folder at the end, or nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from derive import spec as specs
from derive.errors import DeriveError, printable, quote
from derive.runtime import output
from derive.shapes import PRELU_CONVENTIONS, count, total_params

KEY_FILE, INDEX_FILE = "key.csv", "variants.json"
RANGE = re.compile(r"\s*([0-9]{1,9})\s*(?:-\s*([0-9]{1,9})\s*)?")  # 9 digits: far above any --count


@dataclass(frozen=True)
class Variant:
    """Variant k (from 1) of a seed: its spec and where it is written."""

    k: int
    seed: int
    spec: specs.Spec

    @property
    def label(self) -> str:
        """Its number as papers print it: 07."""
        return f"{self.k:02d}"

    @property
    def folder(self) -> str:
        """Its folder in the output: variant-07."""
        return f"variant-{self.label}"


def parse_only(text: str | None, count: int) -> list[int]:
    """The variants an --only value names ("3", "1-10,15"), in order; every one between 1 and ``count``."""
    if text is None:
        return list(range(1, count + 1))
    chosen = set()
    for part in text.split(","):
        m = RANGE.fullmatch(part)
        if not m:
            raise DeriveError(f"--only: {quote(part.strip())} is not a variant number or a range such as 3-7")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= low <= high <= count:
            raise DeriveError(f"--only: {part.strip()} is not within the {count} variants (1-{count})")
        chosen.update(range(low, high + 1))
    return sorted(chosen)


def plan(family, seed: int, count: int, only: str | None = None) -> list[Variant]:
    """The variants to build: all ``count`` of them, or those ``only`` names.

    All ``count`` are drawn even for a share (``only``): a family too small for the batch is refused
    on every machine, not only on the one whose share reaches past what it holds.
    """
    ks = parse_only(only, count)
    drawn = family.draws(seed, count)
    return [Variant(k, seed, drawn[k - 1]) for k in ks]


def check(family, seed: int, count: int, out, request: Request, only=None, cache_dir=None, moodle=None) -> list:
    """Refuse, before any work, what the batch cannot build or where it cannot write; returns the plan."""
    from derive.certify import certificate
    from derive.sheet import build as sheets

    for lang in request.langs:
        sheets.check_request(lang, request.engine, out, cache_dir)
    output.check_keeps(out, [KEY_FILE, INDEX_FILE], [family.source])  # a family file named variants.json...
    variants = plan(family, seed, count, only)
    output.check_targets(out, [KEY_FILE, INDEX_FILE], folders=[v.folder for v in variants])
    own = ["spec.toml"] + [name for lang in request.langs for name in
                           [f"exam.{lang}.{f}" for f in request.formats] + sheets.outputs(lang, request.formats,
                                                                                        request.editions)]
    for v in variants:  # each variant's files, where an earlier batch wrote them
        output.check_targets(Path(out) / v.folder, own, folders=("figures",))
    for v in variants:  # what the corrigé refuses, said here rather than by a worker halfway through the batch
        try:
            certificate.check_memory(v.spec)
        except DeriveError as exc:
            raise DeriveError(*(f"variant {v.label}: {p}" for p in exc.problems)) from None
    if moodle is not None and not str(moodle).strip():  # before Path(), which reads "" as "."
        raise DeriveError("--moodle is empty: name a file, such as quiz.xml")
    if moodle is not None:
        _check_moodle(Path(moodle), Path(out), variants)
    return variants


def _check_moodle(path: Path, out: Path, variants) -> None:
    """The quiz is a file of its own: not the output folder nor a file of it, and replaces only a quiz."""
    from derive.variants import moodle as export

    output.check_file(path)
    try:
        target, folder = path.resolve(), out.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise DeriveError(f"{printable(path)}: cannot tell where it lies ({exc})") from None
    ours = {KEY_FILE, INDEX_FILE, *(v.folder for v in variants)}
    if target == folder or (folder in target.parents and target.relative_to(folder).parts[0] in ours):
        raise DeriveError(f"{printable(path)}: is the output folder (--out) or one of its files; "
                          "give the quiz a name of its own")
    export.check_replaceable(target)


def key_row(v: Variant) -> dict:
    """What a grader needs of one variant: totals under each reading, the flattened size, the shapes."""
    layers = count(v.spec)
    row = {
        "variant": v.k,
        "seed": v.seed,
        "folder": v.folder,
        "shared_weights": str(v.spec.shared_weights).lower(),
        "prelu": v.spec.prelu,
        "conv_layers": sum(c.type == "conv" for c in layers),
        "branch_params": sum(c.params for c in layers),
        "total_params": total_params(v.spec),
    }
    for shared in (False, True):
        for prelu in PRELU_CONVENTIONS:
            row[f"total_{'shared' if shared else 'separate'}_{prelu}"] = total_params(v.spec, shared, prelu)
    row["flattened"] = next(c.input_shape for c in layers if c.type == "dense")
    row["flattened"] = "x".join(map(str, row["flattened"]))
    row["shapes"] = "; ".join(f"{c.name} {'x'.join(map(str, c.output_shape))}" for c in layers)
    return row


def key_csv(rows: list[dict]) -> str:
    """The key as CSV, one row per variant."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass(frozen=True)
class Request:
    """What to build for each variant."""

    langs: tuple = ("fr",)
    editions: tuple = ("student", "teacher")
    formats: tuple = ("md", "pdf")
    engine: str = "typst"


def build(
    family,
    seed: int,
    count: int,
    out,
    request: Request = Request(),
    only: str | None = None,
    cache_dir=None,
    workers: int | None = None,
    moodle=None,
    progress=None,
    timings: dict | None = None,
) -> list[Path]:
    """Write variant-XX/ for each variant, key.csv and variants.json into ``out`` (and the Moodle quiz).

    Returns the files written. ``workers`` > 0 builds that many variants at once (default: one per
    core), 0 builds them here. ``timings``, when given, receives each variant's build seconds by number.
    """
    from derive.runtime.workers import Pool, default_count

    variants = check(family, seed, count, out, request, only, cache_dir, moodle)
    workers = default_count() if workers is None else workers
    with output.staging(out, ".derive-variants-") as tmp:
        with Pool(workers) if workers else contextlib.nullcontext() as pool:
            _reference_experiments(cache_dir, pool, progress)
            built = _build_all(variants, tmp, request, cache_dir, pool, progress)
        if timings is not None:
            timings.update({b["k"]: b["seconds"] for b in built})
        rows = [key_row(v) for v in variants]
        written = [
            output.write_text(tmp / KEY_FILE, key_csv(rows)),
            output.write_text(tmp / INDEX_FILE, index(family, seed, count, variants, rows, built)),
        ]
        quiz = None
        if moodle is not None:
            from derive.variants import moodle as export

            _tick(progress, "moodle")
            quiz = export.checked(export.quiz([c for b in built for c in b["moodle"]]))
        files = sorted(p for v in variants for p in (tmp / v.folder).rglob("*") if p.is_file())
        moved = output.move_into(files + written, tmp, Path(out))
        if quiz is not None:
            moved.append(output.write_file(moodle, quiz))
        return moved


def _build_all(variants, tmp: Path, request: Request, cache_dir, pool, progress) -> list[dict]:
    """Every variant built, in the pool's workers when there is one; results in the variants' order."""
    jobs = [(v, tmp / v.folder, request, cache_dir) for v in variants]
    if pool is None:
        out = []
        for v, job in zip(variants, jobs):
            _tick(progress, v.folder)
            out.append(build_one(*job))
        return out
    from concurrent.futures import as_completed

    futures = {pool.submit(build_one, *job): v for v, job in zip(variants, jobs)}
    for future in as_completed(futures):
        _tick(progress, futures[future].folder)
    return [future.result() for future in futures]


def build_one(v: Variant, folder: Path, request: Request, cache_dir) -> dict:
    """Build one variant into ``folder`` (in a worker): spec, papers, corrigés; what the index and quiz need."""
    from derive.sheet import build as sheets
    from derive.variants import exam, quiz

    start = time.perf_counter()
    folder.mkdir(parents=True)
    comment = f"Variant {v.label} of seed {v.seed}: an exam network drawn from a family (derive variants)."
    output.write_text(folder / "spec.toml", specs.to_toml(v.spec, comment))
    reference = specs.default_spec()
    claims = None
    for lang in request.langs:
        exam.build(v.spec, lang, request.formats, request.engine, folder, cache_dir, variant=v.label)
        sheets.build(
            v.spec,
            lang,
            request.formats,
            request.engine,
            folder,
            cache_dir=cache_dir,
            workers=0,
            editions=request.editions,
            reference=reference,
            variant=v.label,
        )
        claims = json.loads((folder / sheets.CLAIMS_FILE).read_text(encoding="utf-8"))
    return {
        "k": v.k,
        "claims": len(claims),
        "claims_hold": sum(c["holds"] for c in claims),
        "moodle": [quiz.category(v, lang, folder, cache_dir) for lang in request.langs[:1]],
        "seconds": time.perf_counter() - start,
    }


def _reference_experiments(cache_dir, pool, progress) -> None:
    """The reference network's experiments, computed once for every variant (a no-op when stored)."""
    from derive.sheet.inputs import Inputs

    inputs = Inputs(specs.default_spec(), Path("."), cache_dir)
    if pool is not None:
        inputs.start(pool, certificates=())
    from derive.experiments import NAMES

    for name in NAMES:
        _tick(progress, f"reference: {name}")
        inputs.experiment(name)


def index(family, seed: int, count: int, variants, rows, built) -> str:
    """variants.json: the family, the seed, and per variant its numbers, files and claims."""
    by_k = {b["k"]: b for b in built}
    entries = [
        {**row, "spec": f"{v.folder}/spec.toml", "claims": by_k[v.k]["claims"], "claims_hold": by_k[v.k]["claims_hold"]}
        for v, row in zip(variants, rows)
    ]
    return (
        json.dumps(
            {"family": family.source, "seed": seed, "count": count, "variants": entries}, indent=1, ensure_ascii=False
        )
        + "\n"
    )


def _tick(progress, label: str) -> None:
    if progress is not None:
        progress(label)
