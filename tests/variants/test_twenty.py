"""Twenty variants of the default family: valid, distinct, counted as PyTorch counts, certified, printed."""

import shutil
import subprocess
import sys

import pytest

from derive import spec as specs
from derive.variants import batch, family

SEED, COUNT = 2026, 20
VARIANTS = batch.plan(family.default_family(), SEED, COUNT)


def torch_branch(spec, prelu: str):
    """One branch in PyTorch, built from the spec's fields alone, layer by layer on an image of zeros.

    The padding is TensorFlow's 'same' (output ceil(n / s), the odd pixel at the bottom and right),
    computed from the size PyTorch gives the layer's input; the dense layers take theirs likewise.
    """
    torch = pytest.importorskip("torch")
    nn = torch.nn
    h, w, c = spec.input
    x, modules, shapes = torch.zeros(1, c, h, w), [], []
    for layer in spec.layers:
        if layer.type == "dense":
            step = [nn.Flatten(), nn.Linear(x[0].numel(), layer.units)]
        elif layer.type == "maxpool":
            step = [nn.MaxPool2d(layer.kernel, layer.stride)]
        else:
            step = [nn.Conv2d(x.shape[1], layer.filters, layer.kernel, layer.stride)]
            if layer.padding == "same":
                pads = []
                for n, k, s in ((x.shape[3], layer.kernel[1], layer.stride[1]), (x.shape[2], layer.kernel[0],
                                                                                  layer.stride[0])):
                    total = max((-(-n // s) - 1) * s + k - n, 0)
                    pads += [total // 2, total - total // 2]
                step.insert(0, nn.ZeroPad2d(tuple(pads)))
        for module in step:
            x = module(x)
        shapes.append(tuple(x.shape[1:]) if x.dim() == 2 else (x.shape[2], x.shape[3], x.shape[1]))
        if layer.activation == "relu":
            step.append(nn.ReLU())
        elif layer.activation == "prelu":
            step.append(nn.PReLU(1 if prelu == "scalar" else x.shape[1]))
        modules += step
    return nn.Sequential(*modules), shapes


def test_twenty_specs_are_valid_distinct_and_read_back_equal():
    drawn = [v.spec for v in VARIANTS]
    assert len(set(drawn)) == COUNT
    for spec in drawn:
        assert specs.parse(specs.to_toml(spec)) == spec


@pytest.mark.parametrize("v", VARIANTS, ids=lambda v: v.folder)
def test_each_count_is_the_sum_of_the_pytorch_parameter_tensors(v):
    row = batch.key_row(v)
    for prelu in ("scalar", "channel"):
        net, shapes = torch_branch(v.spec, prelu)
        branch = sum(p.numel() for p in net.parameters())
        drawn = "; ".join(f"{layer.name} {'x'.join(map(str, shape))}" for layer, shape in zip(v.spec.layers, shapes))
        assert row["shapes"] == drawn
        assert row["total_separate_" + prelu] == 2 * branch and row["total_shared_" + prelu] == branch
    assert row["total_params"] == (1 if v.spec.shared_weights else 2) * row["branch_params"]


@pytest.mark.slow
def test_each_variant_is_certified_and_its_papers_are_printed(tmp_path):
    for v in VARIANTS:
        path = tmp_path / f"{v.folder}.toml"
        path.write_text(specs.to_toml(v.spec), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "derive", "check", "--spec", str(path)],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, (v.folder, done.stdout[-2000:], done.stderr[-2000:])
    store = shutil.copytree("docs/evidence", tmp_path / "store")  # the reference experiments, stored
    request = batch.Request(langs=("fr",), editions=("student", "teacher"), formats=("pdf",))
    batch.build(family.default_family(), SEED, COUNT, tmp_path / "out", request, cache_dir=store, workers=2)
    for v in VARIANTS:
        for name in ("exam.fr.pdf", "corrige.fr.pdf", "corrige-teacher.fr.pdf"):
            pdf = (tmp_path / "out" / v.folder / name).read_bytes()
            assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:], (v.folder, name)
