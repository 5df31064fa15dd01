"""torchvision's pretrained weights with no network: deterministic random tensors in the real file.

`torch.hub.load_state_dict_from_url` (which `resnet18(pretrained=True)` and `weights=...` go through)
downloads into `$TORCH_HOME/hub/checkpoints/<the real file name>` only when that file is missing, by
calling `torch.hub.download_url_to_file`. The replacement below writes, for a URL of one of torchvision's
registered weights, the state dict of that architecture freshly initialised from a seed derived from the
file name (so every box writes the same tensors) and records the stand-in; torchvision then loads it as
if downloaded. Any other URL fails at once with a message that names the missing network.
"""

from __future__ import annotations

import os
import zlib

from t2j_runtime import record


class NoNetwork(RuntimeError):
    """A download was asked for and no stand-in exists for it."""


def _find_weights(url: str):
    """(model name, weights entry) of torchvision's registered weights published at `url`, or None."""
    from torchvision.models import get_model_weights, list_models

    for name in list_models():
        if name.startswith("quantized_"):  # their state dicts need the quantised weights themselves
            continue
        try:
            entries = list(get_model_weights(name))
        except (ValueError, KeyError):
            continue
        for entry in entries:
            if entry.url == url:
                return name, entry
    return None


def standin_state_dict(url: str):
    """The stand-in state dict for a torchvision weights URL (seeded by its file name), or None."""
    import torch
    from torchvision.models import get_model

    found = _find_weights(url)
    if found is None:
        return None
    name, entry = found
    config = {}
    categories = entry.meta.get("categories")
    if categories:
        config["num_classes"] = len(categories)
    seed = zlib.crc32(os.path.basename(url).encode("utf-8"))
    with torch.random.fork_rng(devices=[]):  # the program's own random stream stays untouched
        torch.manual_seed(seed)
        model = get_model(name, weights=None, **config)
    return name, model.state_dict()


def _download_url_to_file(original):
    def download_url_to_file(url, dst, hash_prefix=None, progress=True) -> None:
        import torch

        found = standin_state_dict(url)
        if found is None:
            raise NoNetwork(
                f"cannot download {url}: the sandbox has no network (offline stand-ins exist for "
                "torchvision's pretrained weights and the MNIST, FashionMNIST, KMNIST, CIFAR10 and CIFAR100 datasets)"
            )
        name, state = found
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        partial = f"{dst}.t2j-partial"
        torch.save(state, partial)
        os.replace(partial, dst)
        record.standin(
            "torchvision pretrained weights",
            f"pretrained weights of {name}: deterministic random tensors (the sandbox has no network) in {dst}",
            files=[dst],
            model=name,
            url=url,
        )

    download_url_to_file.__wrapped__ = original
    return download_url_to_file


def _load_state_dict_from_url(original, hub):
    import inspect
    from urllib.parse import urlparse

    signature = inspect.signature(original)

    def load_state_dict_from_url(*args, **kwargs):
        # torch.hub prints 'Downloading: "<url>"' before it asks for a missing file, which reads as if the run
        # used the network: the stand-in is written first, so torch.hub finds the file and says nothing.
        bound = signature.bind(*args, **kwargs)
        url = bound.arguments["url"]
        folder = bound.arguments.get("model_dir") or os.path.join(hub.get_dir(), "checkpoints")
        target = os.path.join(folder, bound.arguments.get("file_name") or os.path.basename(urlparse(url).path))
        if not os.path.exists(target):
            hub.download_url_to_file(url, target)
        return original(*args, **kwargs)

    load_state_dict_from_url.__wrapped__ = original
    return load_state_dict_from_url


def patch_hub(module) -> None:
    """Hook for `torch.hub`."""
    module.download_url_to_file = _download_url_to_file(module.download_url_to_file)
    module.load_state_dict_from_url = _load_state_dict_from_url(module.load_state_dict_from_url, module)
