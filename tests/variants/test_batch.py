"""Batches of variants: ranges, the key, the same bytes alone or in a batch, refusals before any work."""

import csv
import json
import shutil

import pytest

from derive import count
from derive.errors import DeriveError
from derive.variants import batch, family

FAMILY = family.default_family()
MD = batch.Request(langs=("en",), editions=("student", "teacher"), formats=("md",))


def test_only_reads_numbers_and_ranges_within_the_batch():
    assert batch.parse_only(None, 3) == [1, 2, 3]
    assert batch.parse_only("3, 1-2,2", 5) == [1, 2, 3]
    for bad, message in (
        ("0", "within"),
        ("4-9", "within"),
        ("2-1", "within"),
        ("a", "not a variant"),
        ("", "not a variant"),
        ("1-", "not a variant"),
    ):
        with pytest.raises(DeriveError, match=message):
            batch.parse_only(bad, 5)


def test_a_planned_variant_does_not_depend_on_the_others():
    whole = batch.plan(FAMILY, seed=9, count=12)
    alone = batch.plan(FAMILY, seed=9, count=12, only="7,11")
    assert [v.spec for v in alone] == [whole[6].spec, whole[10].spec]
    assert [v.folder for v in alone] == ["variant-07", "variant-11"]


def test_the_key_row_is_the_count_report():
    v = batch.plan(FAMILY, seed=9, count=3, only="2")[0]
    row, report = batch.key_row(v), count.report(v.spec)
    assert row["total_params"] == report["total_params"] and row["branch_params"] == report["branch_params"]
    for alt in report["alternatives"]:
        key = f"total_{'shared' if alt['shared_weights'] else 'separate'}_{alt['prelu_convention']}"
        assert row[key] == alt["total_params"]
    assert row["shapes"].split("; ")[0] == f"{v.spec.layers[0].name} " + "x".join(
        map(str, report["layers"][0]["output_shape"])
    )


@pytest.mark.slow
def test_a_batch_writes_every_variant_and_the_same_bytes_as_one_built_alone(tmp_path):
    store = shutil.copytree("docs/evidence", tmp_path / "store")  # the reference experiments, stored
    written = batch.build(
        FAMILY, 4, 3, tmp_path / "all", MD, only="1-2", cache_dir=store, workers=2, moodle=tmp_path / "quiz.xml"
    )
    names = {p.relative_to(tmp_path / "all").as_posix() for p in written if (tmp_path / "all") in p.parents}
    for folder in ("variant-01", "variant-02"):
        assert {
            f"{folder}/spec.toml",
            f"{folder}/exam.en.md",
            f"{folder}/corrige.en.md",
            f"{folder}/corrige-teacher.en.md",
            f"{folder}/claims.json",
        } <= names
    rows = list(csv.DictReader((tmp_path / "all" / "key.csv").open()))
    assert [r["variant"] for r in rows] == ["1", "2"]
    index = json.loads((tmp_path / "all" / "variants.json").read_text())
    assert all(v["claims"] == v["claims_hold"] or v["claims"] > 0 for v in index["variants"])
    assert (tmp_path / "quiz.xml").stat().st_size > 0
    batch.build(FAMILY, 4, 3, tmp_path / "one", MD, only="2", cache_dir=store, workers=0)
    for path in (tmp_path / "one" / "variant-02").rglob("*"):
        if path.is_file():
            twin = tmp_path / "all" / "variant-02" / path.relative_to(tmp_path / "one" / "variant-02")
            assert twin.read_bytes() == path.read_bytes(), path.name
    teacher = (tmp_path / "one" / "variant-02" / "corrige-teacher.en.md").read_text()
    assert "reference network" in teacher and "variant-02/spec.toml" in teacher
    student = (tmp_path / "one" / "variant-02" / "corrige.en.md").read_text()
    assert "2019 exam's network" in student
    assert not [word for word in ("spec.toml", "derive/", "certificate", "reference network") if word in student]


def test_bad_requests_are_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DeriveError, match="not a folder"):
        batch.build(FAMILY, 1, 2, blocker, MD, cache_dir=tmp_path / "store", workers=0)
    with pytest.raises(DeriveError, match="is a folder"):
        batch.build(FAMILY, 1, 2, tmp_path / "out", MD, cache_dir=tmp_path / "store", workers=0, moodle=tmp_path)
    with pytest.raises(DeriveError, match="within"):
        batch.build(FAMILY, 1, 2, tmp_path / "out", MD, only="3", cache_dir=tmp_path / "store", workers=0)
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


