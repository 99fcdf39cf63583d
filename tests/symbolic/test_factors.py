"""Named factors: δ, Δ and f′ give the derived gradients back exactly, and the certificate catches a wrong one."""

import numpy as np
import pytest
import sympy as sp

from derive import spec
from derive.certify import formulas, tensors
from derive.symbolic import derivation, factors

SMALL = spec.parse('input = [8, 8, 1]\n[[layer]]\nname = "F0"\ntype = "dense"\nunits = 5\nactivation = "relu"\n'
                   '[[layer]]\nname = "F1"\ntype = "dense"\nunits = 4\nactivation = "prelu"\n'
                   '[[layer]]\nname = "F2"\ntype = "dense"\nunits = 3\nactivation = "linear"\n', "small.toml")


@pytest.mark.parametrize("layer", ["L6", "L5", "prelu"])
@pytest.mark.parametrize("shared", [False, True])
def test_every_result_is_given_back_exactly(layer, shared):
    d = derivation.derive(spec.default_spec(), layer, shared)
    named = factors.named(d)
    assert factors.check(d) == []
    for r in d.results:
        compact = named.compact(r.expr)
        assert named.expand(compact) == r.expr
        assert r.expr == 0 or (compact != r.expr and compact.has(factors.DELTA))


def test_the_upper_weight_reads_delta_delta_s():
    d = derivation.derive(spec.default_spec(), "L6", False)
    compact = factors.named(d).compact(d.results[0].expr)
    assert compact.free_symbols >= {factors.DELTA}
    assert len(sp.Mul.make_args(compact)) == 3  # δ · Δ_k · s_j


def test_the_kl_derivation_has_no_pair_factors():
    assert factors.named(derivation.derive(spec.default_spec(), "kl")) is None


def test_the_certificate_catches_a_wrong_named_factor(monkeypatch):
    ctx = tensors.Context(SMALL, seed=0)
    d = derivation.derive(SMALL, "L5", False)
    shapes = {r.param: ctx.net.params[r.param].shape for r in d.results}
    good = formulas.check_factors(d, ctx.values, ctx.batched, shapes)
    assert good and all(e.ok for e in good)
    real = factors.Factors.compact
    # a compact form that lost its sign, as a hand-written "δ Δ s" with the wrong δ would
    monkeypatch.setattr(factors.Factors, "compact", lambda self, expr: -real(self, expr))
    bad = formulas.check_factors(d, ctx.values, ctx.batched, shapes)
    assert not all(e.ok for e in bad) and any("named factors" in e.name for e in bad if not e.ok)
    assert np.isfinite([e.max_rel_error for e in bad]).all()
