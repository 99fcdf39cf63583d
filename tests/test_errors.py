"""What an error message echoes of the input: one line each, no terminal escape, bounded in length."""

from click.testing import CliRunner

from derive import errors
from derive.cli import cli


def test_quote_escapes_control_characters_and_cuts_long_values():
    assert errors.quote("a\nb") == r"'a\nb'"
    assert errors.quote("\x1b[31mred") == r"'\x1b[31mred'"
    assert errors.quote("\u202egnp.exe") == r"'\u202egnp.exe'"  # a bidi override reorders what the reader sees
    long = errors.quote("x" * 10_000)
    assert len(long) < 200 and "9920 more characters" in long


def test_printed_lines_are_bounded_in_count_and_length():
    out = errors.lines(["a\nb"] + ["y" * 5000] * 30)
    assert out[0] == r"a\nb" and all("\n" not in line and len(line) < 1100 for line in out)
    assert len(out) == errors.PROBLEM_LIMIT + 1 and out[-1] == "... and 11 more problems"


def _run(args, tmp_path, text=None):
    if text is not None:
        (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, args)


def test_a_name_with_a_newline_forges_no_extra_error_line(tmp_path):
    spec = 'input = [4, 4, 1]\n[[layer]]\nname = "a\\nderive: error: all is fine\\u001b[2J"\ntype = "dense"\n' \
           'units = 2\nactivation = "relu"\n'
    r = _run(["spec", str(tmp_path / "s.toml")], tmp_path, spec)
    assert r.exit_code == 2
    lines = r.output.splitlines()
    assert all(line.startswith("derive: error: ") for line in lines)
    assert sum("all is fine" in line for line in lines) <= 2 and "\x1b" not in r.output
    assert not any(line.startswith("derive: error: all is fine") for line in lines)


def test_a_huge_name_gives_a_short_message(tmp_path):
    spec = f'input = [4, 4, 1]\n[[layer]]\nname = "{"n" * 200_000}"\ntype = "dense"\nunits = 2\nactivation = "relu"\n'
    r = _run(["spec", str(tmp_path / "s.toml")], tmp_path, spec)
    assert r.exit_code == 2 and len(r.output) < 3000


def test_options_echo_quoted(tmp_path):
    for args in (["gradients", "--layer", "x\ny"], ["sheet", "--format", "md,\x1b[31m"],
                 ["experiments", "--only", "a\nb"], ["train", "--data", "x\ny"], ["train", "--dropout", "a\nb"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and "\x1b" not in r.output, (args, r.output)
