"""What the runtime venv can import, and why a failed import failed.

Built once at set-up (`scripts/setup_sandbox.sh` runs `python -m t2j_runtime.module_index REQUIREMENTS OUT`)
into `<venv>/t2j-module-index.json`:

    {"python": "3.11.2",
     "packages": [{"name": "torch", "version": "2.14.1", "modules": ["functorch", "torch", "torchgen"]}, ...],
     "distributions": {"pillow": {"version": "13.0.0", "modules": ["PIL"], "requires": [...]}, ...},
     "stdlib": [...], "top_level": [...], "submodules": [...]}

`packages` are the runtime's pinned packages (what "the sandbox has"), `distributions` every installed one
(normalised name -> version, top-level modules, normalised names it requires), `top_level` every importable
top-level name (site-packages, the standard library, built-ins), `submodules` the dotted names of the
modules inside the pinned packages and the standard library, found on disk without importing them.

`explain(name)` turns the name of a module that failed to import into one sentence:
- "X does not exist (did you mean Y?)" when X is a submodule of an installed package (or of the standard
  library) that is not there, or a top-level name no package can provide: a distribution's name instead
  of its module's (`pillow` -> `PIL`), or a compound of pinned packages' names (`pandas_jax`);
- "X is not installed in the sandbox (installed: ...)" for any other top-level name (a real package the
  sandbox lacks, as far as anyone inside it can tell), with "did you mean Y?" first when a pinned
  package's or standard module's name is close (`pytorch` -> `torch`).
Suggestions come from difflib over the index, never from a table of moved modules.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from functools import lru_cache

INDEX_NAME = "t2j-module-index.json"
TYPO_CUTOFF = 0.8  # difflib ratio from which an installed name is suggested for a missing top-level one
SUGGEST_CUTOFF = 0.6  # the least similarity a suggestion needs


def index_path() -> str:
    """The index of this interpreter's venv (T2J_MODULE_INDEX overrides it, for tests)."""
    return os.environ.get("T2J_MODULE_INDEX") or os.path.join(sys.prefix, INDEX_NAME)


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: `Scikit_Learn` -> `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- building (at set-up, in the runtime venv) ---------------------------------------------------------


def _pins(requirements_path: str) -> list[tuple[str, str]]:
    pins = []
    with open(requirements_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, version = line.partition("==")
                pins.append((name.strip(), version.strip()))
    return pins


def _is_module_name(name: str) -> bool:
    return name.isidentifier()


def _top_level_of(dist) -> list[str]:
    """The top-level modules a distribution installs, from its RECORD (top_level.txt is not always there)."""
    import inspect

    names = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] in ("..", "bin"):
            continue
        if len(parts) == 1:
            name = inspect.getmodulename(parts[0])
            if name and _is_module_name(name):
                names.add(name)
        elif _is_module_name(parts[0]) and parts[0] != "__pycache__":
            names.add(parts[0])
    return sorted(names)


def _requires(dist) -> list[str]:
    names = set()
    for requirement in dist.requires or ():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match and "extra ==" not in requirement:
            names.add(normalise(match.group(1)))
    return sorted(names)


def _walk(package: str, folder: str, found: list[str], depth: int = 0) -> None:
    """Dotted names of the modules under a package folder, read from disk (nothing is imported)."""
    import inspect

    if depth > 12:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if _is_module_name(entry.name) and _has_modules(entry.path):
                found.append(f"{package}.{entry.name}")
                _walk(f"{package}.{entry.name}", entry.path, found, depth + 1)
        else:
            name = inspect.getmodulename(entry.name)
            if name and name != "__init__" and _is_module_name(name):
                found.append(f"{package}.{name}")


def _has_modules(folder: str) -> bool:
    import inspect

    try:
        return any(inspect.getmodulename(name) for name in os.listdir(folder))
    except OSError:
        return False


def _stdlib_folder() -> str:
    import sysconfig

    return sysconfig.get_paths()["stdlib"]


def build(requirements_path: str) -> dict:
    """The index of the running interpreter's venv (see the module docstring for its shape)."""
    import importlib.metadata as metadata
    import pkgutil

    distributions = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            distributions[normalise(name)] = {
                "version": dist.version,
                "modules": _top_level_of(dist),
                "requires": _requires(dist),
            }
    packages = []
    for name, version in _pins(requirements_path):
        installed = distributions.get(normalise(name), {})
        version = installed.get("version", version)
        packages.append({"name": name, "version": version, "modules": installed.get("modules", [])})

    stdlib = sorted(sys.stdlib_module_names)
    top_level = set(stdlib) | set(sys.builtin_module_names)
    top_level |= {info.name for info in pkgutil.iter_modules([p for p in sys.path if p and os.path.isdir(p)])}
    for dist in distributions.values():
        top_level |= set(dist["modules"])

    submodules: list[str] = []
    roots = {module for package in packages for module in package["modules"]}
    for path in sys.path:
        if not path or not os.path.isdir(path):
            continue
        for module in sorted(roots):
            folder = os.path.join(path, module)
            if os.path.isdir(folder):
                _walk(module, folder, submodules)
    stdlib_folder = _stdlib_folder()
    for module in stdlib:
        folder = os.path.join(stdlib_folder, module)
        if os.path.isdir(folder) and module not in ("test", "idlelib", "lib2to3", "tkinter", "turtledemo"):
            _walk(module, folder, submodules)

    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "packages": packages,
        "distributions": distributions,
        "stdlib": stdlib,
        "top_level": sorted(top_level),
        "submodules": sorted(set(submodules)),
    }


# --- lookup (inside the box) -----------------------------------------------------------------------------


class ModuleIndex:
    """The loaded index with the derived lookups `explain` needs."""

    def __init__(self, data: dict) -> None:
        self.packages = data.get("packages", [])
        self.distributions = data.get("distributions", {})
        self.top_level = set(data.get("top_level", ()))
        self.stdlib = set(data.get("stdlib", ()))
        self.modules = self.top_level | set(data.get("submodules", ()))
        self._owner = {module: dist for dist, info in self.distributions.items() for module in info["modules"]}

    def installed_text(self) -> str:
        """`einops 0.8.2, pillow 13.0.0 (PIL), ...`: the pinned packages, with their module where it differs."""
        items = []
        for package in self.packages:
            modules = [m for m in package["modules"] if not m.startswith("_")]
            text = f"{package['name']} {package['version']}"
            if modules and normalise(package["name"]) not in {normalise(m) for m in modules}:
                text += f" ({', '.join(modules)})"
            items.append(text)
        return ", ".join(items)

    def pinned_modules(self) -> set[str]:
        """The public top-level modules of the pinned packages."""
        return {m for package in self.packages for m in package["modules"] if not m.startswith("_")}

    def family(self, top: str) -> set[str]:
        """Top-level modules of the distribution owning `top` and of those it requires or that require it."""
        owner = self._owner.get(top)
        if owner is None:
            return {top}
        related = {owner, *self.distributions[owner]["requires"]}
        related |= {name for name, info in self.distributions.items() if owner in info["requires"]}
        modules = {top}
        for name in related:
            modules |= set(self.distributions.get(name, {}).get("modules", ()))
        return modules


@lru_cache(maxsize=1)
def load(path: str | None = None) -> ModuleIndex | None:
    """The venv's index, or None when there is none (then failed imports keep Python's own message)."""
    try:
        with open(path or index_path(), encoding="utf-8") as handle:
            return ModuleIndex(json.load(handle))
    except (OSError, ValueError):
        return None


def _public(module: str) -> bool:
    return not any(part.startswith("_") for part in module.split("."))


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def _suggest_submodule(name: str, index: ModuleIndex) -> str | None:
    """The closest existing public module: the same last part, else a close one, first inside the same
    top-level package, then in its family (the distributions it requires or that require it)."""
    top, leaf = name.split(".", 1)[0], _leaf(name)
    family = index.family(top)
    candidates = [m for m in index.modules if m.split(".", 1)[0] in family and _public(m) and m != name]
    own = [m for m in candidates if m.split(".", 1)[0] == top]

    def closest(modules: list[str]) -> str:
        return max(modules, key=lambda m: (difflib.SequenceMatcher(None, m, name).ratio(), m))

    for pool in (own, candidates):
        same_leaf = [m for m in pool if _leaf(m) == leaf]
        if same_leaf:
            return closest(same_leaf)
    for pool in (own, candidates):
        leaves = difflib.get_close_matches(leaf, {_leaf(m) for m in pool}, n=1, cutoff=SUGGEST_CUTOFF)
        if leaves:
            return closest([m for m in pool if _leaf(m) == leaves[0]])
    return None


def _made_up_top_level(name: str, index: ModuleIndex) -> str | None:
    """The module meant by a top-level name that no package can provide, or None when it may be real.

    Made up: a distribution's name used as a module name (`pillow`, `scikit_learn`), another spelling of
    an installed module (`pil`), or a compound of pinned packages' names (`pandas_jax`).
    """
    dist = index.distributions.get(normalise(name))
    if dist and dist["modules"]:
        modules = [m for m in dist["modules"] if not m.startswith("_")] or dist["modules"]
        return modules[0]
    public = sorted(m for m in index.top_level if not m.startswith("_"))
    lowered = {m.lower(): m for m in public}
    if name.lower() in lowered:
        return lowered[name.lower()]
    pinned = index.pinned_modules()
    parts = [part for part in re.split(r"[_\-]+", name.lower()) if part]
    if len(parts) > 1 and all(part in {m.lower() for m in pinned} for part in parts):
        close = difflib.get_close_matches(name, public, n=1, cutoff=0.0)
        return close[0] if close else None
    return None


def _typo_of(name: str, index: ModuleIndex) -> str | None:
    """A pinned package's or standard module's name close to `name`: maybe a typo, maybe another real
    package (`tensorboard` is as close to `tensorboardX` as `numpyy` to `numpy`), so only a suggestion."""
    close = difflib.get_close_matches(name, sorted(index.pinned_modules() | index.stdlib), n=1, cutoff=TYPO_CUTOFF)
    return close[0] if close else None


def explain(name: str | None, index: ModuleIndex | None = None) -> str | None:
    """One sentence on why module `name` cannot be imported here, or None to keep Python's own message.

    None for a name of the program's own (a dotted name whose top-level package is not installed), for
    an installed module that failed for another reason, and when the venv has no index.
    """
    index = index or load()
    if index is None or not name:
        return None
    top = name.split(".", 1)[0]
    if "." in name:
        if top not in index.top_level or name in index.modules:
            return None
        suggestion = _suggest_submodule(name, index)
        return f"{name} does not exist" + (f" (did you mean {suggestion}?)" if suggestion else "")
    if name in index.top_level:
        return None
    meant = _made_up_top_level(name, index)
    if meant:
        return f"{name} does not exist (did you mean {meant}?)"
    typo = _typo_of(name, index)
    hint = f"did you mean {typo}? " if typo else ""
    return f"{name} is not installed in the sandbox ({hint}installed: {index.installed_text()})"


_CANNOT_IMPORT = re.compile(r"cannot import name '([A-Za-z_][A-Za-z0-9_]*)' from '([A-Za-z_][A-Za-z0-9_.]*)'")


def explain_from_import(message: str, index: ModuleIndex | None = None) -> str | None:
    """The message for `from M import X` failing ("cannot import name 'X' from 'M' (path)") when X looks
    like a module that moved or went (`from jax.experimental import stax`, `from flax import optim`), else
    None to keep Python's own message.

    The interpreter raises that ImportError itself, past the loader hook of t2j_runtime.imports, and X may
    as well be a function or class: the index's suggestion is used only when its last part is X or starts
    with it, or when it is a top-level module (`from jaxlib import optix` -> optax).
    """
    match = _CANNOT_IMPORT.match(message or "")
    if match is None:
        return None
    name, module = match.groups()
    index = index or load()
    if index is None or module.split(".", 1)[0] not in index.top_level or f"{module}.{name}" in index.modules:
        return None
    suggestion = _suggest_submodule(f"{module}.{name}", index)
    if suggestion is None or not ("." not in suggestion or _leaf(suggestion).startswith(name)):
        return None
    return f"cannot import name '{name}' from '{module}': {module}.{name} does not exist (did you mean {suggestion}?)"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m t2j_runtime.module_index REQUIREMENTS OUT.json", file=sys.stderr)
        return 2
    data = build(argv[0])
    with open(argv[1], "w", encoding="utf-8") as handle:
        json.dump(data, handle, separators=(",", ":"))
    print(
        f"module index: {len(data['top_level'])} top-level modules, {len(data['submodules'])} submodules, "
        f"{len(data['packages'])} pinned packages -> {argv[1]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
