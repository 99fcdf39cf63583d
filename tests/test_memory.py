"""A spec under the parameter limit that no machine holds is refused by each command before any work, in one line."""

import pytest
from click.testing import CliRunner

from derive import shapes
from derive import spec as specs
from derive.cli import cli
from derive.runtime import tuning

# One conv layer of 2^20 filters: a few million parameters, but terabytes of activations and im2col columns.
WIDE = ('input = [64, 64, 3]\n[[layer]]\nname = "C"\ntype = "conv"\nkernel = 3\nfilters = 1048576\n'
        'activation = "relu"\n[[layer]]\nname = "A"\ntype = "dense"\nunits = 2\nactivation = "relu"\n'
        '[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\nactivation = "linear"\n')


@pytest.fixture
def wide(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(WIDE)
    assert shapes.branch_params(specs.load(path)) < shapes.MAX_PARAMS  # the validator accepts it
    return str(path)


@pytest.mark.parametrize("command", [["train", "--steps", "1"], ["check", "--no-torch"], ["bench", "--no-torch"],
                                     ["experiments", "--quick", "--only", "dropout"], ["sheet", "--format", "md"]])
def test_every_command_refuses_what_the_machine_cannot_hold(wide, command, tmp_path):
    extra = ["--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")] if command[0] == "sheet" else []
    extra += ["--cache", str(tmp_path / "c")] if command[0] == "experiments" else []
    result = CliRunner().invoke(cli, [*command, "--spec", wide, *extra])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "of memory, more than the" in lines[0] and "GiB of this machine" in lines[0]
    assert not (tmp_path / "o").exists()


def test_the_estimate_grows_with_the_batch_and_the_check_refuses_only_beyond_the_machine():
    net = specs.default_spec()
    small, large = shapes.working_set(net, 1, 4), shapes.working_set(net, 64, 4)
    assert 0 < small < large
    tuning.check_memory(large, "this", total=large)  # exactly what there is: accepted
    with pytest.raises(Exception, match="would need about"):
        tuning.check_memory(large + 1, "this", total=large)


def test_a_memory_error_is_one_line(monkeypatch):
    from derive import count

    def greedy(net):
        raise MemoryError

    monkeypatch.setattr(count, "report", greedy)
    result = CliRunner().invoke(cli, ["count-params"])
    assert result.exit_code == 2 and result.output.strip().startswith("derive: error: out of memory")
