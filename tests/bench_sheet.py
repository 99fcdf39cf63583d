"""Benchmark of `derive sheet` (printed figures, not a test): one language, every format, from scratch and cached.

Run with `.venv/bin/python tests/bench_sheet.py`. "From scratch" runs in an empty working folder, so
the experiments' cache (.derive-cache/, keyed by spec, seed and code version) starts empty; "cached"
reruns in the same folder. The baseline is `derive count-params` in the same run, so the ratios
compare across machines better than the seconds do.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

DERIVE = [sys.executable, "-m", "derive"]


def timed(args, cwd) -> float:
    """Wall-clock seconds of one command (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(DERIVE + args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Print seconds and ratios to the baseline: from scratch once (typst), then cached with both engines."""
    with tempfile.TemporaryDirectory() as work:
        base = timed(["count-params"], work)
        print(f"baseline  derive count-params                      {base:6.2f} s")
        for label, engine in (("from scratch (empty cache)", "typst"), ("experiments cached", "typst"),
                              ("experiments cached", "latex")):
            args = ["sheet", "--lang", "fr", "--format", "md,tex,pdf", "--pdf-engine", engine, "--out", "out"]
            seconds = timed(args, work)
            print(f"{engine:<6}  {label:<40} {seconds:6.2f} s  ({seconds / base:6.1f} x baseline)")


if __name__ == "__main__":
    main()
