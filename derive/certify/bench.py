"""The certificate's speed figures: exhaustive finite differences per coordinate against torch's gradcheck.

Three figures, each measured in the same run on the same machine: the time of the exhaustive finite
differences of every weight and bias of the two top layers of both branches (the heart of
``derive check``), the per-element cost of ``torch.autograd.gradcheck`` on the same function (the
loss as a function of those weights) measured on a slice, and the cold start of ``derive gradients``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from derive.certify import evidence, tensors
from derive.symbolic import graph

TARGET_EXHAUSTIVE_S = 5.0    # the default spec's ~2.1 million coordinates, kinks included
TARGET_COLD_S = 2.0          # `derive gradients` from a cold start
SLICE = 64                   # entries of the lower layer's weights that gradcheck differentiates


def exhaustive(ctx) -> tuple[int, float, float]:
    """(coordinates, wall seconds, CPU seconds) for the finite differences of every top weight and bias."""
    _, lower, upper, _ = graph.top(ctx.spec)
    keys = [k for k in ctx.net.params if k.split(".")[0].rstrip("'") in (lower.name, upper.name) and k[-1] in "Wb"]
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for key in keys:
        n = ctx.net.params[key].size
        evidence.differences(lambda c, h, key=key: ctx.top.moved(key, c, h), np.arange(n))
        count += n
    return count, time.perf_counter() - start, time.process_time() - cpu


def gradcheck(ctx, n: int = SLICE) -> tuple[int, float] | None:
    """(elements, seconds) of torch.autograd.gradcheck on the loss as a function of n lower-layer weights."""
    try:
        import torch

        from derive.engine.torch_twin import TorchTwin
    except ImportError:
        return None
    net, top = ctx.net, ctx.top
    _, lower, _, _ = graph.top(ctx.spec)
    twin = TorchTwin(net)
    start = net.names.index(lower.name)
    key = net.key(lower.name, 0) + ".W"
    full = twin.params[key].detach()
    flat = full.reshape(-1)
    s4 = [torch.tensor(x) for x in top.s4]
    l = torch.tensor(top.l)

    def loss(part):
        twin.params[key] = torch.cat([part, flat[n:]]).reshape(full.shape)  # both branches under tied weights
        return twin.loss_tensors(s4[0], s4[1], l, [{}, {}], start)

    part = flat[:n].clone().requires_grad_(True)
    begin = time.perf_counter()
    torch.autograd.gradcheck(loss, (part,), eps=evidence.STEP, atol=1e-6, rtol=1e-4, raise_exception=False)
    return n, time.perf_counter() - begin


def cold_start(repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``python -m derive gradients --format json`` in a fresh interpreter."""
    wall = cpu = float("inf")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for _ in range(repeats):
        before, start = _children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "derive", "gradients", "--format", "json"], env=env,
                       capture_output=True, check=True)
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, _children_cpu() - before)
    return wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Figures(dict):
    """The certificate bench's figures (stable JSON keys) and their rendering."""

    def render(self, fmt: str = "text") -> str:
        """The figures as text, or as one line of JSON."""
        return json.dumps(self, sort_keys=True) + "\n" if fmt == "json" else render(self)


def run(spec, seed: int = 0, repeats: int = 3) -> Figures:
    """All figures, with the ratio of this tool's cost per coordinate to gradcheck's per element."""
    ctx = tensors.Context(spec, seed=seed)
    coords, seconds, cpu = exhaustive(ctx)
    per = seconds / coords
    gc = gradcheck(ctx)
    gc_per = None if gc is None else gc[1] / gc[0]
    cold, cold_cpu = cold_start(repeats)
    return Figures({"spec": spec.source, "coordinates": coords, "exhaustive_s": seconds, "exhaustive_cpu_s": cpu,
                    "per_coordinate_us": per * 1e6,
            "gradcheck_elements": None if gc is None else gc[0],
            "gradcheck_per_element_us": None if gc_per is None else gc_per * 1e6,
            "ratio": None if gc_per is None else per / gc_per,
            "gradients_cold_s": cold, "gradients_cold_cpu_s": cold_cpu, "load_average": os.getloadavg()[0],
            "target_exhaustive_s": TARGET_EXHAUSTIVE_S, "target_cold_s": TARGET_COLD_S})


def render(fig: dict) -> str:
    """The figures as text."""
    lines = [f"exhaustive finite differences of every top weight and bias, both branches ({fig['spec']}):",
             f"  {fig['coordinates']} coordinates in {fig['exhaustive_s']:.2f} s ({fig['exhaustive_cpu_s']:.2f} s CPU; "
             f"target <= {fig['target_exhaustive_s']:.0f} s), {fig['per_coordinate_us']:.3f} us per coordinate"]
    if fig["ratio"] is None:
        lines.append("  torch.autograd.gradcheck: not measured (torch is not installed)")
    else:
        lines.append(f"  torch.autograd.gradcheck on the same loss, {fig['gradcheck_elements']} weights: "
                     f"{fig['gradcheck_per_element_us']:.0f} us per element")
        lines.append(f"  ratio (this tool / gradcheck, per coordinate): {fig['ratio']:.2e}")
    lines.append(f"derive gradients, cold start (all layers, JSON): {fig['gradients_cold_s']:.2f} s "
                 f"({fig['gradients_cold_cpu_s']:.2f} s CPU; target < {fig['target_cold_s']:.0f} s)")
    lines.append(f"load average during the run: {fig['load_average']:.1f} (timings are wall-clock on a shared machine)")
    return "\n".join(lines) + "\n"
