"""A build stopped by SIGTERM or SIGHUP cleans up as after Ctrl-C: --out unchanged, no temporary folder, no process."""

import signal
import subprocess
import sys

import pytest
from processes import HAS_PROC, carriers, kill_all, token_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_PROC, reason="needs /proc to find the workers")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_mid_build_leaves_out_unchanged_and_no_process(tmp_path, sig):
    out = tmp_path / "out"
    out.mkdir()
    (out / "corrige.en.md").write_text("the sheet of yesterday\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    token, env = token_env()
    # An empty cache: the experiments and certificates are being computed in workers when the signal comes.
    proc = subprocess.Popen([sys.executable, "-m", "derive", "sheet", "--lang", "en", "--format", "md",
                             "--out", str(out), "--cache", str(tmp_path / "cache")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(carriers(token)) >= 3, 120), "the workers never started"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)  # a worker holding the pipes open would hang here
    finally:
        proc.kill()
        kill_all(token)
    assert proc.returncode == 128 + sig, stderr
    assert stderr.rstrip().endswith(f"derive: error: interrupted ({sig.name})"), stderr
    assert stdout == ""
    try:
        assert wait_for(lambda: not carriers(token), 10), "worker processes outlived the build"
    finally:
        kill_all(token)
    after = sorted(p.name for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "cache"))
    assert [n for n in after if n != "cache"] == before
    assert (out / "corrige.en.md").read_text() == "the sheet of yesterday\n"
