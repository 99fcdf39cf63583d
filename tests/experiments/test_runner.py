"""The experiment runner: cache keys, reuse, deterministic files, bad input, and the CLI command."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from derive import experiments
from derive.cli import cli
from derive.engine.data import parse_data
from derive.errors import DeriveError
from derive.experiments import runner
from derive.runtime import cache
from derive.spec import default_spec

FAST = "vanishing"  # the quickest experiment in quick mode


def test_every_experiment_declares_its_contract():
    for name in experiments.NAMES:
        mod = runner._module(name)
        assert set(mod.SIZES) == {"quick", "full"} and mod.SIZES["quick"].keys() == mod.SIZES["full"].keys()
        assert {"spec", "data"} >= mod.NEEDS and mod.QUESTION.startswith("Ex.")
        assert callable(mod.compute) and callable(mod.summary)
        assert experiments.describe(name)["title"] == mod.TITLE


def test_second_run_is_cached_and_identical(tmp_path):
    first = experiments.run(FAST, seed=3, quick=True, cache_dir=tmp_path)
    again = experiments.run(FAST, seed=3, quick=True, cache_dir=tmp_path)
    assert not first.cached and again.cached
    assert again.numbers == first.numbers and again.conclusion == first.conclusion
    assert again.figures == first.figures and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in again.figures)
    assert again.sizes == runner._module(FAST).SIZES["quick"]
    # nothing half-written left beside the result
    assert [p.name for p in (tmp_path / "experiments" / FAST).iterdir()] == [first.key]


def test_a_result_stored_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """Two processes sharing a cold cache may finish the same experiment: the second keeps the first's folder."""
    theirs = experiments.run(FAST, seed=3, quick=True, cache_dir=tmp_path / "theirs")
    real_replace = cache.os.replace

    def other_process_first(src, dst):
        if str(dst).endswith(theirs.key) and not Path(dst).exists():  # the other process renames its folder first
            shutil.copytree(theirs.directory, dst)
        return real_replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", other_process_first)
    mine = experiments.run(FAST, seed=3, quick=True, cache_dir=tmp_path / "shared")
    assert mine.key == theirs.key and mine.numbers == theirs.numbers
    assert [p.name for p in (tmp_path / "shared" / "experiments" / FAST).iterdir()] == [theirs.key]


def test_same_inputs_give_the_same_bytes(tmp_path):
    a = experiments.run(FAST, seed=1, quick=True, cache_dir=tmp_path / "a")
    b = experiments.run(FAST, seed=1, quick=True, cache_dir=tmp_path / "b", force=True)
    for pa, pb in zip(a.figures + (a.directory / "result.json",), b.figures + (b.directory / "result.json",)):
        assert pa.read_bytes() == pb.read_bytes()


def test_the_key_follows_seed_size_spec_and_data(tmp_path):
    spec = default_spec()
    base = runner.cache_key("loss", spec, parse_data("shapeset"), 0, True)
    assert runner.cache_key("loss", spec, parse_data("shapeset"), 1, True) != base
    assert runner.cache_key("loss", spec, parse_data("shapeset"), 0, False) != base
    assert runner.cache_key("loss", spec.with_options(shared=True), parse_data("shapeset"), 0, True) != base
    assert runner.cache_key("dropout", spec, parse_data("shapeset"), 0, True) != base
    (tmp_path / "data_batch_1").write_bytes(b"x")
    assert runner.cache_key("loss", spec, parse_data(f"cifar10:{tmp_path}"), 0, True) != base
    # the spec's file name is not content
    renamed = default_spec().__class__(spec.input, spec.layers, spec.shared_weights, spec.prelu, "other.toml")
    assert runner.cache_key("loss", renamed, parse_data("shapeset"), 0, True) == base


def test_a_new_version_changes_the_key(monkeypatch):
    from derive import version

    before = runner.cache_key(FAST, None, None, 0, True)
    monkeypatch.setattr(version, "__version__", "0.0.0-other")
    assert runner.cache_key(FAST, None, None, 0, True) != before


@pytest.mark.parametrize("call, message", [
    (lambda d: experiments.run("nope", cache_dir=d), "unknown experiment 'nope'"),
    (lambda d: experiments.run(FAST, seed=-1, cache_dir=d), "non-negative"),
    (lambda d: experiments.run("loss", data="mnist", cache_dir=d), "unknown data source"),
    (lambda d: experiments.run("loss", data="cifar10:", cache_dir=d), "needs a path"),
    (lambda d: experiments.run("loss", data="cifar10:/no/such/dir", cache_dir=d), "no such CIFAR-10"),
])
def test_bad_input_is_one_clear_error(tmp_path, call, message):
    with pytest.raises(DeriveError, match=message):
        call(tmp_path)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("where, message", [("file", "exists and is not a folder"), ("file/sub", "is a file")])
