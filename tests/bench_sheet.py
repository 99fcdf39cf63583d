"""Benchmark of `derive sheet` (printed figures, not a test): one language, every format, from scratch and cached.

Run with `.venv/bin/python tests/bench_sheet.py`. "From scratch" runs in an empty working folder, so
the cache (.derive-cache/: experiments and certificates, keyed by spec, seed and code version)
starts empty and every experiment and certificate is recomputed; "cached" reruns in the same folder.
The baseline is `derive count-params` in the same run, so the ratios compare across machines better
than the seconds do. Each line also gives the CPU seconds of the command and its workers, and the
load average before it ran: on a machine shared with other jobs, compare runs made under similar loads
(wall seconds near CPU seconds / cores mean the cores were the command's own).
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

DERIVE = [sys.executable, "-m", "derive"]
TARGETS = {"from scratch (empty cache)": 60.0, "experiments cached": 10.0}  # seconds, issue 5


def timed(args, cwd) -> tuple[float, float]:
    """Wall-clock and CPU seconds (the command and every process it waited for) of one successful command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(DERIVE + args, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def load() -> str:
    """The 1-minute load average (other jobs on the machine), or '?' where the system does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def main() -> None:
    """Print seconds and ratios to the baseline: from scratch once (typst), then cached with both engines."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    with tempfile.TemporaryDirectory() as work:
        base, _ = timed(["count-params"], work)
        print(f"baseline  derive count-params                      {base:6.2f} s")
        for label, engine in (("from scratch (empty cache)", "typst"), ("experiments cached", "typst"),
                              ("experiments cached", "latex")):
            args = ["sheet", "--lang", "fr", "--format", "md,tex,pdf", "--pdf-engine", engine, "--out", "out"]
            before = load()
            seconds, cpu = timed(args, work)
            print(f"{engine:<6}  {label:<40} {seconds:6.2f} s  ({seconds / base:6.1f} x baseline)  "
                  f"cpu {cpu:6.1f} s  load before {before}  target {TARGETS[label]:.0f} s")


if __name__ == "__main__":
    main()
