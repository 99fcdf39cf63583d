"""Names, indices, sums, means, norms, brackets and cases read as SymPy in the graph's own names."""

import pytest
import sympy as sp

from derive import spec
from derive.grade import equivalence, reading, syntax, vocabulary
from derive.symbolic import derivation, printing
from derive.symbolic import graph as graphs

EXAM = spec.default_spec()
LOSS = vocabulary.of(graphs.loss_graph(EXAM, False))
KL = vocabulary.of(graphs.kl_graph(EXAM, "literal", False))


def read(text, vocab=LOSS):
    return reading.read(syntax.parse(text), vocab)


def show(text, vocab=LOSS):
    return printing.text(read(text, vocab).expr, vocab.notation)


def test_the_names_come_from_the_notation_table():
    names = LOSS.names()
    assert {"s6", "s6'", "s5", "o5", "s4", "w56", "w45", "a", "l", "D", "n6"} <= set(names)
    assert {"rhohat", "rho", "beta", "m", "s5", "w56"} <= set(KL.names())


@pytest.mark.parametrize("a, b", [
    ("s6_k", r"s^{(6)}_{k}"),
    ("s6'_k", r"s^{(6')}_k"),
    ("w56_jk", r"w^{(56)}_{jk}"),
    ("w56_jk", "w_{(56)jk}"),
    ("w56_jk", "w56_{j,k}"),
    ("s5_j", "s_{5,j}"),
    ("D", "D^{(t)}"),
    ("l", "l^(t)"),
    ("a_j", "a5_j"),
    ("a_j", r"a^{(5)}_j"),
    ("n6", "n_{6}"),
])
def test_the_same_quantity_in_every_spelling(a, b):
    assert read(a).expr == read(b).expr


def test_indices_are_bound_by_sums_and_take_their_range_from_what_they_index():
    r = read("sum_k((s6_k - s6'_k)*w56_jk)")
    s = next(iter(r.expr.atoms(sp.Sum)))
    assert s.limits[0][2] == graphs.loss_graph(EXAM, False).ranges[graphs.index("k")]
    assert set(r.ranges) == {graphs.index("j")}
    assert read("sum_q(s6_q)").expr.limits[0][0].name == "q"


def test_the_examples_of_a_batch_and_their_mean():
    mean = read("mean(s5_f)", KL).expr
    explicit = read("(1/m)*sum_i(s5_f^(i))", KL).expr
    assert mean == explicit
    assert mean == read("(1/m)*sum_q(s5_f^(q))", KL).expr.xreplace({graphs.index("q"): graphs.index("i")})
    one = read("s5_f", KL)
    assert graphs.index("i") in one.ranges  # one example: the example index stays free


def test_brackets_cases_norms_and_functions():
    assert show("[D<1]") == "{1 if D⁽ᵗ⁾ < 1; 0 otherwise}"
    assert show(r"\mathbb{1}_{o^{(5)}_j \leq 0}") == "{1 if o⁽⁵⁾_j ≤ 0; 0 otherwise}"
    assert show("{1 if l = 0; 2 otherwise}") == "{1 if l⁽ᵗ⁾ = 0; 2 otherwise}"
    assert show("||s6 - s6'||^2") == "Σ_{q=1..n₆} (s⁽⁶⁾_q - s⁽⁶′⁾_q)²"
    assert read("max(0, 1 - D)").expr == sp.Max(0, 1 - graphs.scalar("D"))
    assert read(r"\beta \rho", KL).expr == graphs.scalar("beta") * graphs.scalar("rho")


@pytest.mark.parametrize("text, key", [
    ("x5_j", "unknown_name"),
    ("s6_jk", "indices"),
    ("s6", "indices"),
    ("l_k", "no_index"),
    ("mean(s5_j)", "mean_here"),
    ("s6_k^(x)", "example_here"),
    ("s6_k^(l+1)", "exponent"),
    ("9^9^9", "exponent"),
    ("sum(s6_k)", "sum_index"),
    ("max(1)", "arguments"),
    ("(a, b)", "tuple"),
])
def test_what_reads_as_nothing_is_unreadable(text, key):
    with pytest.raises(syntax.Unreadable) as err:
        read(text)
    assert err.value.key == key


@pytest.mark.parametrize("text, key", [
    ("s5_k*s6_k", "index_ranges"),
    ("sum_k(s5_j)", "sum_empty"),
    ("sum_{k=1}^{n5} s6_k", "sum_limit"),
    ("s5_j/0", "divides_by_zero"),
])
def test_what_reads_but_means_nothing(text, key):
    with pytest.raises(reading.Meaningless) as err:
        read(text)
    assert err.value.key == key


@pytest.mark.parametrize("key", ["L6", "L5", "kl"])
def test_the_printed_results_read_back_as_themselves(key):
    """The echo (Unicode) and the sheet's LaTeX of every result read back as the same expression."""
    d = derivation.derive(EXAM, key, False)
    vocab = KL if key == "kl" else LOSS
    for r in d.results:
        if r.reading not in ("", "literal"):
            continue
        for printed in (printing.text(r.expr, d.notation), printing.latex(r.expr, d.notation)):
            assert equivalence.normal(read(printed, vocab).expr - r.expr) == 0, printed


def test_other_specs_use_their_own_names(named, tied):
    named = named.exam.target("ex1.q1").vocab
    assert read(r"s^{(fc2)}_k - s^{(fc2')}_k + w^{(fc1,fc2)}_{jk}", named).expr is not None
    with pytest.raises(syntax.Unreadable):
        read("s6_k", named)
    scalar = tied.exam.target("ex1.q2").vocab
    assert read("a", scalar).expr == read("a'", scalar).expr  # one slope per layer, shared by both branches
    with pytest.raises(syntax.Unreadable) as err:
        read("a_j", scalar)
    assert err.value.key == "no_index"
    assert read("w5'6'_jk", scalar).expr == read("w56_jk", scalar).expr