def test_only_refuses_numbers_of_thousands_of_digits_and_other_scripts_digits():
    for bad in ("9" * 5000, "1-" + "9" * 5000, "\u0663"):
        with pytest.raises(DeriveError, match="not a variant number"):
            batch.parse_only(bad, 5)


def test_a_share_of_a_batch_is_refused_when_the_family_cannot_give_the_whole_batch():
    one = family.parse("conv_layers = [1]\nkernel = [3]\nfilters = [8]\nstride = [4]\npooling = [0]\n"
                       "dense_units = [64]\noutput_units = [10]\nprelu = ['scalar']\nshared_weights = [true]\n",
                       base=family.tomllib.loads(family.default_text()))
    assert len(batch.plan(one, 0, 1)) == 1
    with pytest.raises(DeriveError, match="no new variant 2"):
        batch.plan(one, 0, 2, only="1")


def test_a_variant_this_machine_cannot_certify_is_refused_before_any_work(tmp_path):
    big = family.parse("input = [4096, 4096, 3]\nfilters = [512]\n[limits]\nmax_side = 1024\n"
                       "max_branch_params = 1_000_000_000\n", base=family.tomllib.loads(family.default_text()))
    with pytest.raises(DeriveError, match="variant 01: the certificate of this spec would need"):
        batch.check(big, 0, 1, tmp_path / "out", MD, cache_dir=tmp_path / "store")
    assert not (tmp_path / "out").exists() and not (tmp_path / "store").exists()


@pytest.mark.parametrize("where", ["out", "out/key.csv", "out/variants.json", "out/variant-02/quiz.xml",
                                   "important.txt", "link.xml", "family.toml"])
def test_the_moodle_quiz_never_replaces_the_output_or_another_file(tmp_path, where):
    (tmp_path / "important.txt").write_text("keep me\n")
    (tmp_path / "family.toml").write_text("conv_layers = [4]\n")
    (tmp_path / "link.xml").symlink_to(tmp_path / "important.txt")
    with pytest.raises(DeriveError) as refused:
        batch.check(FAMILY, 1, 2, tmp_path / "out", MD, cache_dir=tmp_path / "store", moodle=tmp_path / where)
    assert "output folder" in str(refused.value) or "not a Moodle quiz" in str(refused.value)
    assert (tmp_path / "important.txt").read_text() == "keep me\n" and not (tmp_path / "out").exists()


def test_the_moodle_quiz_may_replace_a_quiz_or_an_empty_file(tmp_path):
    (tmp_path / "quiz.xml").write_bytes(b"<?xml version='1.0' encoding='UTF-8'?>\n<quiz>\n</quiz>\n")
    (tmp_path / "empty.xml").write_bytes(b"")
    for name in ("quiz.xml", "empty.xml", "new.xml", "out/other.xml"):
        batch.check(FAMILY, 1, 2, tmp_path / "out", MD, cache_dir=tmp_path / "store", moodle=tmp_path / name)


def test_the_batch_never_replaces_its_family_file(tmp_path):
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / batch.INDEX_FILE
    path.write_text("conv_layers = [4]\n")
    with pytest.raises(DeriveError, match="is the input file"):
        batch.check(family.load(path), 1, 2, tmp_path / "out", MD, cache_dir=tmp_path / "store")
    assert path.read_text() == "conv_layers = [4]\n"


@pytest.mark.parametrize("blocker, kind", [("variant-02", "file"), (batch.KEY_FILE, "folder"),
                                           ("variant-02/exam.en.md", "folder"), ("variant-01/figures", "file")])
def test_a_target_the_move_cannot_replace_is_refused_before_any_work(tmp_path, blocker, kind):
    (tmp_path / "out" / "variant-01").mkdir(parents=True)
    (tmp_path / "out" / "variant-02").mkdir()
    if kind == "file":
        shutil.rmtree(tmp_path / "out" / blocker, ignore_errors=True)
        (tmp_path / "out" / blocker).write_text("x")
    else:
        (tmp_path / "out" / blocker).mkdir()
    with pytest.raises(DeriveError, match="exists and is not a"):
        batch.check(FAMILY, 1, 2, tmp_path / "out", MD, cache_dir=tmp_path / "store")
