"""Benchmark of `derive variants` (printed figures, not a test): 20 variants, one language, both editions.

Run with `.venv/bin/python tests/bench_variants.py [--count 20] [--seed 2026] [--lang fr]`.
The reference network's experiments are computed first into an empty store (not timed: a
teacher's store already holds them), then the batch is built with Markdown and PDF for every
variant, two workers, each variant with its own derivations, counts and certificate. The
baseline, measured in the same run and the same store, is the reference network's own corrigé
(both editions, same formats): the ratio says what a variant costs against a sheet whose
experiments are cached. Target (issue 13): the whole batch in at most 5 minutes.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derive.runtime import tuning  # noqa: E402

tuning.for_speed()  # as the command line does, before NumPy loads

from derive import spec as specs  # noqa: E402
from derive.experiments import NAMES  # noqa: E402
from derive.sheet import build as sheets  # noqa: E402
from derive.sheet.inputs import Inputs  # noqa: E402
from derive.variants import batch, family  # noqa: E402

TARGET = 300.0  # seconds for the whole batch, issue 13


def cpu_seconds() -> float:
    """CPU seconds of this process and of every worker it waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Build the batch and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--lang", default="fr", choices=("fr", "en"))
    args = parser.parse_args()
    request = batch.Request(langs=(args.lang,), editions=("student", "teacher"), formats=("md", "pdf"))
    chosen = family.default_family()
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as work:
        store = Path(work) / "store"
        start = time.perf_counter()
        reference = Inputs(specs.default_spec(), Path(work), store)
        for name in NAMES:
            reference.experiment(name)
        print(f"reference experiments into an empty store (not timed below): {time.perf_counter() - start:.1f} s")

        load, cpu, start = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
        sheets.build(specs.default_spec(), args.lang, request.formats, request.engine, Path(work) / "reference",
                     cache_dir=store, editions=request.editions)
        base = time.perf_counter() - start
        print(f"baseline, the reference corrigé (both editions, md+pdf, experiments cached): {base:.1f} s wall, "
              f"{cpu_seconds() - cpu:.1f} s CPU, load {load:.2f}")

        timings: dict = {}
        load, cpu, start = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
        batch.build(chosen, args.seed, args.count, Path(work) / "out", request, cache_dir=store, workers=2,
                    timings=timings)
        wall = time.perf_counter() - start
        print(f"\n{args.count} variants of seed {args.seed}, {args.lang}, both editions, md+pdf, 2 workers:")
        print(f"{'variant':>8} {'conv':>5} {'params (branch)':>16} {'seconds':>8} {'x baseline':>11}")
        for v in batch.plan(chosen, args.seed, args.count):
            row = batch.key_row(v)
            print(f"{v.label:>8} {row['conv_layers']:>5} {row['branch_params']:>16,} {timings[v.k]:>8.1f} "
                  f"{timings[v.k] / base:>11.2f}")
        print(f"\nwhole batch: {wall:.1f} s wall ({wall / args.count:.1f} s per variant), {cpu_seconds() - cpu:.1f} s "
              f"CPU, load {load:.2f} -> {os.getloadavg()[0]:.2f}; target {TARGET:.0f} s: "
              f"{'met' if wall <= TARGET else 'NOT met'} ({wall / TARGET:.2f} of it)")


if __name__ == "__main__":
    main()
