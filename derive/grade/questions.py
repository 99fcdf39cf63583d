"""The questions ``derive grade`` marks, for one spec: what each asks, its certified answer, its tensors.

Q1, Q2 and Q7 ask for a gradient: a :class:`Target` holds the certified result (the weight's
gradient of the upper dense layer, of the lower one, and of the KL penalty in its literal reading),
the vocabulary of its graph and the tensors it is evaluated on: the certificate's forward pass on
12 pairs, 4 in each hinge case, or, for Q7, the first branch on the same images with every ρ̂_g in
(0, 1). Q3 asks for a number (:mod:`derive.grade.counting`). :class:`Exam` builds each target once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from derive.certify import kl
from derive.certify import tensors as certified
from derive.errors import DeriveError
from derive.grade import evaluation, vocabulary
from derive.symbolic import derivation
from derive.symbolic import graph as graphs

QUESTIONS = ("ex1.q1", "ex1.q2", "ex1.q3", "ex1.q7")
FORMULAS = {"ex1.q1": "L6", "ex1.q2": "L5", "ex1.q7": "kl"}
# The case column as typed -> the hinge case of the derivation.
CASES = {"same": "same", "inside": "different_inside_margin", "outside": "different_outside_margin"}
GRADE_BETA = 0.37     # β in Q7's tensors: not 1, so that an answer without β cannot agree by chance


@dataclass(frozen=True)
class Target:
    """A formula question: the certified gradient, its graph's names, the tensors it is compared on."""

    question: str
    spec: object
    key: str                    # the derivation's key (the spec's name of the layer, or "kl")
    shared: bool
    derivation: object
    result: object              # the certified Result
    vocab: vocabulary.Vocabulary
    tensors: evaluation.Tensors
    lower_activation: str

    @property
    def free(self) -> tuple:
        """The indices of the weight asked about, in order (j, k for w⁽⁵⁶⁾_jk)."""
        return certified.free_indices(self.result)

    @property
    def sizes(self) -> dict:
        """The certified result's free indices and what they run over."""
        return evaluation.index_sizes(self.result.expr, self.vocab)

    def reference(self, where: tuple) -> np.ndarray:
        """The certified gradient evaluated in a frame (cached)."""
        return self.values("certified", self.result.expr, where)

    def values(self, key, expr, where: tuple) -> np.ndarray:
        """An expression of ours (the certified one, a catalogue entry) evaluated in a frame, cached by key."""
        slot = (key, where)
        if slot not in self.tensors.cache:
            self.tensors.cache[slot] = evaluation.evaluate(expr, self.tensors, where)
        return self.tensors.cache[slot]

    @functools.cached_property
    def scale(self) -> float:
        """The size of the certified gradient over every pair: the unit of the rounding tolerance."""
        where = evaluation.frame(self.free, self.sizes, sizes=self.tensors.sizes)
        return float(np.nanmax(np.abs(self.reference(where)), initial=0.0)) or 1.0

    def case_rows(self, case: str | None):
        """The rows (pairs) of one hinge case, or None for all of them."""
        return None if case is None else self.tensors.rows[case]


class Exam:
    """The gradable questions of one spec under one reading of weight sharing, built on first use."""

    def __init__(self, spec, shared: bool | None = None, seed: int = 0):
        self.spec = spec.with_options(shared=spec.shared_weights if shared is None else shared)
        self.shared, self.seed = self.spec.shared_weights, seed
        self._targets = {}

    @functools.cached_property
    def context(self) -> certified.Context:
        """The certificate's tensors: the network on 12 pairs covering the three hinge cases."""
        return certified.Context(self.spec, seed=self.seed)

    def target(self, question: str) -> Target:
        """The target of Q1, Q2 or Q7 (raises DeriveError for another question)."""
        if question not in FORMULAS:
            raise DeriveError(f"{question} is not a formula question (expected one of {', '.join(FORMULAS)})")
        if question not in self._targets:
            self._targets[question] = self._build(question)
        return self._targets[question]

    def _build(self, question: str) -> Target:
        key = FORMULAS[question]
        d = derivation.derive(self.spec, key, self.shared)
        _, lower, upper, _ = graphs.top(self.spec)
        param = f"{upper.name if key != 'L5' else lower.name}.W"
        result = next(r for r in d.results if r.param == param and r.reading in ("", "literal"))
        if key == "kl":
            tensors, g = self._kl_tensors()
        else:
            ctx = self.context
            g = ctx.graph
            tensors = evaluation.Tensors(ctx.values, frozenset(ctx.batched), dict(ctx.rows), dict(g.sizes), len(ctx.l))
        return Target(question, self.spec, d.key, self.shared, d, result, vocabulary.of(g), tensors, lower.activation)

    def _kl_tensors(self):
        net, cache, _ = kl.forward(self.context, "literal")
        g = graphs.kl_graph(self.spec, "literal", net.tied)
        values = dict(kl.bindings(g, net, cache))
        values["beta"] = GRADE_BETA
        m = g.ranges[graphs.index(graphs.KL_INDICES[2])]
        sizes = {**g.sizes, m: int(values["m"])}
        return evaluation.Tensors(values, frozenset(), {}, sizes, 1), g
