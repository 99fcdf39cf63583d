"""The certificate on awkward small tops: a nearly silent unit (the KL step), a steep loss (the replay)."""

import numpy as np

from derive import spec
from derive.certify import certificate, formulas

# One ReLU unit on top: its mean activation ρ̂ is about 2e-6 on the certificate's pairs, below the step 1e-5.
TINY = ('input = [8, 8, 1]\nshared_weights = true\nprelu = "scalar"\n[[layer]]\nname = "A"\ntype = "dense"\n'
        'units = 2\nactivation = "relu"\n[[layer]]\nname = "B"\ntype = "dense"\nunits = 3\nactivation = "sigmoid"\n'
        '[[layer]]\nname = "C"\ntype = "dense"\nunits = 1\nactivation = "relu"\n')


def test_a_nearly_silent_unit_is_certified():
    report = certificate.run(spec.parse(TINY, "tiny.toml"), seed=0, exhaustive=False, use_torch=False, steps=1)
    assert report["failures"] == []


def test_the_step_stays_inside_the_domain_of_the_logarithms():
    class Node:
        kind = "kl"

    assert formulas._step(Node(), np.array([2e-6, 0.5])) == 1e-5 * 2e-6
    assert formulas._step(Node(), np.array([0.5, 0.999])) == 1e-5 * (1 - 0.999)
    Node.kind = "dense"
    assert formulas._step(Node(), np.array([2e-6])) == 1e-5


STEEP = ('input = [8, 8, 1]\nprelu = "scalar"\n[[layer]]\nname = "Mq-_TvruRivM0hp3zGfGIpHW0"\ntype = "dense"\n'
         'units = 1\nactivation = "prelu"\n[[layer]]\nname = "NF"\ntype = "dense"\nunits = 2\nactivation = "relu"\n'
         '[[layer]]\nname = "fFytg"\ntype = "dense"\nunits = 1\nactivation = "relu"\n')


def test_a_steep_loss_is_replayed_at_a_smaller_rate():
    """Found by the names fuzz: at the rate 0.002 the replayed steps overshot (loss 16.7 -> 69)."""
    from derive.certify import training

    report = certificate.run(spec.parse(STEEP, "steep.toml"), seed=0, exhaustive=False, use_torch=False, steps=1)
    replay = report["training"]
    assert report["failures"] == [] and replay["lr"] < training.LR
    assert replay["loss_last"] < replay["loss_first"] and replay["max_trajectory_deviation"] <= training.TOLERANCE
