"""Speed of one training step: this engine against the same network in PyTorch, in one run.

A step is the forward and backward passes of both branches on a batch of pairs, float32, then a
plain SGD update. Each thread setting (2 threads per engine, then 1, by default) is measured in
the same run: this engine and PyTorch in its default (NCHW) and its channels-last memory formats
are timed in alternation, step after step, so that a load on the machine hits all three; the best
step of each is compared (``ratio`` is against the faster PyTorch format), and the spread of the
steps, (90th − 10th percentile) / median, says how steady each engine is. The FLOP count is that
of the convolution and dense products (forward, dL/dW, dL/dx; elementwise work is not counted);
the peak is the rate of large float32 matrix products measured in the same run, run the way the
engine runs its branches.
"""

from __future__ import annotations

import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from derive.engine import train
from derive.engine.network import Network
from derive.runtime import tuning
from derive.runtime.tuning import blas_threads
from derive.shapes import count

ENGINES = ("numpy", "torch", "torch_channels_last")
RUN_KEYS = ("threads", "numpy_step_ms", "torch_step_ms", "torch_channels_last_step_ms", "ratio", "ratio_default",
            "ratio_channels_last", "numpy_spread", "torch_spread", "torch_channels_last_spread", "gflops",
            "peak_gflops")
KEYS = RUN_KEYS + ("peak_rss_mb", "runs")
PEAK_SIZE = 1024


def step_flops(spec, batch: int) -> int:
    """Floating-point operations of the products of one step on ``batch`` pairs (both branches)."""
    # forward, dL/dW, and dL/dx except for the network's first layer (its input needs no gradient)
    macs = sum(c.mult_adds * (2 if i == 0 else 3) for i, c in enumerate(count(spec)))
    return 2 * macs * batch * 2


def peak_gflops(threads: int = 1, size: int = PEAK_SIZE, repeats: int = 5) -> float:
    """GFLOP/s of float32 size x size matrix products, one per thread at once (BLAS single-threaded in
    each, as the engine runs its branches), best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    with ThreadPoolExecutor(max_workers=threads) as pool, blas_threads(1):
        def products():
            list(pool.map(lambda _: a @ b, range(threads)))

        products()
        best = min(_timed(products)[0] for _ in range(repeats))
        return threads * 2 * size**3 / best / 1e9


def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def spread(times) -> float:
    """(90th − 10th percentile) / median of step times: 0 for a perfectly steady engine."""
    p10, p50, p90 = np.percentile(times, [10, 50, 90])
    return float((p90 - p10) / p50)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class Timing:
    """The bench's figures (``figures``, stable JSON keys) and how they were taken (``notes``)."""

    def __init__(self, spec, figures: dict, notes: dict):
        self.spec, self.figures, self.notes = spec, figures, notes

    def render(self, fmt: str = "text") -> str:
        """The figures as text, or as one line of JSON."""
        if fmt == "json":
            return json.dumps(self.figures, sort_keys=True) + "\n"
        f, n = self.figures, self.notes
        lines = [f"one training step: {n['batch']} pairs, float32, {self.spec.source}, {n['repeats']} steps per "
                 f"engine and thread setting, in alternation",
                 f"BLAS: {n['blas']}; freed memory kept for reuse: {n['keep_freed_memory']}; {n['torch']}"]
        for run, note in zip(f["runs"], n["runs"]):
            lines.append(f"{run['threads']} thread{'s' if run['threads'] > 1 else ''} per engine:")
            for engine, label in zip(ENGINES, ("numpy", "pytorch (default NCHW)", "pytorch (channels-last)")):
                best = run[f"{engine}_step_ms"]
                if best is None:
                    continue
                steps = note[engine]
                lines.append(f"  {label:<24} best {best:7.1f} ms  median {steps['median_ms']:7.1f} ms  "
                             f"spread {run[f'{engine}_spread']:6.1%}  CPU {steps['cpu_ms']:7.1f} ms")
            lines.append(f"  numpy: {run['gflops']:.1f} GFLOP/s in the step's products (matrix-product peak "
                         f"{run['peak_gflops']:.1f} GFLOP/s, {run['gflops'] / run['peak_gflops']:.0%} of it)")
            if run["ratio"] is None:
                lines.append(f"  pytorch: not timed ({n['torch']})")
            else:
                lines.append(f"  ratio numpy/pytorch: {run['ratio']:.2f} against the faster format "
                             f"(default {run['ratio_default']:.2f}, channels-last {run['ratio_channels_last']:.2f})")
        before, after = n["load_average"]
        lines += [f"peak memory (RSS) after the numpy steps: {f['peak_rss_mb']:.0f} MB "
                  f"({n['rss_before_mb']:.0f} MB before the first step)",
                  f"load average (1 min) before and after: {before:.2f}, {after:.2f} on {os.cpu_count()} cores"]
        return "\n".join(lines) + "\n"


