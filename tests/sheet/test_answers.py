"""Answer units: complete metadata, a marking scheme that sums to the exam's points, claims that can fail."""

import dataclasses
import re
from pathlib import Path

import pytest

from derive import spec
from derive.prose import LANGS
from derive.sheet import units as answers
from derive.sheet.units import Item, claim

UNITS = answers.load_all()
EXPECTED = {"ex1": 7, "ex2": 6, "bonus": 1}


def test_one_unit_per_question_in_exam_order():
    for section, n in EXPECTED.items():
        numbers = [u.number for u in UNITS if u.section == section]
        assert numbers == list(range(1, n + 1)), section
    assert [u.section for u in UNITS] == sorted((u.section for u in UNITS), key=answers.SECTIONS.index)
    assert len({u.id for u in UNITS}) == len(UNITS)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.id)
def test_unit_has_prose_and_metadata_in_every_language(unit):
    folder = answers.ROOT / unit.folder
    for lang in LANGS:
        assert (folder / f"{lang}.md.j2").exists()
        assert unit.title[lang].strip() and unit.restate[lang].strip()
        assert all(item.text[lang].strip() for item in unit.scheme)
    assert unit.title["fr"] != unit.title["en"]


def test_marking_scheme_sums_to_the_exam_points():
    assert answers.scheme_problems() == []
    assert sum(u.points for u in UNITS if u.section == "ex1") == 7
    assert sum(u.points for u in UNITS if u.section == "ex2") == 7
    assert sorted(u.bonus for u in UNITS if u.bonus) == [0.5, 1.0]


def test_marking_scheme_check_catches_a_wrong_sum():
    broken = list(UNITS)
    u = broken[0]
    broken[0] = dataclasses.replace(u, scheme=u.scheme + (Item(0.25, {"fr": "x", "en": "x"}),))
    problems = answers.scheme_problems(broken)
    assert any(p.startswith(f"{u.id}: sub-items give") for p in problems)
    moved = [dataclasses.replace(x, points=x.points + 0.5) if x.id == "ex2.q1" else x for x in UNITS]
    got = sum(x.points for x in moved if x.section == "ex2")
    assert f"ex2: questions give {got} points, the exam 7.0" in answers.scheme_problems(moved)


def test_every_citation_names_a_known_reference():
    refs = answers.references()
    for path in answers.ROOT.glob("*/*.md.j2"):
        for key in re.findall(r'cite\("([^"]+)"\)', path.read_text(encoding="utf-8")):
            assert key in refs, f"{path}: unknown reference {key}"
    for key, ref in refs.items():
        assert {"short", "authors", "year", "title", "venue"} <= set(ref), key


def test_register_entries_are_bilingual():
    entries = answers.register()
    assert len(entries) >= 10
    for e in entries:
        for part in ("where", "issue", "reading") + (("student",) if "student" in e else ()):
            assert set(e[part]) == set(LANGS)
    assert sum("student" in e for e in entries) >= 5


def _unit(uid):
    return next(u for u in UNITS if u.id == uid)


class FakeInputs:
    """What a unit computes from, without experiments or certificates."""

    def __init__(self, net, tmp_path, lang="en"):
        from derive import count

        self.spec, self.report, self.tmp, self.lang = net, count.report(net), Path(tmp_path), lang

    def figure(self, name, draw):
        draw(self.tmp / name)
        return f"figures/{name}"


def _holds(claims) -> dict:
    return {c.name: c.holds for c in claims}


def test_parameter_count_claims_fail_on_a_wrong_count(tmp_path):
    unit = _unit("ex1.q3")
    ctx = unit.solve(FakeInputs(spec.default_spec(), tmp_path))
    assert all(c.holds for c in unit.claims(ctx) if c.required)
    layers = [dict(layer) for layer in ctx["report"]["layers"]]
    layers[0]["params"] += 1  # a conv layer counted without one of its biases would look like this
    bad = dict(ctx, report=dict(ctx["report"], layers=layers))
    assert not _holds(unit.claims(bad))["layers_recounted"]


