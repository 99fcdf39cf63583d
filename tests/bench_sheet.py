"""Benchmark of `derive sheet` (printed figures, not a test): one language, every format, from scratch and cached.

Run with `.venv/bin/python tests/bench_sheet.py` (add `--parts` for the cost of each experiment and
certificate). "From scratch" runs in an empty working folder, so the cache (.derive-cache/:
experiments and certificates, keyed by spec, seed and code version) starts empty and every
experiment and certificate is recomputed; "cached" reruns in the same folder. The baseline is
`derive count-params` in the same run, so the ratios compare across machines better than the
seconds do. Each line also gives the CPU seconds of the command and its workers (the cores' work:
wall seconds near CPU seconds / cores mean the cores were the command's own) and the load average
before and after it ran: on a machine shared with other jobs, compare runs made under similar loads.

With `--parts`, each experiment and each certificate run is then computed alone, one after the
other, in a fresh process from an empty cache: its wall and CPU seconds and the training steps it
takes (backward passes of the exam network: its training steps, and the few gradients a
certificate or a probe takes), for sizing the runs.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

DERIVE = [sys.executable, "-m", "derive"]
TARGETS = {"from scratch (empty cache)": 60.0, "experiments cached": 10.0}  # seconds, issue 14

# One part computed in this fresh interpreter, its training steps counted: printed as one JSON line.
PART = """
import json, sys, time
from derive.runtime import tuning
tuning.for_speed()  # as the command line does, before NumPy loads
from derive.engine import network
steps = []
backward = network.Network.backward
network.Network.backward = lambda self, cache, **kw: steps.append(len(cache.l)) or backward(self, cache, **kw)
kind, name, cache_dir = sys.argv[1:4]
wall, cpu = time.perf_counter(), time.process_time()
if kind == "experiment":
    from derive.experiments import runner
    runner.compute(runner.plan(name, cache_dir=cache_dir))
else:
    from derive.certify import certificate
    from derive.sheet import inputs
    from derive.spec import default_spec
    certificate.run(default_spec().with_options(shared=name == "tied"), seed=inputs.SEED,
                    exhaustive=inputs.EXHAUSTIVE)
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "steps": len(steps),
                  "pairs": sorted(set(steps))}))
"""


def timed(args, cwd) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds (the command and every process it waited for), and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def load() -> str:
    """The 1-minute load average (other jobs on the machine), or '?' where the system does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def sheet(work: str, base: float) -> None:
    """The sheet from an empty cache, then from the warm one with each PDF engine."""
    for label, engine in (("from scratch (empty cache)", "typst"), ("experiments cached", "typst"),
                          ("experiments cached", "latex")):
        args = ["sheet", "--lang", "fr", "--format", "md,tex,pdf", "--pdf-engine", engine, "--out", "out"]
        before = load()
        seconds, cpu, _ = timed(DERIVE + args, work)
        print(f"{engine:<6}  {label:<28} wall {seconds:6.2f} s  ({seconds / base:6.1f} x baseline)  "
              f"cpu {cpu:6.1f} s  load before {before}, after {load()}  target {TARGETS[label]:.0f} s")


def parts(work: str) -> None:
    """Each experiment and certificate alone in a fresh process, from an empty cache."""
    from derive.experiments import NAMES

    print("each part alone, in a fresh process, from an empty cache (one after the other):")
    total = [0.0, 0.0, 0]
    for kind, name in [("experiment", n) for n in NAMES] + [("certificate", "untied"), ("certificate", "tied")]:
        cache_dir = os.path.join(work, f"cache-{kind}-{name}")
        before = load()
        _, _, out = timed([sys.executable, "-c", PART, kind, name, cache_dir], work)
        fig = json.loads(out.strip().splitlines()[-1])
        pairs = "/".join(map(str, fig["pairs"])) or "-"
        print(f"  {kind:<11} {name:<12} wall {fig['wall']:6.1f} s  cpu {fig['cpu']:6.1f} s  "
              f"backward passes {fig['steps']:5d} (pairs each {pairs})  load before {before}")
        total = [total[0] + fig["wall"], total[1] + fig["cpu"], total[2] + fig["steps"]]
    print(f"  {'all parts':<24} wall {total[0]:6.1f} s  cpu {total[1]:6.1f} s  backward passes {total[2]:5d}")


def main() -> None:
    """Print seconds and ratios to the baseline: from scratch once (typst), then cached with both engines."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    with tempfile.TemporaryDirectory() as work:
        base, _, _ = timed(DERIVE + ["count-params"], work)
        print(f"baseline  derive count-params                 wall {base:6.2f} s")
        sheet(work, base)
        if "--parts" in sys.argv[1:]:
            parts(work)


if __name__ == "__main__":
    main()