def run(spec, *, batch: int = 64, repeats: int = 20, threads=(2, 1), seed: int = 0, use_torch: bool = True,
        keep_freed_memory: bool | None = None) -> Timing:
    """Time one training step of both engines for each thread setting: figures under ``KEYS``, and notes.

    With ``threads`` n > 1 this engine runs its two branches in two threads (single-threaded BLAS
    in each), with n = 1 one after the other on a single BLAS thread; PyTorch gets
    ``torch.set_num_threads(n)``; the matrix-product peak runs n single-threaded products at
    once. The top-level figures are those of the first setting. The notes record the load
    average, since a machine shared with other work slows the engines unevenly.
    """
    threads = tuple(threads)
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(seed)
    from derive.shapes import working_set

    tuning.check_memory(2 * working_set(spec, batch, 4), f"a step of {batch} pairs in each engine")
    shape = (batch,) + tuple(spec.input)
    x1, x2 = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    l = (np.arange(batch) % 2).astype(np.int64)
    nets = {n: Network(spec, dtype=np.float32, seed=seed, threads=min(n, 2)) for n in threads}
    opt = train.SGD(1e-4)

    def numpy_step(n):
        def step():
            with blas_threads(n):
                train.step(nets[n], nets[n].backward(nets[n].forward(x1, x2, l, train=True)), opt)
        return step

    rss_before = _rss_mb()
    for n in threads:
        for _ in range(2):
            numpy_step(n)()
    rss = _rss_mb()  # before PyTorch loads, so that it counts this engine only
    twins, note = _torch_steps(nets[threads[0]], x1, x2, l) if use_torch else ({}, "PyTorch not requested")
    flops = step_flops(spec, batch)
    runs, notes = [], []
    for n in threads:
        steps = {"numpy": numpy_step(n)}
        if twins:
            import torch

            torch.set_num_threads(n)
            steps.update(twins)
        for fn in steps.values():
            fn()
        times = {engine: ([], []) for engine in steps}
        for _ in range(repeats):  # alternate, so that a load on the machine hits every engine
            for engine, fn in steps.items():
                wall, cpu = _timed(fn)
                times[engine][0].append(wall)
                times[engine][1].append(cpu)
        runs.append(_figures(n, times, flops))
        notes.append({engine: {"median_ms": float(np.median(w)) * 1e3, "cpu_ms": float(np.median(c)) * 1e3}
                      for engine, (w, c) in times.items()})
    result = {**{k: runs[0][k] for k in RUN_KEYS}, "peak_rss_mb": rss, "runs": runs}
    info = {"batch": batch, "repeats": repeats, "torch": note, "blas": tuning.blas_kernels(),
            "keep_freed_memory": keep_freed_memory, "load_average": (load_before, os.getloadavg()[0]),
            "rss_before_mb": rss_before, "runs": notes}
    return Timing(spec, result, info)


def _figures(threads: int, times: dict, flops: int) -> dict:
    """One thread setting's figures from the wall times of every engine's steps."""
    best = {e: (min(times[e][0]) if e in times else None) for e in ENGINES}
    out = {"threads": threads, "gflops": flops / best["numpy"] / 1e9, "peak_gflops": peak_gflops(threads)}
    for e in ENGINES:
        out[f"{e}_step_ms"] = None if best[e] is None else best[e] * 1e3
        out[f"{e}_spread"] = spread(times[e][0]) if e in times else None
    mine, default, last = best["numpy"], best["torch"], best["torch_channels_last"]
    out["ratio_default"] = None if default is None else mine / default
    out["ratio_channels_last"] = None if last is None else mine / last
    out["ratio"] = None if default is None else mine / min(default, last)
    return {k: out[k] for k in RUN_KEYS}


def _torch_steps(net, x1, x2, l):
    """PyTorch training steps on twins of ``net`` (same parameters) in both memory formats, or {} and why."""
    try:
        import torch
    except ImportError:
        return {}, "PyTorch is not installed: no ratio"
    from derive.engine.torch_twin import TorchTwin

    lt = torch.as_tensor(l, dtype=torch.float32)
    steps = {}
    for engine, channels_last in (("torch", False), ("torch_channels_last", True)):
        twin = TorchTwin(net, torch.float32, channels_last=channels_last)
        steps[engine] = _torch_step(twin, twin.tensor(x1), twin.tensor(x2), lt)
    return steps, f"PyTorch {torch.__version__}"


def _torch_step(twin, t1, t2, lt):
    import torch

    params = list(twin.params.values())

    def step():
        for p in params:
            p.grad = None
        loss = twin.loss_tensors(t1, t2, lt, [{}, {}])
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 1e-4 * p.grad

    return step
