"""`tfds.load` / `tfds.builder` with no network: `tfds.testing.mock_data` fed with the stand-in arrays.

On the first `tfds.load`, `tfds.builder` or `tfds.data_source` of the process, tfds is put in mock mode
for good (downloads and preparation become no-ops, data comes from code, not files). mnist,
fashion_mnist, kmnist, cifar10 and cifar100 then read the same arrays as the torchvision stand-ins
(standins.data), in the same order, with their real feature keys, shapes and dtypes, split slicing
(`train[:80%]`) and `info.splits[...].num_examples`; any other dataset gets tfds's own random examples
of its features. Each use is recorded (t2j_runtime.record).
"""

from __future__ import annotations

import functools

from t2j_runtime import record
from t2j_runtime.standins import data

STANDINS = ("mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100")
_state = {"mock": None, "announced": set()}


def _split_infos(name: str) -> dict:
    from tensorflow_datasets.core import splits

    return {
        split: splits.SplitInfo(name=split, shard_lengths=[data.count_for(name, split)], num_bytes=0)
        for split in ("train", "test")
    }


def _arrays_for(name: str, split) -> dict:
    """The stand-in examples selected by a split spec (`train`, `test[:10%]`, `train+test`, ...)."""
    import numpy as np
    from tensorflow_datasets.core import splits

    parts = {"image": [], "label": [], "id": []}
    for instruction in splits.AbstractSplit.from_spec(split).to_absolute(_split_infos(name)):
        images, labels = data.arrays(name, instruction.splitname)
        chosen = slice(instruction.from_, instruction.to)
        if images.ndim == 3:  # tfds keeps the channel axis of grey images: (28, 28, 1)
            images = images[..., None]
        parts["image"].append(images[chosen])
        parts["label"].append(labels[chosen])
        start = instruction.from_ or 0
        parts["id"] += [f"{instruction.splitname}_{start + i:05d}" for i in range(len(labels[chosen]))]
    examples = {"image": np.concatenate(parts["image"]), "label": np.concatenate(parts["label"])}
    examples["id"] = np.array(parts["id"], dtype=object)
    if name == "cifar100":
        examples["coarse_label"] = data.coarse_labels(name, examples["label"])
    return examples


def _announce(name: str, split, standin: bool) -> None:
    key = (name, str(split))
    if key in _state["announced"]:
        return
    _state["announced"].add(key)
    if standin:
        spec = data.SPECS[name]
        message = (
            f"tfds '{name}' split {split}: synthetic {spec.title} images with {spec.classes} classes "
            f"({data.count_for(name, 'train')} train / {data.count_for(name, 'test')} test; the sandbox has "
            "no network; same data as the torchvision stand-in)"
        )
    else:
        message = f"tfds '{name}' split {split}: random examples of its features (the sandbox has no network)"
    record.standin("tensorflow_datasets", message, dataset=name, split=str(split), synthetic=standin)


def _as_dataset(random_as_dataset):
    def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False, **kwargs):
        import tensorflow as tf

        if self.name not in STANDINS:
            _announce(self.name, split, standin=False)
            return random_as_dataset(self, split, decoders=decoders, read_config=read_config, **kwargs)
        _announce(self.name, split, standin=True)
        examples = _arrays_for(self.name, split)
        wanted = {key: value for key, value in examples.items() if key in self.info.features.keys()}
        return tf.data.Dataset.from_tensor_slices(wanted)

    return as_dataset


def _with_splits(original_init):
    @functools.wraps(original_init)
    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if self.name in STANDINS:  # `info.splits["train"].num_examples` as the stand-in has them
            from tensorflow_datasets.core import splits

            self.info.set_splits(splits.SplitDict(list(_split_infos(self.name).values())))

    return init


def _ensure_mocked() -> None:
    if _state["mock"] is not None:
        return
    from tensorflow_datasets.core import dataset_builder
    from tensorflow_datasets.testing import mocking

    # Entered and never left; kept referenced, or collecting the generator would undo its patches.
    _state["mock"] = mocking.mock_data(num_examples=data.example_count("train"), policy=mocking.MockPolicy.USE_CODE)
    _state["mock"].__enter__()
    builder = dataset_builder.FileReaderBuilder
    builder._as_dataset = _as_dataset(builder._as_dataset)
    dataset_builder.DatasetBuilder.__init__ = _with_splits(dataset_builder.DatasetBuilder.__init__)


def _mocked_first(function):
    @functools.wraps(function)
    def call(*args, **kwargs):
        _ensure_mocked()
        return function(*args, **kwargs)

    return call


def patch_tfds(module) -> None:
    """Hook for `tensorflow_datasets`."""
    for name in ("load", "builder", "data_source"):
        if hasattr(module, name):
            setattr(module, name, _mocked_first(getattr(module, name)))