def test_parameter_count_follows_another_spec(tmp_path):
    net = spec.parse('input = [8, 8, 1]\nshared_weights = true\n[[layer]]\nname = "L1"\ntype = "dense"\n'
                     'units = 4\nactivation = "prelu"\n', "tiny.toml")
    ctx = _unit("ex1.q3").solve(FakeInputs(net, tmp_path))
    assert ctx["report"]["total_params"] == (64 + 1) * 4 + 4
    assert all(c.holds for c in _unit("ex1.q3").claims(ctx))


def test_the_literal_stride_is_counted_when_the_reconstruction_strides(tmp_path):
    ctx = _unit("ex1.q3").solve(FakeInputs(spec.default_spec(), tmp_path))
    assert ctx["strided"] == ["L2", "L4"]
    assert ctx["literal"]["total"] == 33_703_040 and ctx["literal"]["dense_input"] == [32, 32, 64]


def _q2_claims(activation: str, claimed: str):
    """Q2's claims on the derivation of a spec whose top layers are named F1 and F2, not L5 and L6."""
    from derive.symbolic import derivation

    net = spec.parse(f'input = [4, 4, 1]\nprelu = "scalar"\n[[layer]]\nname = "F1"\ntype = "dense"\nunits = 3\n'
                     f'activation = "{activation}"\n[[layer]]\nname = "F2"\ntype = "dense"\nunits = 2\n'
                     'activation = "linear"\n', "named.toml")
    cert = {"ok": True, "checked": 1}
    ctx = {"layer": "F1", "activation": claimed, "cert": cert, "tcert": cert,
           "objects": {"untied": derivation.derive(net, "L5", shared=False)}}
    return _unit("ex1.q2").claims(ctx)


def test_q2_finds_the_prelu_factor_whatever_the_layer_is_named():
    assert all(c.holds for c in _q2_claims("prelu", "prelu"))
    assert not _holds(_q2_claims("tanh", "prelu"))["activation_factor"]  # no PReLU factor: the claim fails


def test_convolution_claims_fail_when_the_engine_flips_its_kernel():
    unit = _unit("ex2.q3")
    good = {"max_error_vs_correlate": 1e-16, "max_error_vs_convolve_flipped": 1e-16,
            "min_relative_gap_vs_convolve_unflipped": 0.9, "configurations": 7}
    assert all(c.holds for c in unit.claims({"c": good, "geometry": None}))
    # An engine computing signal processing's convolution would match convolve() unflipped instead.
    flipped = dict(good, max_error_vs_correlate=1.3, max_error_vs_convolve_flipped=1.3,
                   min_relative_gap_vs_convolve_unflipped=0.0)
    assert not any(c.holds for c in unit.claims({"c": flipped, "geometry": None}))


# --- Rendering a unit as the sheet does ---------------------------------------------------------------

def _text(unit, ctx, lang, net, block="answer"):
    from derive.sheet import document

    doc = document.Document(net, lang, [])
    return doc.block(unit.template(lang), block, "md", ctx)


def _answer(unit, inputs):
    context, _ = unit.answer(inputs)
    return context


# --- Ex. 1 Q4: the teacher's evidence follows the branches experiment's numbers -----------------------

def _q4_conclusion(untied_accuracy=0.62, same_distance=0.02, displacement=0.02):
    runs = ("untied_independent", "tied", "untied_same_init")

    def per(*values):
        return dict(zip(runs, values))

    return {
        "layer": "L2", "top_layer": "L6", "rate": 0.002, "momentum": 0.9, "seed": 0,
        "steps": 400, "batch": 32, "same_share": 0.5, "eval_pairs": 500, "probe_images": 160,
        "permutation_weight_distance": 1.41, "permutation_output_change": 3e-7,
        "weight_distance_start": per(1.42, 0.0, 0.0), "weight_distance_end": per(1.42, 0.0, same_distance),
        "aligned_weight_distance_end": per(1.4, 0.0, 0.02), "displacement_end": per(displacement, 0.03, 0.02),
        "matched_correlation_end": per(0.53, 1.0, 0.94),
        "self_D_start": per(0.3, 0.0, 0.0), "self_D_end": per(0.12, 0.0, 0.08),
        "self_D_over_different_D_start": per(1.0, 0.0, 0.0), "self_D_over_different_D_end": per(0.23, 0.0, 0.15),
        "held_out_accuracy": per(untied_accuracy, 0.6, 0.6),
    }


