"""Any layer name the validator accepts builds `derive gradients`, `derive check` and the sheet's Q1-Q3."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from specgen import HOSTILE_NAMES, named_tops, to_toml

from derive import spec as specs
from derive.certify import certificate
from derive.sheet import document, figures, render
from derive.sheet import units as answers
from derive.symbolic import report

UNITS = {u.id: u for u in answers.load_all()}


class Inputs:
    """What Q1-Q3 read: the spec, its count report, figures, and the (sampled) certificate."""

    def __init__(self, net, folder):
        from derive import count

        self.spec, self.report, self.folder, self.certs, self.lang = net, count.report(net), folder, {}, "en"

    def figure(self, name, draw):
        draw(self.folder / name)
        return f"figures/{name}"

    def certificate(self, shared):
        if shared not in self.certs:
            self.certs[shared] = certificate.run(self.spec.with_options(shared=shared), seed=0, exhaustive=False,
                                                 use_torch=False, steps=1)
        return self.certs[shared]


def _sheet_parts(net, folder):
    """Q1-Q3 solved, their claims weighed, and rendered to Markdown in both languages."""
    inputs, out = Inputs(net, folder), {}
    for uid in ("ex1.q1", "ex1.q2", "ex1.q3"):
        unit = UNITS[uid]
        for lang in answers.LANGS:
            inputs.lang = lang
            ctx, claims = unit.answer(inputs)
            failed = [c.name for c in claims if c.required and not c.holds]
            # a tiny top whose units are all dead gives no pair beyond the margin, or parameters sitting on a
            # ReLU kink (no derivative there): the certificate says so (and the sheet stops with that one
            # line), which is no confusion of names
            uncovered = any(_degenerate(f) for r in inputs.certs.values() for f in r["failures"])
            assert not failed or (uncovered and set(failed) <= {"certified"}), (uid, failed)
            out[uid, lang] = document.Document(net, lang, []).block(unit.template(lang), "answer", "md", ctx)
    return out, inputs


def _exercise(net, folder):
    for fmt in report.FORMATS:
        text = report.gradients(net).render(fmt)
        assert text.endswith("\n")
    for shared in (False, True):
        rep = certificate.run(net.with_options(shared=shared), seed=0, exhaustive=False, use_torch=False, steps=1)
        # a degenerate random network may fail more checks than the one that shows it degenerate
        assert rep["tensors"] and (any(map(_degenerate, rep["failures"])) or not rep["failures"]), rep["failures"]
    parts, _ = _sheet_parts(net, folder)
    for math in _math("\n\n".join(parts.values())):
        # every label in math is escaped: no double subscript, no '_' of a name read as a subscript
        assert "__" not in math and not RAW_LABEL.search(math), math
    figures.architecture(net, folder / "architecture.png")


RAW_LABEL = re.compile(r"\^\{\([^)]*[^\\)]_")  # s^{(a_b)}: an unescaped '_' inside a superscript label


def _math(markdown: str) -> list[str]:
    """The TeX of every formula of a Markdown text, as pandoc reads it."""
    import json

    import pypandoc

    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("t") == "Math":
                found.append(node["c"][1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(pypandoc.convert_text(markdown, "json", format=render.PANDOC_READER)))
    return found


def _spec(names, activations=("relu", "prelu", "linear")):
    layers = [{"name": n, "type": "dense", "units": 3 - i % 2, "activation": a}
              for i, (n, a) in enumerate(zip(names, activations))]
    return specs.parse(to_toml({"input": [8, 8, 1], "layer": layers}), "names.toml")


TRIPLES = [HOSTILE_NAMES[i:i + 3] for i in range(0, len(HOSTILE_NAMES) - 2, 3)]


@pytest.mark.slow
@pytest.mark.parametrize("names", TRIPLES, ids="+".join)
def test_hostile_names_build_gradients_check_and_the_sheet(names, tmp_path):
    _exercise(_spec(names), tmp_path)


@pytest.mark.parametrize("names", [("x", "xp", "kl"), ("a-b", "a_b", "eta"), ("L0", "a__b__c")], ids="+".join)
def test_names_once_confused_build_gradients_check_and_the_sheet(names, tmp_path):
    _exercise(_spec(names), tmp_path)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=named_tops())
def test_any_accepted_name_builds_gradients_check_and_the_sheet(data, tmp_path):
    _exercise(specs.parse(to_toml(data), "fuzz.toml"), tmp_path)


def _degenerate(failure: str) -> bool:
    """A refusal the random network itself causes (dead units, a parameter on a kink, rounding on gradients
    of order 1e-9), not its names: a confusion of names gives errors of order one."""
    error = re.search(r"max rel\. error (\d\.\de[-+]\d+)", failure)
    return (failure.startswith("no pair falls in the hinge case") or "cross kinks on both sides" in failure
            or (error is not None and float(error.group(1)) < 1e-6))