def test_a_cache_folder_that_cannot_be_one_is_refused_before_running(tmp_path, where, message):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(DeriveError, match=message):
        experiments.run(FAST, quick=True, cache_dir=tmp_path / where)
    assert (tmp_path / "file").read_text(encoding="utf-8") == "x"


def test_json_writer_is_plain_and_sorted():
    import numpy as np

    text = cache.dumps({"b": np.float32(0.5), "a": [np.int64(2), float("nan")], "c": np.arange(2)})
    assert json.loads(text) == {"a": [2, None], "b": 0.5, "c": [0, 1]}
    assert text.index('"a"') < text.index('"b"')


def test_cli_runs_prints_and_reuses(tmp_path):
    args = ["experiments", "--only", FAST, "--quick", "--cache", str(tmp_path), "--json"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    (record,) = json.loads(first.stdout)
    assert record["name"] == FAST and record["quick"] and not record["cached"]
    stored = json.loads(Path(record["numbers_file"]).read_text(encoding="utf-8"))
    assert stored["payload"]["conclusion"] == record["conclusion"]
    second = CliRunner().invoke(cli, args)
    assert json.loads(second.stdout)[0]["cached"] and "cached" in second.stderr
    text = CliRunner().invoke(cli, args[:-1])
    assert text.exit_code == 0 and text.stdout.startswith(f"{FAST} (Ex. 2 Q4): ") and "figure:" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["--only", "nope"], "unknown experiment 'nope'"),
    (["--data", "cifar10:/no/such/dir", "--only", "loss"], "no such CIFAR-10"),
    (["--seed", "-2"], "-2"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["experiments", "--quick", "--cache", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def write_cifar_batch(path, n, seed=0):
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(n)]}
    path.write_bytes(pickle.dumps(batch))