class ExperimentInputs:
    def __init__(self, conclusion, name):
        self.conclusion, self.name = conclusion, name

    def experiment(self, name):
        return type("Result", (), {"conclusion": self.conclusion})()

    def experiment_figures(self, name):
        return {self.name: f"figures/{self.name}.png"}


def _q4(conclusion, lang):
    unit = _unit("ex1.q4")
    ctx = _answer(unit, ExperimentInputs(conclusion, "branches"))
    return _text(unit, ctx, lang, spec.default_spec(), "evidence")


@pytest.mark.parametrize("lang, short", [("en", "the run cannot show where they end"),
                                         ("fr", "l'expérience ne peut pas montrer")])
def test_q4_says_a_short_run_cannot_show_the_long_run(lang, short):
    assert short in _q4(_q4_conclusion(displacement=0.02), lang)
    assert short not in _q4(_q4_conclusion(displacement=0.5), lang)


@pytest.mark.parametrize("lang, alike", [("en", "cannot tell them apart"), ("fr", "ne permet pas de les distinguer")])
def test_q4_calls_accuracies_within_the_noise_indistinguishable(lang, alike):
    assert alike in _q4(_q4_conclusion(untied_accuracy=0.61), lang)
    assert alike not in _q4(_q4_conclusion(untied_accuracy=0.75), lang)


def test_q4_drift_sentence_follows_the_same_start_run():
    assert "What it does show" in _q4(_q4_conclusion(same_distance=0.02), "en")
    assert "What it does show" not in _q4(_q4_conclusion(same_distance=0.001), "en")


def test_q4_control_claim_fails_when_tied_branches_differ():
    bad = _q4_conclusion()
    bad["self_D_end"] = dict(bad["self_D_end"], tied=0.01)
    unit = _unit("ex1.q4")
    assert not _holds(unit.claims(unit.solve(ExperimentInputs(bad, "branches"))))["tied_identical"]


# --- Other specs: the prose names the spec's layers and follows its settings -----------------------

NAMED = """
input = [8, 8, 1]
shared_weights = true
prelu = "scalar"
[[layer]]
name = "C1"
type = "conv"
kernel = 3
filters = 2
activation = "relu"
[[layer]]
name = "P1"
type = "maxpool"
size = 2
[[layer]]
name = "F1"
type = "dense"
units = 5
activation = "prelu"
[[layer]]
name = "F2"
type = "dense"
units = 3
activation = "linear"
"""


class CertifiedInputs(FakeInputs):
    """Inputs that also run the (sampled) certificate of the spec, as the sheet does."""

    def certificate(self, shared):
        from derive.certify import certificate

        return certificate.run(self.spec.with_options(shared=shared), seed=0, exhaustive=False, use_torch=False)


@pytest.fixture(scope="module")
def named_net():
    return spec.parse(NAMED, "named.toml")


@pytest.mark.slow
@pytest.mark.parametrize("uid", ["ex1.q1", "ex1.q2"])
@pytest.mark.parametrize("lang", LANGS)
def test_gradient_prose_names_the_spec_layers_and_their_symbols(uid, lang, named_net, tmp_path):
    unit = _unit(uid)
    ctx = _answer(unit, CertifiedInputs(named_net, tmp_path, lang))
    text = _text(unit, ctx, lang, named_net) + _text(unit, ctx, lang, named_net, "evidence")
    exam_names = r"\bL[456]\b|\^\{\([456]'?\)\}|\(56\)"
    assert not re.search(exam_names, text), re.findall(exam_names, text)
    assert "F1" in text and "F2" in text
    if uid == "ex1.q2":
        assert "P1" in text and "a^{(F1)}" in text and "w^{(F1,F2)}" in text


