"""French typography: no-break spaces and apostrophes in prose, nothing changed in math, code or links."""

import pytest

from derive.sheet.typography import NBSP, NNBSP, french


@pytest.mark.parametrize("text, expected", [
    ("Réponse : oui", f"Réponse{NBSP}: oui"),
    ("vrai ; faux ? non !", f"vrai{NNBSP}; faux{NNBSP}? non{NNBSP}!"),
    ("« dropout »", f"«{NNBSP}dropout{NNBSP}»"),
    ("15,6 % des cas", f"15,6{NBSP}% des cas"),
    ("le tableau 1, la figure 8, la couche L5, la section 7.5",
     f"le tableau{NBSP}1, la figure{NBSP}8, la couche{NBSP}L5, la section{NBSP}7.5"),
    ("l'énoncé d'AlexNet", "l\u2019énoncé d\u2019AlexNet"),
    ("L5' et L'2", "L5' et L'2"),  # primes of layer names are not apostrophes
])
def test_french_prose_gets_its_no_break_spaces_and_apostrophes(text, expected):
    assert french(text) == expected


@pytest.mark.parametrize("text", [
    "$a : b ; c$", "$$\\sum_i x_i ; y'$$", "`x = 1 ; y : z`", "![img](figures/a.fr.png){width=85%}",
    "[site](https://example.org/a?b=c)", "```\nl'a : b\n```",
])
def test_math_code_and_link_targets_are_left_alone(text):
    assert french(text) == text


def test_the_filter_is_idempotent_and_leaves_english_spacing_of_a_text_without_spaces_alone():
    once = french("Il dit « non » ; puis : l'arrêt (15 %) ?")
    assert french(once) == once
    assert french("ratio:1;x") == "ratio:1;x"
