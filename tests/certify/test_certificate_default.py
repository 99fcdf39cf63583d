"""derive check on the exam's default network, tied and untied: every top weight certified exhaustively."""

import pytest

from derive import spec
from derive.certify import certificate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("shared", [False, True])
def test_the_default_spec_is_certified_exhaustively(shared):
    net = spec.default_spec().with_options(shared=shared)
    report = certificate.run(net, seed=0, steps=1, use_torch=False)
    assert report["ok"], report["failures"]
    weights = {t["name"]: t for t in report["tensors"] if "KL" not in t["name"]}
    expected = {"L5.W", "L5.b", "L5.a", "L6.W", "L6.b"}
    if not shared:
        expected |= {k.replace(".", "'.") for k in expected}
    assert set(weights) == expected
    assert sum(t["total"] for k, t in weights.items() if k[-1] in "Wb") == (2 if not shared else 1) * (
        4096 * 256 + 256 + 256 * 32 + 32)
    assert all(t["checked"] == t["total"] for t in weights.values())
    assert all(sum(t["differences"][k] for k in ("central", "one-sided", "smaller step")) == t["total"]
               for t in weights.values())
    assert min(report["hinge_cases"].values()) >= 1
    assert report["training"]["max_trajectory_deviation"] <= 1e-10
    assert all(info["checked"] for info in report["kl"]["readings"].values())
