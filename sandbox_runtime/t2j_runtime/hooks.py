"""Post-import hooks: patch a module right after it is first imported, without importing it earlier.

A finder put first on `sys.meta_path` answers only for the watched names: it asks the other finders for
the module's real spec and wraps that spec's own loader's `exec_module`, so the hook runs once the
module's code has run and before the importer gets it. Nothing heavy (torch, tensorflow) is imported by
installing the hooks; a program that never imports a watched module never pays for them.
"""

from __future__ import annotations

import importlib
import sys

# module name -> "package.module:function" called with the freshly executed module
HOOKS = {
    "torch.hub": "t2j_runtime.standins.weights:patch_hub",
    "torchvision.datasets.mnist": "t2j_runtime.standins.torchvision_datasets:patch_mnist",
    "torchvision.datasets.cifar": "t2j_runtime.standins.torchvision_datasets:patch_cifar",
    "tensorflow_datasets": "t2j_runtime.standins.tfds:patch_tfds",
    "matplotlib.figure": "t2j_runtime.plots:patch_figure",
    "matplotlib.pyplot": "t2j_runtime.plots:patch_pyplot",
}


def _run_hook(target: str, module) -> None:
    where, _, function = target.partition(":")
    try:
        getattr(importlib.import_module(where), function)(module)
    except Exception as exc:  # a broken hook must not break the program's import; say so instead
        from t2j_runtime import record

        record.say(f"runtime hook for {module.__name__} failed, the module is used as is: {exc!r}")


class PostImportFinder:
    """A meta path finder that never finds anything itself; it only wraps watched modules' loaders."""

    def __init__(self, hooks: dict[str, str]) -> None:
        self.hooks = hooks

    def find_spec(self, name, path, target=None):
        hook = self.hooks.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            _run_hook(hook, module)

        loader.exec_module = exec_module  # this module's own loader instance only
        return spec


def install() -> None:
    """Put the finder first on sys.meta_path (idempotent)."""
    if not any(isinstance(finder, PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder(HOOKS))
