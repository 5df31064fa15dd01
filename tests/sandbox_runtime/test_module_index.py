"""The module index and the sentence a failed import gets from it (t2j_runtime.module_index, .imports).

Pure lookups run here on a small hand-made index; the index the set-up builds is checked on the app
venv's own numpy; the import hook runs in a child interpreter so this process's importlib stays as is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from t2j_runtime import module_index

RUNTIME = Path(module_index.__file__).resolve().parents[1]  # sandbox_runtime/ (put on sys.path by conftest)

INDEX = module_index.ModuleIndex(
    {
        "packages": [
            {"name": "jax", "version": "0.10.2", "modules": ["jax"]},
            {"name": "jaxlib", "version": "0.10.2", "modules": ["jaxlib"]},
            {"name": "optax", "version": "0.2.8", "modules": ["optax"]},
            {"name": "pandas", "version": "3.1.1", "modules": ["pandas"]},
            {"name": "pillow", "version": "13.0.0", "modules": ["PIL"]},
        ],
        "distributions": {
            "jax": {"version": "0.10.2", "modules": ["jax"], "requires": ["jaxlib", "numpy"]},
            "jaxlib": {"version": "0.10.2", "modules": ["jaxlib"], "requires": ["numpy"]},
            "optax": {"version": "0.2.8", "modules": ["optax"], "requires": ["jax", "jaxlib"]},
            "numpy": {"version": "2.4.6", "modules": ["numpy"], "requires": []},
            "pandas": {"version": "3.1.1", "modules": ["pandas"], "requires": ["numpy"]},
            "pillow": {"version": "13.0.0", "modules": ["PIL"], "requires": []},
        },
        "stdlib": ["collections", "os"],
        "top_level": ["PIL", "collections", "jax", "jaxlib", "numpy", "optax", "os", "pandas"],
        "submodules": [
            "PIL.Image",
            "collections.abc",
            "jax.example_libraries",
            "jax.example_libraries.stax",
            "jax.experimental",
            "jax.experimental.sparse",
            "jaxlib.xla_client",
            "optax.schedules",
        ],
    }
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # moved within its package: the same last part elsewhere in it
        ("jax.experimental.stax", "jax.experimental.stax does not exist (did you mean jax.example_libraries.stax?)"),
        # renamed into another package of the family (optax requires jaxlib)
        ("jaxlib.optix", "jaxlib.optix does not exist (did you mean optax?)"),
        # a compound of installed names
        ("pandas_jax", "pandas_jax does not exist (did you mean pandas?)"),
        # a distribution's name instead of its module's
        ("pillow", "pillow does not exist (did you mean PIL?)"),
        ("collections.abcd", "collections.abcd does not exist (did you mean collections.abc?)"),
    ],
)
def test_a_module_no_installed_package_provides_does_not_exist(name, message):
    assert module_index.explain(name, INDEX) == message


@pytest.mark.parametrize(
    ("message", "explained"),
    [
        (
            "cannot import name 'stax' from 'jax.experimental' (/opt/venv/jax/experimental/__init__.py)",
            "cannot import name 'stax' from 'jax.experimental': jax.experimental.stax does not exist "
            "(did you mean jax.example_libraries.stax?)",
        ),
        (
            "cannot import name 'optix' from 'jaxlib' (/opt/venv/jaxlib/__init__.py)",
            "cannot import name 'optix' from 'jaxlib': jaxlib.optix does not exist (did you mean optax?)",
        ),
        # A function or class that is not there keeps Python's message: no module suggestion for it.
        ("cannot import name 'sparce' from 'jax.experimental' (/opt/venv/x.py)", None),
        ("cannot import name 'stax' from 'my_package' (/box/my_package/__init__.py)", None),  # the program's own
        ("No module named 'x'", None),
    ],
)
def test_from_import_of_a_moved_module_is_explained_and_other_names_keep_pythons_message(message, explained):
    assert module_index.explain_from_import(message, INDEX) == explained


def test_a_real_package_the_sandbox_lacks_is_not_installed_and_the_sandbox_says_what_it_has():
    assert module_index.explain("haiku", INDEX) == (
        "haiku is not installed in the sandbox (installed: jax 0.10.2, jaxlib 0.10.2, optax 0.2.8, pandas 3.1.1, "
        "pillow 13.0.0 (PIL))"
    )


def test_a_name_close_to_an_installed_one_gets_a_suggestion_but_may_be_a_real_package():
    # `jaxlibs` may be a typo of jaxlib or another package: the sandbox cannot know which.
    assert module_index.explain("jaxlibs", INDEX).startswith(
        "jaxlibs is not installed in the sandbox (did you mean jaxlib? installed: jax 0.10.2, "
    )


@pytest.mark.parametrize("name", ["jax", "jax.example_libraries.stax", "my_package.helpers"])
def test_installed_modules_and_the_programs_own_packages_keep_pythons_message(name):
    assert module_index.explain(name, INDEX) is None


def test_built_index_lists_pinned_packages_their_submodules_and_the_standard_library(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# the runtime's pins\nnumpy=={np.__version__}\n")

    data = module_index.build(str(requirements))

    assert data["packages"] == [{"name": "numpy", "version": np.__version__, "modules": ["numpy"]}]
    assert {"numpy.linalg", "numpy.random", "json.decoder", "collections.abc"} <= set(data["submodules"])
    assert {"numpy", "json", "sys", "jax"} <= set(data["top_level"])
    assert "os" in data["stdlib"]
    assert data["distributions"]["numpy"]["version"] == np.__version__
    assert "jaxlib" in data["distributions"]["jax"]["requires"]
    json.dumps(data)


def _child(code: str, index_path) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the runtime's start-up hook installed and `index_path` as index."""
    bootstrap = f"import sys; sys.path.insert(0, {str(RUNTIME)!r}); import t2j_runtime.startup\n"
    env = {"T2J_MODULE_INDEX": str(index_path), "PATH": "/usr/bin:/bin", "T2J_OUTPUT_DIR": str(index_path.parent)}
    return subprocess.run(
        [sys.executable, "-c", bootstrap + code], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def index_file(tmp_path):
    path = tmp_path / "index.json"
    path.write_text(
        json.dumps(
            {
                "packages": [],
                "distributions": {},
                "stdlib": ["collections"],
                "top_level": ["collections"],
                "submodules": ["collections.abc"],
            }
        )
    )
    return path


def test_failed_import_statement_prints_the_explanation_without_a_frame_of_the_hook(index_file):
    result = _child("import os\nimport collections.abcd\n", index_file)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: collections.abcd does not exist (did you mean collections.abc?)"
    )
    assert "t2j_runtime" not in result.stderr and "<frozen" not in result.stderr


def test_explained_error_is_still_a_plain_module_not_found_error_to_programs(index_file):
    code = """
import importlib, importlib.util, pickle
try:
    importlib.import_module("collections.abcd")
except ImportError as exc:
    print(type(exc).__name__, isinstance(exc, ModuleNotFoundError), exc.name)
    print(pickle.loads(pickle.dumps(exc)))
print(importlib.util.find_spec("no_such_module_here"))
try:
    import no_such_module_here
except ModuleNotFoundError:
    print("optional import skipped")
"""
    result = _child(code, index_file)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ModuleNotFoundError True collections.abcd",
        "collections.abcd does not exist (did you mean collections.abc?)",
        "None",
        "optional import skipped",
    ]
