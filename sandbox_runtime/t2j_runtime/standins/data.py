"""Deterministic synthetic stand-ins for the standard image-classification datasets (no network in the box).

`arrays(name, split)` gives the same images and labels, in the same order, in every process and box, so
the PyTorch program (through torchvision) and the JAX program (through tfds or torchvision) of a sample
see identical data. Each class has its own coarse pattern under per-image noise, so a model can learn
something and test accuracy means what it usually does.

The example count per split comes from T2J_STANDIN_TRAIN_EXAMPLES (default 256) and
T2J_STANDIN_TEST_EXAMPLES (default 64), capped at the real dataset's size.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import numpy as np

DEFAULT_COUNTS = {"train": 256, "test": 64}
CHUNK = 4096  # images generated at a time, to keep memory flat for large counts
BLOCK = 4  # pixels per cell of a class pattern


@dataclass(frozen=True)
class Spec:
    title: str
    shape: tuple[int, ...]  # one image: (H, W) or (H, W, C)
    classes: int
    real_sizes: dict  # split -> examples in the real dataset
    coarse_classes: int = 0  # CIFAR-100's superclasses


_MNIST_SIZES = {"train": 60000, "test": 10000}
_CIFAR_SIZES = {"train": 50000, "test": 10000}
SPECS = {
    "mnist": Spec("MNIST", (28, 28), 10, _MNIST_SIZES),
    "fashion_mnist": Spec("FashionMNIST", (28, 28), 10, _MNIST_SIZES),
    "kmnist": Spec("KMNIST", (28, 28), 10, _MNIST_SIZES),
    "cifar10": Spec("CIFAR10", (32, 32, 3), 10, _CIFAR_SIZES),
    "cifar100": Spec("CIFAR100", (32, 32, 3), 100, _CIFAR_SIZES, coarse_classes=20),
}


def example_count(split: str) -> int:
    """Examples in a stand-in split (`train` or `test`). Raises ValueError for a bad environment setting."""
    variable = f"T2J_STANDIN_{split.upper()}_EXAMPLES"
    raw = os.environ.get(variable, "")
    if not raw:
        return DEFAULT_COUNTS[split]
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count <= 0:
        raise ValueError(f"{variable} must be a positive whole number, got {raw!r}")
    return count


def count_for(name: str, split: str) -> int:
    return min(example_count(split), SPECS[name].real_sizes[split])


def _seed(*parts: str) -> int:
    return zlib.crc32(":".join(("t2j-standin", *parts)).encode("utf-8"))


def _patterns(name: str, spec: Spec) -> np.ndarray:
    """One coarse uint8 pattern per class, shape (classes, *spec.shape), shared by the train and test split."""
    rng = np.random.default_rng(_seed(name, "patterns"))
    height, width = spec.shape[:2]
    cells = rng.integers(0, 256, (spec.classes, height // BLOCK, width // BLOCK, *spec.shape[2:]), dtype=np.uint8)
    return cells.repeat(BLOCK, axis=1).repeat(BLOCK, axis=2)


def arrays(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a stand-in split.

    images: uint8, shape (N, H, W) for the MNIST family, (N, H, W, C) for CIFAR; labels: int64, shape (N,),
    balanced over the classes in a fixed shuffled order. Raises KeyError for an unknown dataset or split.
    """
    spec = SPECS[name]
    count = count_for(name, split)
    patterns = _patterns(name, spec).astype(np.uint16)
    rng = np.random.default_rng(_seed(name, split))
    labels = rng.permutation(np.arange(count) % spec.classes).astype(np.int64)
    images = np.empty((count, *spec.shape), dtype=np.uint8)
    for start in range(0, count, CHUNK):
        chosen = labels[start : start + CHUNK]
        noise = rng.integers(0, 256, (len(chosen), *spec.shape), dtype=np.uint16)
        images[start : start + CHUNK] = (6 * patterns[chosen] + 4 * noise) // 10
    return images, labels


def coarse_labels(name: str, labels: np.ndarray) -> np.ndarray:
    """CIFAR-100's superclass of each fine label (five consecutive fine classes per superclass)."""
    spec = SPECS[name]
    return labels // (spec.classes // spec.coarse_classes)


def class_names(name: str) -> list[str]:
    """The class names a stand-in reports: the real ones where they are common knowledge, else numbered."""
    if name == "cifar10":
        return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    return [f"class_{i:02d}" for i in range(SPECS[name].classes)]
