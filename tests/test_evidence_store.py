"""The results the store and docs/evidence hold are checked on load: content hash, then the schema of their kind."""

import json
from pathlib import Path

import pytest

from derive.certify import certificate
from derive.experiments import runner
from derive.runtime import cache

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "evidence"


def _entries(root: Path):
    """Every entry of a store: (kind, key) from its folders."""
    for record in sorted(root.glob("**/result.json")):
        folder = record.parent
        yield str(folder.parent.relative_to(root)), folder.name


def _check(kind: str):
    if kind == "certificate":
        return certificate.valid
    return lambda record: runner.valid_record(record, kind.split("/", 1)[1])


@pytest.mark.skipif(not EVIDENCE.exists(), reason="no docs/evidence in this checkout")
def test_every_entry_of_docs_evidence_passes_its_hash_and_schema():
    found = list(_entries(EVIDENCE))
    assert found
    for kind, key in found:
        assert cache.Entry(EVIDENCE, kind, key).load(_check(kind)) is not None, (kind, key)


def _forge(entry: cache.Entry, payload) -> None:
    """Rewrite an entry's payload with a digest that matches it: what a careful hand edit would do."""
    path = entry.folder / cache.RECORD
    record = json.loads(path.read_text())
    record["payload"] = payload
    record["digest"] = cache._digest(payload, entry.folder, record["files"])
    path.write_text(json.dumps(record))


@pytest.fixture(scope="module")
def loss(tmp_path_factory):
    job = runner.plan("loss", quick=True, cache_dir=tmp_path_factory.mktemp("store"))
    runner.compute(job)
    return job


@pytest.mark.parametrize("change", [
    lambda p: {},
    lambda p: None,
    lambda p: [],
    lambda p: dict(p, conclusion={}),
    lambda p: dict(p, seed="0"),
    lambda p: dict(p, sizes={"steps": 10**9}),
    lambda p: dict(p, experiment="glorot"),
])
def test_an_experiment_entry_of_the_wrong_shape_is_a_miss_then_recomputed(loss, change):
    good = json.loads((loss.directory / cache.RECORD).read_text())["payload"]
    _forge(loss.entry, change(good))
    assert runner.load(loss) is None
    result = runner.run("loss", quick=True, cache_dir=loss.entry.root)
    assert not result.cached and result.conclusion == good["conclusion"]


def test_a_certificate_of_the_wrong_shape_is_refused():
    found = [(k, key) for k, key in _entries(EVIDENCE) if k == "certificate"] if EVIDENCE.exists() else []
    if not found:
        pytest.skip("no stored certificate to start from")
    report = cache.Entry(EVIDENCE, *found[0]).load()
    assert certificate.valid(report)
    broken = [dict(report, hinge_cases={}), dict(report, tensors=[{}]), dict(report, tensors=[]),
              dict(report, training={}), dict(report, failures=["x"]), dict(report, pairs="12"),
              dict(report, tensors=[dict(report["tensors"][0], checked=True)])]
    assert not any(certificate.valid(b) for b in broken)