@pytest.mark.parametrize("lang", LANGS)
def test_parameter_prose_follows_the_spec_settings(lang, named_net, tmp_path):
    unit = _unit("ex1.q3")
    text = _text(unit, _answer(unit, FakeInputs(named_net, tmp_path, lang)), lang, named_net)
    assert "L4" not in text and "P1" in text
    assert ("Max-pooling" if lang == "en" else "max-pooling") in text
    assert ("a single one per layer" if lang == "en" else "une seule par couche") in text
    assert ("with separate weights it would have" if lang == "en" else "avec des poids distincts") in text
    plain = spec.parse(NAMED.replace('"prelu"\n[[layer]]\nname = "F2"', '"tanh"\n[[layer]]\nname = "F2"'),
                       "tanh.toml")
    text = _text(unit, _answer(unit, FakeInputs(plain, tmp_path, lang)), lang, plain)
    assert "PReLU" not in text and "tanh" in text


@pytest.mark.parametrize("lang", LANGS)
def test_register_states_the_reading_the_spec_sets(lang, named_net):
    from derive.sheet import document

    entries = answers.register()

    def register(net, edition="teacher"):
        doc = document.Document(net, lang, [], edition=edition)
        return doc._render("register.md.j2", "md", entries=entries)

    default, named = register(spec.default_spec()), register(named_net)
    branches = next(e for e in entries if "reading_shared" in e)
    slopes = next(e for e in entries if "reading_prelu" in e)
    shared, scalar = branches["reading_shared"][lang], slopes["reading_prelu"]["scalar"][lang]
    assert shared in named and scalar in named
    assert shared not in default and scalar not in default
    assert branches["reading"][lang] in default and slopes["reading"][lang] in default
    student = register(spec.default_spec(), "student")
    assert branches["student"][lang] in student and branches["reading"][lang] not in student


def test_parameter_prose_ends_its_sentence_without_prelu(tmp_path):
    net = spec.parse(NAMED.replace('"prelu"\n[[layer]]\nname = "F2"', '"tanh"\n[[layer]]\nname = "F2"'), "tanh.toml")
    unit = _unit("ex1.q3")
    for lang, sentence in (
            ("en", "Max-pooling, ReLU, tanh and the linear output have no parameters, nor do the distance and "
                   "the loss."),
            ("fr", "Le max-pooling, ReLU, tanh et la sortie linéaire n'ont aucun paramètre, pas plus que la "
                   "distance et la perte.")):
        assert sentence in _text(unit, _answer(unit, FakeInputs(net, tmp_path, lang)), lang, net)


def _q1_claims(net, tied=None):
    from derive.symbolic import derivation

    untied = derivation.derive(net, "L6", shared=False)
    cert = {"ok": True, "checked": 1, "max_rel_error": 0.0}
    ctx = {"layer": untied.key, "cert": cert, "tcert": cert,
           "objects": {"untied": untied, "tied": tied or derivation.derive(net, "L6", shared=True)}}
    return _holds(_unit("ex1.q1").claims(ctx))


@pytest.mark.parametrize("convention", ["scalar", "channel", "element"])
def test_q1_tied_weights_claim_holds_with_a_prelu_upper_layer(convention):
    """The primed branch's slope is renamed with its weights: derive check and Q1 agree on this spec."""
    net = spec.parse(f'input = [4, 4, 1]\nprelu = "{convention}"\n[[layer]]\nname = "A"\ntype = "dense"\n'
                     'units = 3\nactivation = "relu"\n[[layer]]\nname = "B"\ntype = "dense"\nunits = 2\n'
                     'activation = "prelu"\n', "prelu-top.toml")
    assert _q1_claims(net)["tied_is_sum"]
    from derive.symbolic import derivation

    one_branch = derivation.derive(net, "L6", shared=False)  # the first branch's path alone is not the tied gradient
    assert not _q1_claims(net, tied=one_branch)["tied_is_sum"]


# --- The teacher appendix quotes the wording printed in place of each failed claim ------------------

