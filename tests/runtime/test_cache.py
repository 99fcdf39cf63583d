"""The one result store: keys follow what a result depends on; a damaged or edited entry is a miss."""

import json

import pytest

from derive import spec
from derive.runtime import cache, workers


def demo(root):
    return cache.Entry(root, "demo", cache.key("demo", "derive.spec", spec=spec.default_spec(), seed=0))


def test_an_entry_is_reused_until_its_key_changes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": 0.1 + 0.2, "items": (1, 2)}

    entry = demo(tmp_path)
    first = entry.get(compute)
    assert entry.get(compute) == first == {"value": 0.1 + 0.2, "items": [1, 2]} and len(calls) == 1
    net = spec.default_spec()
    base = cache.key("demo", "derive.spec", spec=net, seed=0)
    assert cache.key("demo", "derive.spec", spec=net, seed=1) != base
    assert cache.key("demo", "derive.spec", spec=net.with_options(shared=True), seed=0) != base
    assert cache.key("other", "derive.spec", spec=net, seed=0) != base
    assert cache.key("demo", "derive.prose", spec=net, seed=0) != base  # other code


def test_the_key_follows_the_code_the_certificate_runs():
    used = cache.closure(["derive.certify.certificate"])
    assert {"derive.certify.certificate", "derive.symbolic.derivation", "derive.engine.network"} <= set(used)
    assert not {"derive.sheet.build", "derive.sheet.render", "derive.sheet.document"} & set(used)
    assert cache.code_version(used) != cache.code_version(["derive.spec"])


def _tamper(entry, change):
    path = entry.folder / cache.RECORD
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.mark.parametrize("change", [
    lambda r: r["payload"].update(value=42),          # an edited number
    lambda r: r.update(key="0" * 16),                 # another entry's record
    lambda r: r.update(files=["../../escape.png"]),   # a path out of the entry
    lambda r: r.clear(),                              # valid JSON of the wrong shape
])
def test_an_edited_record_is_a_miss_and_is_recomputed(tmp_path, change):
    entry = demo(tmp_path)
    entry.get(lambda: {"value": 1})
    _tamper(entry, change)
    assert entry.load() is None
    assert entry.get(lambda: {"value": 2}) == {"value": 2} and entry.load() == {"value": 2}


@pytest.mark.parametrize("text", ["{broken", "null", "[]", "{}", "\udcff"])
def test_a_damaged_record_is_a_miss(tmp_path, text):
    entry = demo(tmp_path)
    entry.folder.mkdir(parents=True)
    (entry.folder / cache.RECORD).write_text(text, encoding="utf-8", errors="surrogateescape")
    assert entry.load() is None and entry.get(lambda: [3]) == [3]


def test_an_edited_file_is_a_miss(tmp_path):
    entry = demo(tmp_path)
    entry.store({"v": 1}, {"figure.png": lambda path: path.write_bytes(b"\x89PNG one")})
    assert entry.load() == {"v": 1} and [p.name for p in entry.files()] == ["figure.png"]
    (entry.folder / "figure.png").write_bytes(b"\x89PNG two")
    assert entry.load() is None


def test_a_payload_check_refuses_the_wrong_shape(tmp_path):
    entry = demo(tmp_path)
    entry.store({"v": 1})
    assert entry.load(lambda p: isinstance(p["v"], int)) == {"v": 1}
    assert entry.load(lambda p: p["missing"]) is None


def test_a_worker_fills_the_store_that_this_process_reads(tmp_path):
    entry = demo(tmp_path)
    assert entry.load() is None
    with workers.Pool(1) as pool:
        pool.submit(cache.fill, entry, sorted, [3, 1, 2], reverse=True).result()
    assert entry.get(lambda: pytest.fail("recomputed")) == [3, 2, 1]
