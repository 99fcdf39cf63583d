"""Speed of one training step: this engine against the same network in PyTorch, in one run.

A step is the forward and backward passes of both branches on a batch of pairs, float32, then a
plain SGD update. Both engines are timed in alternation, so that a load on the machine hits
both; the best of several runs is kept, and the CPU time of each engine (all its threads)
is noted beside the wall-clock time. The FLOP count is that of the convolution and dense
products (forward, dL/dW, dL/dx; elementwise work is not counted); the peak is the rate of
large float32 matrix products measured in the same run, run the way the engine runs its branches.
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

KEYS = ("numpy_step_ms", "torch_step_ms", "ratio", "gflops", "peak_gflops", "peak_rss_mb")
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
        return threads * 2 * size**3 / _best(products, repeats) / 1e9


def _best(fn, repeats: int, cpu: list | None = None) -> float:
    """Best wall-clock time of ``repeats`` calls; the best CPU time goes into ``cpu[0]`` if given."""
    best = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t)
        if cpu is not None:
            cpu[0] = min(cpu[0], time.process_time() - c)
    return best


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
        lines = [f"one training step: {n['batch']} pairs, float32, {self.spec.source}, {n['threads']} threads per "
                 f"engine, best of {n['repeats']}",
                 f"numpy's BLAS: {n['blas']}; freed memory kept for reuse: {n['keep_freed_memory']}",
                 f"numpy:   {f['numpy_step_ms']:8.1f} ms   {n['numpy_cpu_ms']:.1f} ms of CPU time, "
                 f"{f['gflops']:.1f} GFLOP/s (matrix-product peak {f['peak_gflops']:.1f} GFLOP/s)"]
        if f["torch_step_ms"] is None:
            lines.append(f"pytorch: not timed ({n['torch']})")
        else:
            lines += [f"pytorch: {f['torch_step_ms']:8.1f} ms   {n['torch_cpu_ms']:.1f} ms of CPU time ({n['torch']})",
                      f"ratio numpy/pytorch: {f['ratio']:.2f}"]
        before, after = n["load_average"]
        lines += [f"peak memory (RSS) after the numpy steps: {f['peak_rss_mb']:.0f} MB "
                  f"({n['rss_before_mb']:.0f} MB before the first step)",
                  f"load average (1 min) before and after: {before:.2f}, {after:.2f} on {os.cpu_count()} cores"]
        return "\n".join(lines) + "\n"


def run(spec, *, batch: int = 64, repeats: int = 5, threads: int = 2, seed: int = 0, use_torch: bool = True,
        keep_freed_memory: bool | None = None) -> Timing:
    """Time one training step of both engines: figures under ``KEYS``, and notes on how they were taken.

    This engine runs its two branches in two threads when ``threads`` > 1 (single-threaded BLAS
    in each), one after the other on a single BLAS thread otherwise;
    PyTorch gets ``torch.set_num_threads(threads)``; the matrix-product peak runs ``threads``
    single-threaded products at once. The notes record the load average, since a machine shared
    with other work slows the engines unevenly.
    """
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(seed)
    from derive.shapes import working_set

    tuning.check_memory(2 * working_set(spec, batch, 4), f"a step of {batch} pairs in each engine")
    shape = (batch,) + tuple(spec.input)
    x1, x2 = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    l = (np.arange(batch) % 2).astype(np.int64)
    net = Network(spec, dtype=np.float32, seed=seed, threads=min(threads, 2))
    opt = train.SGD(1e-4)

    def numpy_step():
        with blas_threads(threads):  # threads=1: one branch after the other on one BLAS thread
            train.step(net, net.backward(net.forward(x1, x2, l, train=True)), opt)

    rss_before = _rss_mb()
    numpy_step()
    numpy_cpu, torch_cpu = [float("inf")], [float("inf")]
    numpy_s = _best(numpy_step, 2, numpy_cpu)
    rss = _rss_mb()  # before PyTorch loads, so that it counts this engine only
    torch_step, note = _torch_step(net, x1, x2, l, threads) if use_torch else (None, "PyTorch not requested")
    torch_s = float("inf")
    for _ in range(repeats):  # alternate, so that a load on the machine hits both engines
        numpy_s = min(numpy_s, _best(numpy_step, 1, numpy_cpu))
        if torch_step is not None:
            torch_s = min(torch_s, _best(torch_step, 1, torch_cpu))
    peak = peak_gflops(threads)
    result = {
        "numpy_step_ms": numpy_s * 1e3,
        "torch_step_ms": torch_s * 1e3 if torch_step is not None else None,
        "ratio": numpy_s / torch_s if torch_step is not None else None,
        "gflops": step_flops(spec, batch) / numpy_s / 1e9,
        "peak_gflops": peak,
        "peak_rss_mb": rss,
    }
    notes = {"batch": batch, "repeats": repeats, "threads": threads, "torch": note, "blas": tuning.blas_kernels(),
             "keep_freed_memory": keep_freed_memory,
             "load_average": (load_before, os.getloadavg()[0]), "rss_before_mb": rss_before,
             "numpy_cpu_ms": numpy_cpu[0] * 1e3, "torch_cpu_ms": torch_cpu[0] * 1e3}
    return Timing(spec, result, notes)


def _torch_step(net, x1, x2, l, threads: int):
    """A PyTorch training step on a twin of ``net`` (same parameters), or None and the reason."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed: no ratio"
    from derive.engine.torch_twin import TorchTwin

    torch.set_num_threads(threads)
    twin = TorchTwin(net, torch.float32)
    t1, t2 = twin.tensor(x1), twin.tensor(x2)
    masks = [{}, {}]
    lt = torch.as_tensor(l, dtype=torch.float32)
    params = list(twin.params.values())

    def step():
        for p in params:
            p.grad = None
        loss = twin.loss_tensors(t1, t2, lt, masks)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 1e-4 * p.grad

    step()
    return step, f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