def _dropout_conclusion(lower=0.592, both=0.524, none=0.6, same=(0.322, 0.118, 0.00585),
                        different=(0.667, 0.183, 0.00646)):
    runs = ("none", "L5", "L5+L6")
    return {
        "layers": ["L5", "L6"], "eval_pairs": 500, "rate": 0.5, "seed": 0, "steps": 120, "data": "shapeset",
        "held_out_accuracy": dict(zip(runs, (none, lower, both))),
        "mean_D_same": dict(zip(runs, same)), "mean_D_different": dict(zip(runs, different)),
        "embedding_sq_norm": dict(zip(runs, (4.46, 0.50, 0.28))),
        "closed_form_mean_D": {"L5": 1.21, "L6": 6.01, "L5+L6": 8.43},
        "monte_carlo_mean_D": {"L5": 1.21, "L6": 5.96, "L5+L6": 8.45},
        "closed_form_first_image": {"L5": 0.60, "L6": 2.91, "L5+L6": 4.11},
        "max_z_score": 2.1, "max_relative_error": 0.02, "mc_draws": 1000, "mc_images": 8,
        "sq_norm_first_image": 2.91,
    }


def _teacher_appendix(unit, conclusion, experiment, lang, monkeypatch=None):
    from derive.sheet import document
    from derive.sheet.build import Solved

    context, found = unit.answer(ExperimentInputs(conclusion, experiment))
    doc = document.Document(spec.default_spec(), lang, [Solved(unit, context, found)], edition="teacher")
    monkeypatch.setattr(doc, "_render", _skip_verified(doc._render))
    return next(s.body for s in doc.sections("md") if s.label == f"evidence-{unit.id.replace('.', '-')}"), found


def _skip_verified(render):
    def wrapped(name, target, **context):
        return "" if name.startswith("verified.") else render(name, target, **context)
    return wrapped


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("conclusion", [_dropout_conclusion(),  # the measured numbers: two claims fail
                                        _dropout_conclusion(lower=0.75, both=0.74, none=0.62),
                                        _dropout_conclusion(lower=0.51, both=0.5, different=(0.667, 0.13, 0.006))])
def test_every_failed_claim_is_quoted_with_the_wording_printed_in_its_place(lang, conclusion, monkeypatch):
    from derive.sheet.typography import french

    body, found = _teacher_appendix(_unit("ex1.q6"), conclusion, "dropout", lang, monkeypatch)
    instead = {"en": "the text says instead:", "fr": french("le texte dit à la place :")}[lang]
    failed = [c for c in found if not c.holds]
    assert failed
    claim_lines = [line for line in body.splitlines() if line.startswith("- `")]
    for c in found:
        line = next(ln for ln in claim_lines if ln.startswith(f"- `{c.name}`"))
        left_out = {"en": "the text does not draw this conclusion", "fr": "le texte ne tire pas cette conclusion"}[lang]
        assert (instead in line or left_out in line) is (not c.holds), line
        if not c.holds and c.name in ("dropout_at_chance", "contrast_lost", "none_above_chance"):
            assert instead in line, line  # a conclusion of the text: something must be said in its place
        if instead in line:  # the quoted wording is in the text above the list
            quoted = " ".join(line.split(instead, 1)[1].strip(" .«»“”\u202f").split())
            assert quoted and quoted in " ".join(body.split("\n- `")[0].split())
    assert "contraire" not in body and "opposite" not in body


def test_a_failed_claim_with_no_wording_in_its_place_is_not_said_to_be_replaced(monkeypatch):
    unit = _unit("ex1.q6")
    real = unit.module.claims
    monkeypatch.setattr(unit.module, "claims", lambda ctx: real(ctx) + [
        claim("ex1.q6", "unprinted", {"fr": "x", "en": "x"}, "1 > 2")])
    body, _ = _teacher_appendix(unit, _dropout_conclusion(), "dropout", "en", monkeypatch)
    line = next(ln for ln in body.splitlines() if ln.startswith("- `unprinted`"))
    assert "the text does not draw this conclusion" in line and "instead" not in line


@pytest.mark.parametrize("lang", LANGS)
def test_q4_prints_what_the_accuracies_support_when_separate_weights_stay_near_chance(lang, monkeypatch):
    body, found = _teacher_appendix(_unit("ex1.q4"), _q4_conclusion(untied_accuracy=0.564), "branches", lang,
                                    monkeypatch)
    assert not _holds(found)["untied_learns"]
    line = next(ln for ln in body.splitlines() if ln.startswith("- `untied_learns`"))
    said = {"en": "is not clearly above chance", "fr": "ne dépasse pas nettement le hasard"}[lang]
    assert said in line.replace("\u2019", "'")
