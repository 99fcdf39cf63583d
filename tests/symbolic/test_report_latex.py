"""`derive gradients --format latex` is a LaTeX document that compiles, whatever the layers are called."""

import shutil
import subprocess

import pytest

from derive import spec
from derive.symbolic import report

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk / TeX Live not installed")]

NAMES = ('input = [4, 4, 1]\nprelu = "scalar"\n[[layer]]\nname = "a__b"\ntype = "dense"\nunits = 3\n'
         'activation = "relu"\n[[layer]]\nname = "c-d_e"\ntype = "dense"\nunits = 3\nactivation = "prelu"\n'
         '[[layer]]\nname = "kl"\ntype = "dense"\nunits = 2\nactivation = "sigmoid"\n')


@pytest.mark.parametrize("net", [spec.default_spec(), spec.parse(NAMES, "names_#1 & {x}.toml")], ids=["exam", "names"])
def test_the_latex_report_compiles(net, tmp_path):
    (tmp_path / "g.tex").write_text(report.gradients(net).render("latex"), encoding="utf-8")
    done = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "g.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
    assert done.returncode == 0, errors or done.stdout[-3000:]
    assert (tmp_path / "g.pdf").stat().st_size > 0
