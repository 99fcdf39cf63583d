"""What derive sheet refuses before any work, and how it writes: all targets checked, all or nothing."""

import os
import shutil

import pytest
from click.testing import CliRunner

from derive.cli import cli
from derive.errors import DeriveError
from derive.runtime import cache, output
from derive.sheet import build


def _refused(args):
    result = CliRunner().invoke(cli, ["sheet", "--format", "md", *args])
    lines = result.output.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("derive: error: "), result.output
    return lines[0]


def _tree(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


def test_evidence_that_is_or_holds_the_sheet_or_the_cache_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "corrige.fr.md").write_text("kept\n")
    before = _tree(tmp_path)
    out, store = str(tmp_path / "out"), str(tmp_path / "cache")
    assert "the output folder" in _refused(["--out", out, "--cache", store, "--evidence", out])
    assert "the output folder" in _refused(["--out", out, "--cache", store, "--evidence", str(tmp_path)])
    assert "the cache" in _refused(["--out", out, "--cache", store, "--evidence", store])
    assert "the cache" in _refused(["--out", out, "--cache", store, "--evidence", f"{store}/experiments"])
    assert _tree(tmp_path) == before


def test_evidence_into_a_folder_holding_other_things_is_refused(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "notes.txt").write_text("mine\n")
    line = _refused(["--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), "--evidence", str(ev)])
    assert "not an evidence folder" in line and "'notes.txt'" in line
    assert (ev / "notes.txt").read_text() == "mine\n"


def test_evidence_is_written_into_the_folder_keeping_what_it_holds(tmp_path):
    source = cache.Entry(tmp_path / "a", "experiments/loss", "k1")
    source.store({"x": 1}, {"f.png": lambda p: p.write_bytes(b"png")})
    kept = cache.Entry(tmp_path / "ev", "experiments/loss", "k0")
    kept.store({"old": True})
    stale = cache.Entry(tmp_path / "ev", "experiments/loss", "k1")
    stale.store({"x": 0})
    cache.export([source], tmp_path / "ev")
    assert kept.load() == {"old": True} and stale.load() == {"x": 1}
    assert sorted(p.name for p in (tmp_path / "ev" / "experiments" / "loss").iterdir()) == ["k0", "k1"]


@pytest.mark.parametrize("blocker", ["corrige.fr.md", "figures"])
def test_a_folder_or_file_in_the_way_is_refused_before_any_work(tmp_path, blocker):
    out = tmp_path / "out"
    out.mkdir()
    (out / "corrige.fr.tex").write_text("old\n")
    if blocker == "figures":
        (out / "figures").write_text("a file named figures\n")
    else:
        (out / blocker).mkdir()
    before = _tree(tmp_path)
    result = CliRunner().invoke(cli, ["sheet", "--format", "md,tex", "--out", str(out), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 2 and "Traceback" not in result.output and len(result.output.splitlines()) == 1
    assert _tree(tmp_path) == before


def test_a_move_that_fails_midway_puts_everything_back(tmp_path, monkeypatch):
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    (tmp / "figures").mkdir(parents=True)
    (out / "figures").mkdir(parents=True)
    for name, text in (("corrige.fr.md", "new md"), ("corrige.fr.tex", "new tex"), ("figures/a.png", "new png")):
        (tmp / name).write_text(text)
    (out / "corrige.fr.md").write_text("old md")
    (out / "figures" / "a.png").write_text("old png")
    before = _tree(out)
    real, calls = os.replace, []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # after the two sheets, while putting the figure in place
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", failing)
    paths = [tmp / "corrige.fr.md", tmp / "corrige.fr.tex", tmp / "figures" / "a.png"]
    with pytest.raises(DeriveError, match="nothing was changed"):
        output.move_into(paths, tmp, out)
    assert _tree(out) == before


def test_empty_folder_options_are_refused(tmp_path):
    for option in ("--out", "--cache", "--evidence"):
        args = ["--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), option, ""]
        assert "is empty" in _refused(args)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_latexmk_is_refused_before_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    line = _refused(["--out", str(tmp_path / "o"), "--pdf-engine", "latex", "--format", "pdf"])
    assert "needs latexmk" in line


def test_a_writable_out_under_a_read_only_parent_is_used(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes everywhere: the parent cannot be made read-only")
    parent = tmp_path / "ro"
    out = parent / "out"
    out.mkdir(parents=True)
    parent.chmod(0o555)
    try:
        build.check_request("fr", "typst", out, tmp_path / "c", None, ("md",))
        tmp = out / ".x"
        tmp.mkdir()  # what the build does: its temporary folder inside --out
        tmp.rmdir()
    finally:
        parent.chmod(0o755)


def test_the_temporary_folder_lives_inside_an_existing_out(tmp_path, monkeypatch):
    """So that a writable --out under a read-only parent works (and the files are renamed within one folder)."""
    seen = []
    real = output.tempfile.mkdtemp

    def spy(prefix, dir):
        seen.append(dir)
        return real(prefix=prefix, dir=dir)

    monkeypatch.setattr(output.tempfile, "mkdtemp", spy)
    monkeypatch.setattr(build, "solve_all", lambda *a, **k: (_ for _ in ()).throw(build.BuildFailed("stop")))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(build.BuildFailed):
        build.build(None, "fr", ("md",), "typst", out, cache_dir=tmp_path / "c", workers=0)
    assert seen == [out.resolve()] and list(out.iterdir()) == []


@pytest.mark.parametrize("text, message", [
    ('input = [8, 8, 1]\n[[layer]]\nname = "A"\ntype = "dense"\nunits = 2\nactivation = "relu"\n',
     "two dense layers at the top"),
    ('input = [8, 16, 1]\n[[layer]]\nname = "A"\ntype = "dense"\nunits = 2\nactivation = "relu"\n'
     '[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\nactivation = "linear"\n', "Shapeset generator"),
])
def test_a_spec_the_sheet_cannot_use_is_one_line_without_the_progress_label(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    line = _refused(["--spec", str(path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    assert message in line


@pytest.mark.parametrize("option", ["--out", "--cache", "--evidence"])
def test_a_symlink_loop_or_a_dangling_link_is_one_line(tmp_path, option):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    args = {"--out": str(tmp_path / "o"), "--cache": str(tmp_path / "c"), option: str(loop)}
    line = _refused([x for kv in args.items() for x in kv])
    assert "symbolic link" in line


def test_hidden_entries_do_not_make_a_folder_unfit_for_evidence(tmp_path):
    ev = tmp_path / "ev"
    (ev / ".git").mkdir(parents=True)
    build.check_request("fr", "typst", tmp_path / "o", tmp_path / "c", ev, ("md",))
