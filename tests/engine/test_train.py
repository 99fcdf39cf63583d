"""Optimisers, the mixed training step, the training loop and the verification accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from derive.engine import network as N
from derive.engine import train as T
from derive.errors import DeriveError
from derive.spec import parse

TINY = """
input = [8, 8, 1]
[[layer]]
name = "C"
type = "conv"
kernel = 3
stride = 2
filters = 4
activation = "relu"
[[layer]]
name = "H"
type = "dense"
units = 8
activation = "prelu"
[[layer]]
name = "E"
type = "dense"
units = 4
activation = "linear"
"""


def test_alexnet_rule_is_figure_2():
    """Two steps by hand: v1 = -0.0005·ε·w0 - ε·g0, w1 = w0 + v1; v2 = 0.9·v1 - 0.0005·ε·w1 - ε·g1."""
    eps = 0.1
    w0, g0, g1 = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([-1.0, 2.0])
    params, opt = {"L.W": w0.copy(), "L.b": w0.copy()}, T.AlexNet(eps)
    opt.update(params, {"L.W": g0, "L.b": g0})
    v1 = -0.0005 * eps * w0 - eps * g0
    np.testing.assert_allclose(params["L.W"], w0 + v1, rtol=1e-15)
    np.testing.assert_allclose(params["L.b"], w0 - eps * g0, rtol=1e-15)  # no decay on biases by default
    w1 = w0 + v1
    opt.update(params, {"L.W": g1})
    v2 = 0.9 * v1 - 0.0005 * eps * w1 - eps * g1
    np.testing.assert_allclose(params["L.W"], w1 + v2, rtol=1e-15)
    every = {"L.b": w0.copy()}
    T.AlexNet(eps, decay="all").update(every, {"L.b": g0})
    np.testing.assert_allclose(every["L.b"], w0 + v1, rtol=1e-15)
    custom = {"L.W": w0.copy()}
    T.AlexNet(eps, momentum=0.5, weight_decay=0.01).update(custom, {"L.W": g0})
    np.testing.assert_allclose(custom["L.W"], w0 - 0.01 * eps * w0 - eps * g0, rtol=1e-15)


def test_sgd_and_mixed_step_take_a_grads_dict():
    net = N.Network(parse(TINY), seed=0)
    rng = np.random.default_rng(0)
    x1, x2, l = rng.random((4, 8, 8, 1)), rng.random((4, 8, 8, 1)), np.array([0, 1, 0, 1])
    grads = net.backward(net.forward(x1, x2, l))
    before = {k: v.copy() for k, v in net.params.items()}
    replaced = dict(grads, **{"E.W": np.ones_like(grads["E.W"])})  # e.g. a symbolic gradient
    T.step(net, replaced, T.SGD(0.5))
    np.testing.assert_allclose(net.params["E.W"], before["E.W"] - 0.5)
    np.testing.assert_allclose(net.params["C'.b"], before["C'.b"] - 0.5 * grads["C'.b"])
    with pytest.raises(KeyError, match="X.W"):
        T.step(net, {"X.W": np.zeros(1)}, T.SGD(0.1))


def test_one_step_lowers_the_loss_on_its_batch():
    net = N.Network(parse(TINY), seed=1)
    rng = np.random.default_rng(1)
    x1, x2, l = rng.random((8, 8, 8, 1)), rng.random((8, 8, 8, 1)), np.array([0, 1] * 4)
    c = net.forward(x1, x2, l)
    T.step(net, net.backward(c), T.SGD(1e-3))
    assert net.forward(x1, x2, l).loss < c.loss


def test_thresholds_and_accuracy():
    D = np.array([0.1, 0.2, 0.9, 1.5, 0.3])
    l = np.array([0, 0, 1, 1, 1])
    t = T.best_threshold(D, l)
    assert 0.2 < t <= 0.3 and T.accuracy(D, l, t) == 1.0
    assert T.accuracy(D, l, 0.0) == 0.6  # everything called "different"


def test_write_json_is_atomic(tmp_path):
    T.write_json(tmp_path / "log.json", {"b": 1, "a": [1.5]})
    assert json.loads((tmp_path / "log.json").read_text()) == {"a": [1.5], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["log.json"]
    with pytest.raises(DeriveError, match="cannot write"):
        T.write_json(tmp_path / "missing" / "log.json", {})


def test_bad_training_options():
    with pytest.raises(DeriveError, match="optimiser"):
        T.optimizer("adam", 0.1)
    with pytest.raises(DeriveError, match="weight decay"):
        T.AlexNet(0.1, decay="some")


SMALL = """
input = [32, 32, 1]
shared_weights = true
[[layer]]
name = "L1"
type = "conv"
kernel = 3
stride = 2
filters = 16
activation = "relu"
[[layer]]
name = "L2"
type = "conv"
kernel = 3
stride = 2
filters = 32
activation = "relu"
[[layer]]
name = "L5"
type = "dense"
units = 64
activation = "prelu"
[[layer]]
name = "L6"
type = "dense"
units = 16
activation = "linear"
"""


@pytest.mark.slow
def test_training_on_shapeset_lowers_the_loss_and_separates_pairs():
    from derive.engine import data

    train_set = data.shapeset(3000, seed=0, color=False)
    test_set = data.shapeset(1000, seed=1, color=False)
    net = N.Network(parse(SMALL), dtype=np.float32, init="he", seed=0, threads=2)
    record = T.fit(net, train_set, test_set, steps=400, batch=32, opt=T.SGD(0.02), seed=0)
    held = record["held_out"]
    assert record["loss_last"] < record["loss_first"] - 0.03
    assert record["loss_last"] < 0.45  # below 0.5, what any constant D < 1 gives on balanced pairs
    assert held["mean_D_same"] < 0.7 * held["mean_D_different"]
    # 1000 held-out pairs: chance is 0.5 with a standard deviation of 0.016
    assert held["accuracy"] > 0.58, held


def test_training_is_deterministic_by_seed_and_threads():
    from derive.engine import data

    x, y = data.shapeset(200, seed=3, color=False, size=8)
    spec = parse(TINY)
    runs = []
    for threads in (1, 2, 2):
        net = N.Network(spec, seed=5, dropout={"H": 0.3}, threads=threads)
        runs.append([e["loss"] for e in T.train(net, x, y, steps=5, batch=8, opt=T.AlexNet(0.01), seed=2)])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)
    assert runs[1] == runs[2]


def test_diverging_training_is_reported():
    from derive.engine import data

    x, y = data.shapeset(50, seed=0, color=False, size=8)
    with pytest.raises(DeriveError, match="diverged"):
        T.train(N.Network(parse(TINY), init="he"), x, y, steps=50, batch=8, opt=T.SGD(1e6))


def test_train_command_prints_a_summary_and_a_deterministic_log(tmp_path):
    from click.testing import CliRunner

    from derive.cli import cli

    (tmp_path / "tiny.toml").write_text(TINY.replace("[8, 8, 1]", "[32, 32, 3]"))
    outputs = []
    for name in ("a.json", "b.json"):
        result = CliRunner().invoke(cli, ["train", "--spec", str(tmp_path / "tiny.toml"), "--steps", "12",
                                          "--images", "100", "--batch", "8", "--dropout", "H=0.2",
                                          "--optimizer", "alexnet", "--lr", "0.001", "--log", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout.replace(name, "LOG"))
    assert outputs[0] == outputs[1]
    assert "loss: first" in outputs[0] and "accuracy" in outputs[0]
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    log = json.loads((tmp_path / "a.json").read_text())
    assert len(log["log"]) == 12 and log["dropout"] == {"H": 0.2} and log["optimizer"]["name"] == "alexnet"
    assert {"loss_first", "loss_last", "held_out"} <= set(log)


def test_train_command_draws_images_at_the_spec_input_size(tmp_path):
    from click.testing import CliRunner

    from derive.cli import cli

    (tmp_path / "grey.toml").write_text(TINY)  # 8x8x1 input: Shapeset draws grey 8x8 images
    result = CliRunner().invoke(cli, ["train", "--spec", str(tmp_path / "grey.toml"), "--steps", "2",
                                      "--images", "40", "--batch", "4"])
    assert result.exit_code == 0, result.output
    assert "loss: first" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--steps", "0"], "--steps"),
    (["--dropout", "L5"], "LAYER=RATE"),
    (["--dropout", "L9=0.5"], "unknown layer 'L9'"),
    (["--dropout", "L5=1.5"], "[0, 1)"),
    (["--data", "mnist"], "unknown data source"),
    (["--data", "cifar10:/nonexistent/dir"], "no such"),
    (["--optimizer", "adam"], "--optimizer"),
    (["--spec", "/nonexistent.toml"], "no such spec file"),
    (["--log", "/nonexistent/dir/log.json", "--steps", "1", "--images", "20"], "cannot write"),
    (["--lr", "100", "--steps", "20", "--images", "50", "--init", "he"], "diverged"),
])
def test_train_command_rejects_bad_input(args, message):
    proc = subprocess.run([sys.executable, "-m", "derive", "train", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("derive: error:") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_log_follows_symlinks_and_keeps_the_umask_mode(tmp_path):
    import os
    import stat

    from derive.engine.train import write_json

    real = tmp_path / "real.json"
    real.write_text("{}\n")
    os.chmod(real, 0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_json(link, {"a": 1})
    assert link.is_symlink() and json.loads(real.read_text()) == {"a": 1}
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the replaced file's mode
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "new.json", {"b": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644  # not mkstemp's 0600


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_the_log_never_replaces_a_device_or_a_fifo(tmp_path):
    import stat

    from derive.engine.train import check_log, write_json

    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/null"):
        with pytest.raises(DeriveError, match="not a regular file"):
            check_log(path)
        with pytest.raises(DeriveError, match="not a regular file"):
            write_json(path, {"a": 1})
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
