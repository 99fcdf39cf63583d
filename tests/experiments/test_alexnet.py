"""The AlexNet experiment (Ex. 2 Q6): the update rule is momentum SGD on L + (λ/2)‖w‖²."""

import importlib.util
import math

import pytest

from derive import experiments
from derive.experiments import alexnet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return experiments.run("alexnet", seed=0, quick=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_the_trajectories_agree_in_float64(result):
    c = result.conclusion
    assert c["max_relative_gap_momentum_on_regularised_loss"] < 1e-12
    if importlib.util.find_spec("torch") is not None:
        assert c["max_relative_gap_torch_sgd"] < 1e-12


def test_the_replay_can_tell_lambda_from_lambda_over_2(result):
    assert result.conclusion["max_relative_gap_wrong_coefficient"] > 1e-8


def test_the_heavy_ball_reference_is_the_textbook_recurrence():
    import numpy as np

    w, g = {"A.W": np.array([2.0]), "A.b": np.array([1.0])}, {"A.W": np.array([0.5]), "A.b": np.array([0.5])}
    opt = alexnet._HeavyBall(0.1, 0.9, 0.01, lambda k: k.endswith(".W"))
    opt.update(w, g)
    opt.update(w, g)
    v1 = -0.1 * (0.5 + 0.01 * 2.0)
    w1 = 2.0 + v1
    v2 = 0.9 * v1 - 0.1 * (0.5 + 0.01 * w1)
    assert w["A.W"][0] == pytest.approx(w1 + v2, rel=1e-15)
    assert w["A.b"][0] == pytest.approx(1.0 - 0.05 - 0.05 * 1.9, rel=1e-15)  # no decay on biases


def test_four_training_runs_with_weight_norms(result):
    runs = result.numbers["runs"]
    assert set(runs) == {"sgd", "momentum", "weight_decay", "alexnet"}
    for name, run in runs.items():
        assert (run["momentum"] > 0) == (name in ("momentum", "alexnet"))
        assert (run["weight_decay"] > 0) == (name in ("weight_decay", "alexnet"))
        assert all(math.isfinite(v) for v in run["loss"])
        assert run["checkpoints"][0]["step"] == 0 and run["checkpoints"][-1]["step"] == result.sizes["steps"]
    assert result.conclusion["decay_only_shrink_per_step"] == pytest.approx(1 - 0.0005 * result.conclusion["lr"])


def test_pytorch_step_takes_a_scalar_prelu_slope():
    pytest.importorskip("torch")
    import numpy as np

    params = {"L5.a": np.array(0.25), "L5.W": np.ones((2, 3))}
    step = alexnet._torch_sgd(params, lambda k: k.endswith(".W"))
    step({"L5.a": np.array(1.0), "L5.W": np.zeros((2, 3))})
    assert params["L5.a"].shape == () and params["L5.a"] == pytest.approx(0.25 - alexnet.EPS)
    assert np.allclose(params["L5.W"], 1 - alexnet.EPS * alexnet.LAMBDA)
