"""The command line: count-params in every format, help texts, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from derive import __version__, shapes
from derive import spec as specmod
from derive.cli import cli

FORMATS = ("text", "markdown", "latex", "json")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_version_and_group_help():
    assert run("--version").output.strip() == f"derive, version {__version__}"
    result = run("--help")
    assert result.exit_code == 0 and "count-params" in result.output and "Example" in result.output


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_help_has_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"derive {command}" in result.output


def test_count_params_json_has_the_stable_keys_and_consistent_totals():
    data = json.loads(run("count-params", "--format", "json").output)
    assert {"layers", "branch_params", "total_params", "shared_weights", "prelu_convention",
            "alternatives"} <= set(data)
    for layer in data["layers"]:
        assert {"name", "type", "output_shape", "weights", "biases", "prelu", "params", "mult_adds",
                "formula"} <= set(layer)
        assert layer["params"] == layer["weights"] + layer["biases"] + layer["prelu"]
        assert layer["formula"].endswith(f"= {layer['params']}")
    assert data["branch_params"] == sum(layer["params"] for layer in data["layers"])
    assert data["total_params"] == 2 * data["branch_params"]
    assert len(data["alternatives"]) == 6
    net = specmod.default_spec()
    for alt in data["alternatives"]:
        assert alt["total_params"] == shapes.total_params(net, alt["shared_weights"], alt["prelu_convention"])


def test_flags_override_the_spec():
    data = json.loads(run("count-params", "--shared", "--prelu", "scalar", "--format", "json").output)
    assert data["shared_weights"] is True and data["prelu_convention"] == "scalar"
    assert data["total_params"] == data["branch_params"]
    assert next(layer for layer in data["layers"] if layer["name"] == "L5")["prelu"] == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_deterministic_and_shows_every_layer(fmt):
    first, second = run("count-params", "--format", fmt), run("count-params", "--format", fmt)
    assert first.exit_code == 0 and first.output == second.output
    for name in ("L1", "L2", "L3", "L4", "L5", "L6"):
        assert name in first.output
    total = str(shapes.total_params(specmod.default_spec()))
    assert total in first.output


def test_latex_output_is_a_balanced_tabular():
    out = run("count-params", "--format", "latex").output
    assert out.count(r"\begin{tabular}") == out.count(r"\end{tabular}") == 2
    assert r"\cdot" in out and "·" not in out


def test_spec_command_prints_the_default_and_validates_a_file(tmp_path):
    text = run("spec").output
    assert text == specmod.default_spec_text()
    path = tmp_path / "copy.toml"
    path.write_text(text)
    result = run("spec", str(path))
    assert result.exit_code == 0 and "valid" in result.output and "8x8x64" in result.output
    assert run("spec", "--spec", str(path)).output == result.output  # as the other commands take it


BAD_INPUTS = [
    (["count-params", "--spec", "missing.toml"], "no such spec file"),
    (["count-params", "--format", "pdf"], "Invalid value for '--format'"),
    (["count-params", "--prelu", "pixel"], "Invalid value for '--prelu'"),
    (["count-params", "--bogus"], "No such option"),
    (["no-such-command"], "No such command"),
    (["spec", "a.toml", "--spec", "b.toml"], "two specs given"),
    (["train", "--log", ".", "--steps", "1"], "cannot write the log (it is a folder)"),
    # refused before the progress bar prints its label: one line, not two
    (["variants", "--count", "1", "--out", "", "--format", "md"], "--out is empty"),
    (["variants", "--count", "1", "--moodle", "", "--format", "md"], "--moodle is empty"),
    (["variants", "--count", "1", "--moodle", "/dev/null", "--format", "md"], "not a regular file"),
    (["variants", "--count", "2", "--only", "9" * 5000, "--format", "md"], "not a variant number"),
    (["variants", "--count", "1", "--out", ".derive-cache/v", "--format", "md"], "inside the cache"),
    (["exam", "--out", ".derive-cache", "--format", "md"], "inside the cache"),
    (["grade", "/dev/zero"], "not a regular file"),
    (["grade", "missing.csv", "--out", ""], "empty folder name"),
    (["grade", "missing.csv", "--time-box", "nan"], "not a finite number"),
    (["grade", "missing.csv", "--time-box", "inf"], "Invalid value for '--time-box'"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_input_is_one_line_on_stderr_and_status_2(args, message):
    proc = subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("derive: error: ") and message in lines[0]


def test_bad_spec_file_reports_the_layer_and_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(specmod.default_spec_text().replace("filters = 64", "filters = 0", 1))
    proc = subprocess.run([sys.executable, "-m", "derive", "count-params", "--spec", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"derive: error: {path}: layer 3 ('L3'): field 'filters' must be a positive "
                                   "integer, got 0")


def test_count_params_imports_neither_sympy_nor_numpy():
    code = ("import sys\nfrom derive.cli import cli\n"
            "rc = cli.main(['count-params', '--format', 'json'], standalone_mode=False)\n"
            "heavy = sorted(m for m in ('sympy', 'numpy', 'torch', 'jinja2') if m in sys.modules)\n"
            "print('HEAVY', heavy, rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY [] 0"


@pytest.mark.parametrize("option", ["--lr", "--momentum", "--weight-decay", "--same-share", "--dropout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_training_options_refuse_nan_and_infinity(option, value):
    value = f"L5={value}" if option == "--dropout" else value
    r = run("train", "--optimizer", "alexnet", "--steps", "1", "--images", "20", option, value)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and ("finite" in lines[0] or "range" in lines[0]), r.output


def test_a_training_run_of_absurd_length_is_refused_at_once():
    r = run("train", "--steps", str(10**30))
    assert r.exit_code == 2 and "--steps" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--spec", "--data", "--log", "--out", "--cache", "--evidence"])
def test_a_path_too_long_for_the_system_is_one_line(option):
    long = "x" * 5000
    args = {"--data": ["train", "--data", f"cifar10:{long}"], "--log": ["train", "--log", long],
            "--spec": ["count-params", "--spec", long]}.get(option, ["sheet", "--format", "md", option, long])
    r = run(*args)
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("derive: error: "), r.output[-500:]
    assert len(lines[0]) < 1200


def test_a_last_step_that_overflows_is_divergence_not_a_nan_report():
    r = run("train", "--steps", "1", "--images", "20", "--lr", "1e308")
    assert r.exit_code == 2 and "training diverged" in r.output and "nan" not in r.output.split("error:")[0]
