"""The stand-in data and its files in the real layouts (t2j_runtime.standins, .record), without torchvision.

torchvision and tfds reading these files in the box are tested through the real sandbox
(test_runtime_sandbox.py); here the bytes on disk are checked against the formats' own definitions.
"""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from t2j_runtime import record
from t2j_runtime.standins import data
from t2j_runtime.standins.torchvision_datasets import write_cifar, write_mnist


@pytest.fixture(autouse=True)
def _output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("T2J_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.delenv("T2J_STANDIN_TRAIN_EXAMPLES", raising=False)
    monkeypatch.delenv("T2J_STANDIN_TEST_EXAMPLES", raising=False)


@pytest.mark.parametrize(("name", "shape", "classes"), [("mnist", (28, 28), 10), ("cifar100", (32, 32, 3), 100)])
def test_stand_in_has_the_real_shapes_dtypes_and_balanced_classes(name, shape, classes):
    images, labels = data.arrays(name, "train")

    assert images.shape == (256, *shape) and images.dtype == np.uint8
    assert labels.shape == (256,) and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=classes)
    assert counts.max() - counts.min() <= 1 and len(counts) == classes


def test_same_split_gives_the_same_examples_in_the_same_order_and_splits_differ():
    first, again = data.arrays("cifar10", "test"), data.arrays("cifar10", "test")

    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(data.arrays("cifar10", "train")[0][:64], first[0])


def test_a_class_is_recognisable_so_training_on_a_stand_in_can_learn():
    # Nearest class mean (from train) classifies the test split far better than chance (10%).
    train_x, train_y = data.arrays("mnist", "train")
    test_x, test_y = data.arrays("mnist", "test")
    means = np.stack([train_x[train_y == c].mean(0) for c in range(10)]).reshape(10, -1)
    distances = ((test_x.reshape(len(test_x), 1, -1) - means[None]) ** 2).sum(-1)
    assert (distances.argmin(1) == test_y).mean() > 0.9


def test_example_count_comes_from_the_environment_capped_at_the_real_size(monkeypatch):
    monkeypatch.setenv("T2J_STANDIN_TRAIN_EXAMPLES", "1000")
    monkeypatch.setenv("T2J_STANDIN_TEST_EXAMPLES", "99999")

    assert data.arrays("mnist", "train")[0].shape[0] == 1000
    assert data.count_for("mnist", "test") == 10000

    monkeypatch.setenv("T2J_STANDIN_TRAIN_EXAMPLES", "lots")
    with pytest.raises(ValueError, match="T2J_STANDIN_TRAIN_EXAMPLES must be a positive whole number"):
        data.arrays("mnist", "train")


def _read_idx(path):
    raw = path.read_bytes()
    zero, kind, ndim = struct.unpack(">HBB", raw[:4])
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    return zero, kind, np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(shape)


def test_mnist_files_are_lecuns_idx_format(tmp_path):
    write_mnist("mnist", str(tmp_path / "MNIST" / "raw"))

    zero, kind, images = _read_idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte")
    _, _, labels = _read_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte")
    assert (zero, kind) == (0, 0x08)
    assert np.array_equal(images, data.arrays("mnist", "train")[0])
    assert np.array_equal(labels, data.arrays("mnist", "test")[1])


def test_cifar_files_unpickle_like_the_originals_for_latin1_and_bytes_readers(tmp_path):
    train = [f"data_batch_{i}" for i in range(1, 6)]
    write_cifar("cifar10", str(tmp_path), train, ["test_batch"], "batches.meta")

    with open(tmp_path / "data_batch_1", "rb") as handle:
        as_text = pickle.load(handle, encoding="latin1")  # how torchvision reads them
    with open(tmp_path / "data_batch_1", "rb") as handle:
        as_bytes = pickle.load(handle, encoding="bytes")  # how the CIFAR page's snippet reads them
    with open(tmp_path / "batches.meta", "rb") as handle:
        meta = pickle.load(handle, encoding="latin1")

    assert sorted(as_text) == ["batch_label", "data", "filenames", "labels"]
    assert sorted(as_bytes) == [b"batch_label", b"data", b"filenames", b"labels"]
    rows = np.concatenate([pickle.load(open(tmp_path / f, "rb"), encoding="latin1")["data"] for f in train])
    images, labels = data.arrays("cifar10", "train")
    assert rows.shape == (256, 3072) and rows.dtype == np.uint8
    assert np.array_equal(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), images)  # torchvision's own reshape
    assert as_text["labels"] == labels[: len(as_text["labels"])].tolist()
    assert meta["label_names"][:2] == ["airplane", "automobile"]


def test_cifar100_files_carry_fine_and_coarse_labels(tmp_path):
    write_cifar("cifar100", str(tmp_path), ["train"], ["test"], "meta")

    test = pickle.load(open(tmp_path / "test", "rb"), encoding="latin1")
    meta = pickle.load(open(tmp_path / "meta", "rb"), encoding="latin1")

    assert max(test["fine_labels"]) < 100 and max(test["coarse_labels"]) < 20
    assert len(meta["fine_label_names"]) == 100 and len(meta["coarse_label_names"]) == 20


def test_a_recorded_stand_in_file_passes_the_integrity_check_until_it_changes(tmp_path, capsys):
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"stand-in")
    other = tmp_path / "real_file"
    other.write_bytes(b"real")

    record.standin("torchvision.datasets.CIFAR10", "CIFAR10 stand-in", files=[str(path)], dataset="cifar10")

    assert record.is_standin_file(str(path)) and not record.is_standin_file(str(other))
    path.write_bytes(b"changed")
    assert not record.is_standin_file(str(path))
    assert capsys.readouterr().err == "[t2j] stand-in: CIFAR10 stand-in\n"
    (event,) = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert event["kind"] == "standin" and event["dataset"] == "cifar10" and str(path) in event["files"]
