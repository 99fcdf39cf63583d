"""The certificate's speed figures: exhaustive finite differences per coordinate against torch's gradcheck.

Three figures, each measured in the same run on the same machine: the time of the exhaustive central
differences of every weight and bias of the two top layers of both branches (the heart of
``derive check``), the per-element cost of ``torch.autograd.gradcheck`` on the same function (the
loss as a function of those weights) measured on a slice, and the cold start of ``derive gradients``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np

from derive import certificate, fdcheck, graph

TARGET_EXHAUSTIVE_S = 20.0   # the target for the default spec's ~2.1 million coordinates
TARGET_COLD_S = 2.0          # `derive gradients` from a cold start
SLICE = 64                   # entries of the lower layer's weights that gradcheck differentiates


def exhaustive(ctx) -> tuple[int, float, float]:
    """(coordinates, wall seconds, CPU seconds) for central differences of every top weight and bias."""
    _, lower, upper, _ = graph.top(ctx.spec)
    keys = [k for k in ctx.net.params if k.split(".")[0].rstrip("'") in (lower.name, upper.name) and k[-1] in "Wb"]
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for key in keys:
        n = ctx.net.params[key].size
        fdcheck.batched(lambda c, h, key=key: ctx.top.moved(key, c, h), np.arange(n))
        count += n
    return count, time.perf_counter() - start, time.process_time() - cpu


def gradcheck(ctx, n: int = SLICE) -> tuple[int, float] | None:
    """(elements, seconds) of torch.autograd.gradcheck on the loss as a function of n lower-layer weights."""
    try:
        import torch
    except ImportError:
        return None
    top, net = ctx.top, ctx.net
    _, lower, upper, _ = graph.top(ctx.spec)
    t = {k: torch.tensor(v) for k, v in net.params.items()}
    s4 = [torch.tensor(x) for x in top.s4]
    l = torch.tensor(top.l)
    key = net.key(lower.name, 0) + ".W"
    flat = t[key].reshape(-1)

    def act(kind, o, a):
        return {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda x: x}.get(
            kind, lambda x: torch.where(x > 0, x, a * x))(o)

    def loss(part):
        w = torch.cat([part, flat[n:]]).reshape(t[key].shape)
        out = []
        for b in (0, 1):
            wl = w if net.key(lower.name, b) + ".W" == key else t[net.key(lower.name, b) + ".W"]
            lo = net.key(lower.name, b)
            s5 = act(lower.activation, s4[b] @ wl + t[lo + ".b"], t.get(lo + ".a"))
            out.append(act(upper.activation, s5 @ t[net.key(upper.name, b) + ".W"] + t[net.key(upper.name, b) + ".b"],
                           t.get(net.key(upper.name, b) + ".a")))
        D = 0.5 * ((out[0] - out[1]) ** 2).sum(dim=1)
        return torch.mean(l * torch.relu(1 - D) + (1 - l) * D)

    part = flat[:n].clone().requires_grad_(True)
    start = time.perf_counter()
    torch.autograd.gradcheck(loss, (part,), eps=fdcheck.STEP, atol=1e-6, rtol=1e-4, raise_exception=False)
    return n, time.perf_counter() - start


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


def run(spec, seed: int = 0, repeats: int = 3) -> dict:
    """All figures, with the ratio of this tool's cost per coordinate to gradcheck's per element."""
    ctx = certificate.Context(spec, seed=seed)
    coords, seconds, cpu = exhaustive(ctx)
    per = seconds / coords
    gc = gradcheck(ctx)
    gc_per = None if gc is None else gc[1] / gc[0]
    cold, cold_cpu = cold_start(repeats)
    return {"coordinates": coords, "exhaustive_s": seconds, "exhaustive_cpu_s": cpu, "per_coordinate_us": per * 1e6,
            "gradcheck_elements": None if gc is None else gc[0],
            "gradcheck_per_element_us": None if gc_per is None else gc_per * 1e6,
            "ratio": None if gc_per is None else per / gc_per,
            "gradients_cold_s": cold, "gradients_cold_cpu_s": cold_cpu, "load_average": os.getloadavg()[0],
            "target_exhaustive_s": TARGET_EXHAUSTIVE_S, "target_cold_s": TARGET_COLD_S}


def render(fig: dict, spec) -> str:
    """The figures as text."""
    lines = [f"exhaustive central differences of every top weight and bias, both branches ({spec.source}):",
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
