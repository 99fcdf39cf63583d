"""Shapeset generator, CIFAR-10 loader and pair sampling."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from derive.engine import data
from derive.errors import DeriveError


def test_shapeset_shapes_range_and_classes():
    x, y = data.shapeset(900, seed=0)
    assert x.shape == (900, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    counts = np.bincount(y, minlength=9)
    assert len(counts) == 9 and counts.min() > 60  # the nine classes, roughly balanced
    assert len(data.CLASS_NAMES) == 9 and len(set(data.CLASS_NAMES)) == 9
    g, yg = data.shapeset(5, seed=0, color=False, size=20)
    assert g.shape == (5, 20, 20, 1)


def test_shapeset_is_deterministic_by_seed():
    a, la = data.shapeset(50, seed=4)
    b, lb = data.shapeset(50, seed=4)
    c, _ = data.shapeset(50, seed=5)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


def foreground_area(img):
    """Pixels clearly lighter than the darkest background colour allows."""
    return int((img.max(axis=-1) > data.BACKGROUND[1] + 0.1).sum())


def test_two_shape_images_show_more_than_one_shape():
    x, y = data.shapeset(600, seed=1, color=False)
    single = np.array([len(data.CLASSES[k]) == 1 for k in y])
    area = np.array([foreground_area(im) for im in x])
    assert area.min() >= data.MIN_AREA / 2  # every image shows a shape
    assert np.median(area[~single]) > 1.4 * np.median(area[single])  # two shapes cover more


def test_ellipses_are_rounder_than_triangles():
    """Shape kinds differ in a simple way: filled area over the area of the bounding box."""
    x, y = data.shapeset(900, seed=2, color=False)
    fill = {}
    for k, name in enumerate(data.CLASS_NAMES[:3]):
        ratios = []
        for im in x[y == k]:
            mask = im[..., 0] > data.BACKGROUND[1] + 0.1
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            ratios.append(mask.sum() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)))
        fill[name] = np.median(ratios)
    assert fill["triangle"] < fill["ellipse"]


def write_batch(path, n=12, protocol=2, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"test", b"labels": labels, b"data": raw, b"filenames": [b"x"] * n}, f,
                    protocol=protocol)
    return raw, labels


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_loader_reads_a_python_batch(tmp_path, protocol):
    raw, labels = write_batch(tmp_path / "data_batch_1", protocol=protocol)
    x, y = data.load_cifar10(tmp_path / "data_batch_1")
    assert x.shape == (12, 32, 32, 3) and x.dtype == np.float32
    assert list(y) == labels
    # pixel (row 3, col 5) of image 2: red at 3·32 + 5, green 1024 further, blue 2048 further
    k = 3 * 32 + 5
    np.testing.assert_allclose(x[2, 3, 5], raw[2, [k, 1024 + k, 2048 + k]] / 255, rtol=1e-6)


def test_cifar_loader_reads_a_directory(tmp_path):
    write_batch(tmp_path / "data_batch_1", n=5, seed=1)
    write_batch(tmp_path / "data_batch_2", n=7, seed=2)
    write_batch(tmp_path / "test_batch", n=3, seed=3)
    assert len(data.load_cifar10(tmp_path)[0]) == 12
    assert len(data.load_cifar10(tmp_path, split="test")[0]) == 3
    sub = tmp_path / "outer"
    (sub / "cifar-10-batches-py").mkdir(parents=True)
    write_batch(sub / "cifar-10-batches-py" / "data_batch_3", n=4)
    assert len(data.load_cifar10(sub)[0]) == 4


def test_cifar_loader_errors(tmp_path):
    with pytest.raises(DeriveError, match="no such"):
        data.load_cifar10(tmp_path / "missing")
    with pytest.raises(DeriveError, match="no CIFAR-10 batch"):
        data.load_cifar10(tmp_path)
    (tmp_path / "junk").write_bytes(b"\x80\x04this is not a pickle")
    with pytest.raises(DeriveError, match="not a CIFAR-10 python batch"):
        data.load_cifar10(tmp_path / "junk")
    with open(tmp_path / "list", "wb") as f:
        pickle.dump([1, 2, 3], f)
    with pytest.raises(DeriveError, match="expected a dict"):
        data.load_cifar10(tmp_path / "list")
    with open(tmp_path / "short", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DeriveError, match="3072"):
        data.load_cifar10(tmp_path / "short")
    with open(tmp_path / "labels", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(DeriveError, match="labels"):
        data.load_cifar10(tmp_path / "labels")
    with open(tmp_path / "hostile", "wb") as f:
        pickle.dump({b"data": print}, f)  # a reference to a callable: refused, never resolved
    with pytest.raises(DeriveError, match="unexpected object"):
        data.load_cifar10(tmp_path / "hostile")


def test_pairs_have_the_requested_share_and_correct_labels():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), [1, 3, 4, 10, 2])
    i, j, l = data.pair_indices(labels, 1000, same_share=0.3, rng=rng)
    assert (l == 0).sum() == 300
    assert np.all((labels[i] == labels[j]) == (l == 0))
    assert np.all(i[l == 0] != j[l == 0])  # a same-label pair never pairs an image with itself
    assert set(labels[i[l == 0]]) == {1, 2, 3, 4}  # class 0 has a single image
    assert set(j[l == 1]) == set(range(len(labels)))  # every image serves as a different partner
    images = np.arange(len(labels), dtype=float)[:, None, None, None]
    x1, x2, l2 = data.pairs(images, labels, 10, same_share=1.0, rng=np.random.default_rng(1))
    assert np.all(labels[x1[:, 0, 0, 0].astype(int)] == labels[x2[:, 0, 0, 0].astype(int)]) and not l2.any()


def test_pairs_deterministic_and_errors():
    labels = np.array([0, 0, 1, 1, 2])
    a = data.pair_indices(labels, 20, same_share=0.5, rng=np.random.default_rng(3))
    b = data.pair_indices(labels, 20, same_share=0.5, rng=np.random.default_rng(3))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    with pytest.raises(DeriveError, match="at least two images"):
        data.pair_indices(np.arange(4), 4, same_share=0.5, rng=np.random.default_rng(0))
    with pytest.raises(DeriveError, match="two classes"):
        data.pair_indices(np.zeros(4, int), 4, same_share=0.5, rng=np.random.default_rng(0))
    with pytest.raises(DeriveError, match="share"):
        data.pair_indices(labels, 4, same_share=1.5, rng=np.random.default_rng(0))


def test_data_source_parsing(tmp_path):
    assert data.parse_data("shapeset") == data.DataSource("shapeset")
    assert data.parse_data("shapeset").key() == ["shapeset"]
    source = data.parse_data(f"cifar10:{tmp_path}")
    assert source.kind == "cifar10" and source.path == tmp_path and source.label() == f"cifar10:{tmp_path}"
    assert data.parse_data(source) is source
    before = source.key()
    (tmp_path / "data_batch_1").write_bytes(b"x")
    assert source.key() != before  # a new batch file is new content
    for text, message in (("mnist", "unknown data source"), ("shapeset:x", "takes no path"),
                          ("cifar10:", "needs a path"), (f"cifar10:{tmp_path / 'none'}", "no such CIFAR-10")):
        with pytest.raises(DeriveError, match=message):
            data.parse_data(text)


def test_labelled_images_by_split(tmp_path):
    x, y = data.labelled_images("shapeset", 20, 3)
    xt, _ = data.labelled_images("shapeset", 20, 3, "test")
    assert x.shape == (20, 32, 32, 3) and np.array_equal(x, data.shapeset(20, seed=3)[0])
    assert not np.array_equal(x, xt)  # held-out images are another draw
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (30, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(30)]}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch))
    a, la = data.labelled_images(f"cifar10:{tmp_path}", 12, 0)
    full, lfull = data.load_cifar10(tmp_path)
    rows = [int(np.flatnonzero((full == img).all(axis=(1, 2, 3)))[0]) for img in a]
    # n distinct images, in file order
    assert rows == sorted(rows) and len(set(rows)) == 12 and np.array_equal(la, lfull[rows])
    with pytest.raises(DeriveError, match="30 train images, 31 are needed"):
        data.labelled_images(f"cifar10:{tmp_path}", 31, 0)
    with pytest.raises(DeriveError, match="unknown split"):
        data.labelled_images("shapeset", 2, 0, "validation")


def test_labelled_images_take_the_spec_input_shape(tmp_path):
    x, y = data.labelled_images("shapeset", 6, 2, shape=(28, 28, 1))
    assert x.shape == (6, 28, 28, 1) and np.array_equal(x, data.shapeset(6, seed=2, size=28, color=False)[0])
    for shape, message in (((20, 24, 3), "square"), ((8, 8, 2), "grey or colour"), ((4, 4, 3), "8 or more")):
        with pytest.raises(DeriveError, match=message):
            data.labelled_images("shapeset", 2, 0, shape=shape)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4}))
    with pytest.raises(DeriveError, match="CIFAR-10 images are 32x32x3, the spec's input is 28x28x1"):
        data.labelled_images(f"cifar10:{tmp_path}", 2, 0, shape=(28, 28, 1))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_cifar10_refuses_fifos_devices_and_oversized_files(tmp_path):
    fifo = tmp_path / "batch.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(DeriveError, match="not a folder nor a regular file"):
            data.parse_data(f"cifar10:{path}")
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").symlink_to("/dev/zero")
    with pytest.raises(DeriveError, match="no CIFAR-10 batch"):
        data.load_cifar10(folder)
    huge = tmp_path / "data_batch_2"
    with open(huge, "wb") as f:
        f.truncate(data.MAX_BATCH_BYTES + 1)  # sparse: no disk used
    with pytest.raises(DeriveError, match="larger than the"):
        data.load_cifar10(huge)