def test_cifar10_python_batches_feed_the_experiments(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", 2100)
    r = experiments.run("loss", data=f"cifar10:{tmp_path}", quick=True, cache_dir=tmp_path / "cache")
    assert r.conclusion["classes"] == 10 and r.conclusion["data"] == f"cifar10:{tmp_path}"
    assert r.conclusion["same_label_share_theory"] == pytest.approx(0.1, abs=1e-3)


def test_too_few_cifar10_images_is_one_clear_error(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", 50)
    with pytest.raises(DeriveError, match="50 train images, 2000 are needed"):
        experiments.run("loss", data=f"cifar10:{tmp_path}", quick=True, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("result.json"))


@pytest.mark.slow
def test_workers_give_the_bytes_of_one_process_whatever_the_order(tmp_path):
    names = ["vanishing", "loss", "convolution"]
    seen = []
    parallel = experiments.run_all(names, seed=2, quick=True, cache_dir=tmp_path / "a", workers=2,
                                   done=lambda r, seconds: seen.append((r.name, r.cached)))
    serial = experiments.run_all(names[::-1], seed=2, quick=True, cache_dir=tmp_path / "b")
    assert [r.name for r in parallel] == names and sorted(seen) == sorted((n, False) for n in names)
    for a, b in zip(parallel, serial[::-1]):
        assert a.key == b.key
        files = sorted(p.name for p in a.directory.iterdir())
        assert files == sorted(p.name for p in b.directory.iterdir()) and "result.json" in files
        for name in files:
            assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes(), (a.name, name)
    seen.clear()
    again = experiments.run_all(names, seed=2, quick=True, cache_dir=tmp_path / "a", workers=2,
                                done=lambda r, seconds: seen.append((r.name, r.cached, seconds)))
    assert all(r.cached for r in again) and seen == [(n, True, 0.0) for n in names]


def test_a_rejected_input_in_a_worker_is_the_same_clear_error(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", 50)
    with pytest.raises(DeriveError, match="50 train images, 2000 are needed"):
        experiments.run("loss", data=f"cifar10:{tmp_path}", quick=True, cache_dir=tmp_path / "cache", workers=1)


def test_experiments_share_one_read_only_draw_of_their_data(tmp_path):
    from derive.experiments import common
    from derive.experiments.runner import Context

    ctx = Context("demo", 0, True, {}, spec=default_spec(), data=parse_data("shapeset"))
    first, again = common.exam_data(ctx, 40, 20), common.exam_data(ctx, 40, 20)
    assert all(a is b for a, b in zip(first, again))
    assert not any(a.flags.writeable for a in first)
    assert first[0].shape == (40, 32, 32, 3) and first[2].shape == (20, 32, 32, 3)
    write_cifar_batch(tmp_path / "data_batch_1", 60)
    write_cifar_batch(tmp_path / "test_batch", 30)
    cifar = Context("demo", 0, True, {}, spec=default_spec(), data=parse_data(f"cifar10:{tmp_path}"))
    before = common.exam_data(cifar, 40, 20)
    write_cifar_batch(tmp_path / "data_batch_2", 60, seed=1)  # new files: a new set
    after = common.exam_data(cifar, 40, 20)
    assert before[0] is not after[0]


@pytest.mark.slow
def test_a_training_run_done_by_one_experiment_is_reused_by_the_next_with_the_same_bytes(tmp_path, monkeypatch):
    from derive.engine import train
    from derive.experiments import common

    monkeypatch.setattr(common, "_DONE", type(common._DONE)())
    experiments.run("alexnet", quick=True, cache_dir=tmp_path / "a")  # trains tied, momentum, no decay
    calls = []
    real = train.train
    monkeypatch.setattr(train, "train", lambda *a, **k: calls.append(1) or real(*a, **k))
    reused = experiments.run("dropout", quick=True, cache_dir=tmp_path / "a")
    assert len(calls) == 2  # of its three runs, the one without dropout is alexnet's momentum run
    fresh = experiments.run("dropout", quick=True, cache_dir=tmp_path / "b", workers=1)  # a new process
    assert fresh.key == reused.key
    for path in sorted(fresh.directory.iterdir()):
        assert (reused.directory / path.name).read_bytes() == path.read_bytes(), path.name


def test_experiments_that_train_the_same_run_go_to_one_worker_in_order(tmp_path):
    from derive.experiments import runner

    jobs = [runner.plan(name, quick=True, cache_dir=tmp_path) for name in ("loss", "dropout", "branches", "alexnet")]
    groups = runner.groups(jobs)
    assert [[job.name for job in g] for g in groups] == [["branches"], ["alexnet", "dropout"], ["loss"]]
    assert [[j.name for j in g] for g in runner.groups(jobs[:2])] == [["dropout"], ["loss"]]  # alone: no group


def test_a_different_run_is_not_taken_for_a_done_one(monkeypatch):
    import numpy as np

    from derive.experiments import common

    net = common.network(default_spec().with_options(shared=True), 0)
    sets = tuple(np.zeros((4, 32, 32, 3), np.float32) if k % 2 == 0 else np.arange(4) for k in range(4))
    base = common._run_key(net, sets, 10, common.momentum(), 100, 0)
    assert common._run_key(net, sets, 10, common.momentum(), 100, 0) == base
    assert common._run_key(net, sets, 11, common.momentum(), 100, 0) != base
    assert common._run_key(net, sets, 10, common.momentum(weight_decay=5e-4), 100, 0) != base
    assert common._run_key(net, sets, 10, common.momentum(), 100, 1) != base
    assert common._run_key(net, sets, 10, common.momentum(), 200, 0) != base
    other = (sets[0] + 1,) + sets[1:]
    assert common._run_key(net, other, 10, common.momentum(), 100, 0) != base
    dropped = common.network(default_spec().with_options(shared=True), 0, dropout={"L5": 0.5})
    assert common._run_key(dropped, sets, 10, common.momentum(), 100, 0) != base
    net.params["L1.W"] = net.params["L1.W"] * 2
    assert common._run_key(net, sets, 10, common.momentum(), 100, 0) != base


def _read_only(folder):
    """Make a folder unwritable, even for root (chattr +i), or skip; returns how to undo it."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("cannot make a folder read-only for root here")
    return lambda: subprocess.run(["chattr", "-i", str(folder)])


def test_an_unwritable_cache_subfolder_is_one_line_from_a_worker(tmp_path):
    from click.testing import CliRunner

    from derive.cli import cli

    sub = tmp_path / "experiments" / "loss"
    sub.mkdir(parents=True)
    undo = _read_only(sub)
    try:
        result = CliRunner().invoke(cli, ["experiments", "--quick", "--only", "loss", "--only", "convolution",
                                          "--cache", str(tmp_path)])
    finally:
        undo()
    lines = [line for line in result.output.splitlines() if line.startswith("derive: error:")]
    assert result.exit_code == 2 and len(lines) == 1 and "cannot write the cache there" in lines[0], result.output
    assert "Traceback" not in result.output
