"""The benchmark: its FLOP count, its figures and its command (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from derive.cli import cli
from derive.engine import bench
from derive.spec import default_spec, parse

SMALL = """
input = [8, 8, 3]
[[layer]]
name = "C"
type = "conv"
kernel = 3
filters = 4
activation = "relu"
[[layer]]
name = "E"
type = "dense"
units = 2
activation = "linear"
"""


def test_step_flops_of_the_default_network_by_hand():
    # mult-adds per image and branch: L1 32·32·27·32, L2 16·16·288·32, L3 16·16·288·64,
    # L4 8·8·576·64, L5 4096·256, L6 256·32; the first layer has no dL/dx product
    first = 32 * 32 * 27 * 32
    rest = 16 * 16 * 288 * 32 + 16 * 16 * 288 * 64 + 8 * 8 * 576 * 64 + 4096 * 256 + 256 * 32
    assert bench.step_flops(default_spec(), 64) == 2 * 64 * 2 * (2 * first + 3 * rest)


def test_run_reports_every_figure_without_torch():
    timing = bench.run(parse(SMALL), batch=4, repeats=3, threads=(2, 1), use_torch=False)
    figures, notes = timing.figures, timing.notes
    assert tuple(figures) == bench.KEYS
    assert [r["threads"] for r in figures["runs"]] == [2, 1] and figures["threads"] == 2
    for run in figures["runs"]:
        assert tuple(run) == bench.RUN_KEYS
        assert run["torch_step_ms"] is None and run["ratio"] is None and run["torch_spread"] is None
        assert run["numpy_step_ms"] > 0 and run["gflops"] > 0 and run["peak_gflops"] > 0 and run["numpy_spread"] >= 0
    assert figures["numpy_step_ms"] == figures["runs"][0]["numpy_step_ms"]
    # the process's peak so far: whatever ran before in this process counts, so no bound is checked
    assert figures["peak_rss_mb"] > 0
    text = timing.render()
    assert notes["batch"] == 4 and "2 threads per engine:" in text and "1 thread per engine:" in text


def test_run_against_torch_gives_a_ratio_against_the_faster_format():
    pytest.importorskip("torch")
    timing = bench.run(parse(SMALL), batch=4, repeats=2, threads=(1,))
    run = timing.figures["runs"][0]
    faster = min(run["torch_step_ms"], run["torch_channels_last_step_ms"])
    assert run["ratio"] == pytest.approx(run["numpy_step_ms"] / faster)
    assert run["ratio_default"] == pytest.approx(run["numpy_step_ms"] / run["torch_step_ms"])
    assert run["ratio_channels_last"] == pytest.approx(run["numpy_step_ms"] / run["torch_channels_last_step_ms"])
    assert "PyTorch" in timing.notes["torch"] and "channels-last" in timing.render()


def test_spread_is_the_relative_width_of_the_middle_eight_tenths():
    assert bench.spread([10.0] * 7) == 0
    times = [9.0] + [10.0] * 8 + [30.0]  # one slow step among ten barely moves it
    assert 0 < bench.spread(times) < 0.3
    assert bench.spread(list(np.linspace(10, 20, 11))) == pytest.approx(8 / 15)


def test_bench_command_json_has_exactly_the_stable_keys(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    result = CliRunner().invoke(cli, ["bench", "--spec", str(tmp_path / "small.toml"), "--batch", "4",
                                      "--repeats", "1", "--threads", "1", "--no-torch", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == set(bench.KEYS) and len(data["runs"]) == 1
    assert {"numpy_step_ms", "torch_step_ms", "ratio", "gflops", "peak_gflops", "peak_rss_mb"} <= set(data)
    text = CliRunner().invoke(cli, ["bench", "--spec", str(tmp_path / "small.toml"), "--batch", "4",
                                    "--repeats", "1", "--no-torch", "--blas-kernels", "environment"])
    assert text.exit_code == 0 and "GFLOP/s" in text.stdout and "pytorch: not timed" in text.stdout
    assert "BLAS:" in text.stdout and "load average" in text.stdout and "spread" in text.stdout


def test_profile_gives_every_layer_forward_and_backward(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    torch = pytest.importorskip("torch")
    assert torch
    result = CliRunner().invoke(cli, ["bench", "--profile", "--spec", str(tmp_path / "small.toml"), "--batch", "4",
                                      "--repeats", "2", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["layer"]: r for r in json.loads(result.stdout)["rows"]}
    assert list(rows) == ["C", "E", "loss", "update"]
    for name in ("C", "E"):
        r = rows[name]
        for engine in ("numpy", "torch", "torch_channels_last"):
            assert r[f"{engine}_forward_ms"] > 0 and r[f"{engine}_backward_ms"] > 0
        assert 0 < r["numpy_forward_products_ms"] <= r["numpy_forward_ms"]
        assert 0 < r["numpy_backward_products_ms"] <= r["numpy_backward_ms"]
    text = CliRunner().invoke(cli, ["bench", "--profile", "--spec", str(tmp_path / "small.toml"), "--batch", "4",
                                    "--repeats", "1", "--no-torch"])
    assert text.exit_code == 0 and "conv 3x3/1 4 relu" in text.stdout and "total" in text.stdout


@pytest.mark.parametrize("args", [["--batch", "0"], ["--repeats", "x"], ["--spec", "/nonexistent.toml"],
                                  ["--threads", "0"], ["--blas-kernels", "fast"]])
def test_bench_command_rejects_bad_input(args):
    proc = subprocess.run([sys.executable, "-m", "derive", "bench", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("derive: error:")


def test_openblas_kernels_follow_the_cpu_and_respect_the_environment(tmp_path):
    from derive.runtime import tuning

    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512cd avx512bw "
                                      "avx512dq avx512vl\n")
    flags = tuning.cpu_flags(str(tmp_path / "cpuinfo"))
    assert flags >= tuning.AVX512 and "avx2" in flags
    assert tuning.cpu_flags(str(tmp_path / "missing")) == frozenset()
    env = {}
    assert tuning.openblas_coretype(env, flags, numpy_loaded=False) == "SkylakeX"
    assert env == {"OPENBLAS_CORETYPE": "SkylakeX"}
    env = {"OPENBLAS_CORETYPE": "Haswell"}
    assert tuning.openblas_coretype(env, flags, numpy_loaded=False) == "Haswell"  # an explicit choice stays
    assert tuning.openblas_coretype(env, flags, override=True, numpy_loaded=False) == "SkylakeX"
    env = {}
    assert tuning.openblas_coretype(env, flags - {"avx512bw"}, numpy_loaded=False) is None and env == {}
    env = {}
    assert tuning.openblas_coretype(env, flags, numpy_loaded=True) is None and env == {}  # too late: no effect
    assert tuning.keep_freed_memory() in (True, False)
