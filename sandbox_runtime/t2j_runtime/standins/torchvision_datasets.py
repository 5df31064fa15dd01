"""torchvision's MNIST, FashionMNIST, KMNIST, CIFAR10 and CIFAR100 with `download=True` and no network.

Instead of downloading, `download()` writes the stand-in (standins.data) in the real on-disk layout under
`root`: the uncompressed idx files in `<root>/<Class>/raw/` for the MNIST family, the pickled batches in
`<root>/cifar-10-batches-py/` (`cifar-100-python/`) for CIFAR, pickled like the originals (Python 2 `str`
keys, so both `encoding="latin1"` and `encoding="bytes"` readers get what they get from the real files).
Files already there (real data attached to the sample) are used as they are.

CIFAR checks each file's MD5 against the real dataset's; `check_integrity` in torchvision's cifar module
also accepts a file recorded as a stand-in by this box, unchanged since (record.is_standin_file).
"""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np

from t2j_runtime import record
from t2j_runtime.standins import data

_MNIST_NAMES = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist", "KMNIST": "kmnist"}


def _dataset_name(obj, names: dict[str, str]) -> str | None:
    for cls in type(obj).__mro__:
        if cls.__name__ in names and cls.__module__.startswith("torchvision."):
            return names[cls.__name__]
    return None


def _write_atomically(path: str, payload: bytes) -> None:
    partial = f"{path}.t2j-partial"
    with open(partial, "wb") as handle:
        handle.write(payload)
    os.replace(partial, path)


# --- MNIST family ----------------------------------------------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    """The idx format of LeCun's files: magic (0, 0, type 0x08 = uint8, ndim), big-endian int32 sizes, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(name: str, raw_folder: str) -> list[str]:
    """Write the four uncompressed idx files of stand-in `name` into `raw_folder`; return their paths."""
    os.makedirs(raw_folder, exist_ok=True)
    written = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = data.arrays(name, split)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels.astype(np.uint8))):
            path = os.path.join(raw_folder, f"{prefix}-{kind}")
            _write_atomically(path, _idx(array))
            written.append(path)
    return written


def _mnist_download(original):
    def download(self) -> None:
        name = _dataset_name(self, _MNIST_NAMES)
        if name is None or self._check_exists():
            return original(self)
        files = write_mnist(name, self.raw_folder)
        _announce(name, self.raw_folder, files)

    download.__wrapped__ = original
    return download


# --- CIFAR -----------------------------------------------------------------------------------------------


class _Py2Str(bytes):
    """Bytes pickled as a Python 2 `str`, as in the original CIFAR files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        size = len(obj)
        if size < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([size]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", size) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2_str


def _py2(value):
    if isinstance(value, str):
        return _Py2Str(value.encode("latin1"))
    if isinstance(value, dict):
        return {_py2(k): _py2(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_py2(v) for v in value]
    return value


def _pickle_py2(value) -> bytes:
    import io

    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(_py2(value))
    return buffer.getvalue()


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) images -> the files' (N, 3072) rows: all red values, then green, then blue."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def write_cifar(name: str, folder: str, train_files: list[str], test_files: list[str], meta_file: str) -> list[str]:
    """Write the pickled batches of stand-in `name` (cifar10 or cifar100) into `folder`; return their paths."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for split, files in (("train", train_files), ("test", test_files)):
        images, labels = data.arrays(name, split)
        rows = _cifar_rows(images)
        start = 0
        for file_name, indices in zip(files, np.array_split(np.arange(len(labels)), len(files)), strict=True):
            batch = {
                "batch_label": f"{split} batch (t2j stand-in)",
                "data": rows[indices],
                "filenames": [f"standin_{split}_{start + i:05d}.png" for i in range(len(indices))],
            }
            if name == "cifar100":
                batch["fine_labels"] = labels[indices].tolist()
                batch["coarse_labels"] = data.coarse_labels(name, labels[indices]).tolist()
            else:
                batch["labels"] = labels[indices].tolist()
            start += len(indices)
            path = os.path.join(folder, file_name)
            _write_atomically(path, _pickle_py2(batch))
            written.append(path)
    if name == "cifar100":
        coarse = [f"superclass_{i:02d}" for i in range(data.SPECS[name].coarse_classes)]
        meta = {"fine_label_names": data.class_names(name), "coarse_label_names": coarse}
    else:
        meta = {"label_names": data.class_names(name), "num_cases_per_batch": 10000, "num_vis": 3072}
    path = os.path.join(folder, meta_file)
    _write_atomically(path, _pickle_py2(meta))
    written.append(path)
    return written


def _cifar_download(original):
    def download(self) -> None:
        name = _dataset_name(self, {"CIFAR10": "cifar10", "CIFAR100": "cifar100"})
        if name is None or self._check_integrity():
            return original(self)
        folder = os.path.join(self.root, self.base_folder)
        files = write_cifar(
            name, folder, [f for f, _ in self.train_list], [f for f, _ in self.test_list], self.meta["filename"]
        )
        _announce(name, folder, files)

    download.__wrapped__ = original
    return download


def _check_integrity_or_standin(original):
    def check_integrity(fpath, md5=None) -> bool:
        return original(fpath, md5) or (md5 is not None and record.is_standin_file(fpath))

    check_integrity.__wrapped__ = original
    return check_integrity


def _announce(name: str, folder: str, files: list[str]) -> None:
    spec = data.SPECS[name]
    train, test = data.count_for(name, "train"), data.count_for(name, "test")
    record.standin(
        f"torchvision.datasets.{spec.title}",
        f"torchvision {spec.title}: {train} train / {test} test synthetic images with {spec.classes} classes "
        f"(the sandbox has no network; same data as tfds '{name}') in {folder}",
        files=files,
        dataset=name,
        train_examples=train,
        test_examples=test,
    )


# --- hooks (t2j_runtime.hooks calls these when the modules are first imported) ---------------------------


def patch_mnist(module) -> None:
    module.MNIST.download = _mnist_download(module.MNIST.download)


def patch_cifar(module) -> None:
    module.CIFAR10.download = _cifar_download(module.CIFAR10.download)
    module.check_integrity = _check_integrity_or_standin(module.check_integrity)
