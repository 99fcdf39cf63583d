"""The spelling is normalised with each character's origin kept; the grammar reads every form and refuses the rest."""

import logging
from pathlib import Path

import pytest
from lark import Lark, logger

from derive.grade import notation, syntax


@pytest.mark.parametrize("typed, plain", [
    ("s⁽⁶′⁾_k − ρ̂_g", "s^{(6')}_k - rhohat_g"),
    ("Σ_{k=1..n₆} (s⁽⁶⁾_k·w⁽⁵⁶⁾_jk)", "sum_{k=1..n_{6}} (s^{(6)}_k*w^{(56)}_jk)"),
    ("s⁽⁵⁾⁽ᵗ⁾_f", "s^{(5)(t)}_f"),
    (r"\hat{\rho}_g + \hat\rho_g", "rhohat_g + rhohat_g"),
    (r"\mathbb{1}_{\{D<1\}}", r"\mathbb{1}_{{D<1}}"),
    ("2β", "2 beta"),
    ("x**2", "x^2"),
    ("$x$", " x "),
    ("s^(5)(i)_f", "s^{(5)(i)}_f"),
])
def test_the_notation_is_normalised(typed, plain):
    assert notation.normalise(typed).text == plain


def test_columns_point_into_the_answer_as_typed():
    text = "ρ̂_g + s⁽⁶′⁾_k ? 1"
    n = notation.normalise(text)
    assert text[n.column(n.text.index("?")) - 1] == "?"
    with pytest.raises(syntax.Unreadable) as err:
        syntax.parse(text)
    assert err.value.column == text.index("?") + 1 and err.value.key == "character"


@pytest.mark.parametrize("text, kind", [
    ("(s6_k - s6'_k) * s5_j", "mul"),
    ("a b c", "imul"),
    ("a -b", "sub"),
    ("sum_k a_k b + c", "add"),
    (r"\sum_{k=1}^{n_{6}} x_k", "bigop"),
    ("sum_{k=1..n_{6}} x_k", "bigop"),
    ("||s6 - s6'||^2", "normed"),
    ("max(0, 1 - D)", "call"),
    (r"\frac{1}{m}\sum_{i=1}^{m} s^{(5)(i)}_f", "imul"),
    ("x if D < 1 else 0", "ifelse"),
    ("{a if l = 0; b otherwise}", "cases"),
    (r"\begin{cases} a & \text{si } l = 0 \\ b & \text{sinon} \end{cases}", "cases"),
    (r"\mathbb{1}_{D<1}", "scripted"),
    ("[o5_j <= 0]", "bracket"),
    (r"x \cdot y \times z", "mul"),
    (r"\left( a \right) \, b", "imul"),
])
def test_every_form_parses(text, kind):
    assert syntax.parse(text).tree.kind == kind


def test_a_sums_body_is_the_rest_of_the_product():
    tree = syntax.parse("sum_k a_k b * c + d").tree
    assert tree.kind == "add" and tree.children[0].kind == "bigop"
    body = tree.children[0].children[-1]
    assert body.kind == "mul"  # a_k b * c, all of it


def test_the_only_conflicts_of_the_grammar_are_a_sums_body():
    """LALR conflicts are resolved by shifting; the grammar's only ones must be the intended ones."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        grammar = Path(syntax.__file__).with_name("grammar.lark").read_text(encoding="utf-8")
        Lark(grammar, parser="lalr", lexer="basic", debug=True)
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    rules = {line.strip() for r in records for line in r.splitlines() if line.strip().startswith("*")}
    assert rules and all("<bigop : SUM" in r for r in rules), rules


@pytest.mark.parametrize("text, key", [
    ("", "empty"),
    ("   ", "empty"),
    ("(s6_k - s6'_k", "early"),
    ("a ) b", "unexpected"),
    ("a $ b", "character"),
    (r"\input{/etc/passwd}", "unknown_command"),
    (r"x \write18{rm -rf /}", "unknown_command"),
    (r"\def\x{1}", "unknown_command"),
    (r"\text{$(rm -rf /)}", "text"),
    ("__import__('os').system('ls')", "unexpected"),
    ("-" * 5000 + "x", "too_deep"),
    ("max(0, " * 100 + "x" + ")" * 100, "too_deep"),
    ("x + " * 60000 + "x", "too_long"),
])
def test_what_cannot_be_read_says_where_and_why(text, key):
    with pytest.raises(syntax.Unreadable) as err:
        syntax.parse(text)
    assert err.value.key == key and err.value.column >= 1


def test_an_error_lists_what_was_expected():
    with pytest.raises(syntax.Unreadable) as err:
        syntax.parse("s6_k +")
    assert err.value.key == "early" and "term" in err.value.values["expected"]
    with pytest.raises(syntax.Unreadable) as err:
        syntax.parse("(a b")
    assert "')'" in err.value.values["expected"]


def test_parentheses_add_no_level_and_long_chains_are_one_level():
    assert syntax.parse("(" * 5000 + "x" + ")" * 5000).tree.value == "x"
    long = syntax.parse(" + ".join(f"a{i} - b{i}" for i in range(3000)))
    assert long.tree.kind in ("add", "sub") and long.tree.depth <= 3
