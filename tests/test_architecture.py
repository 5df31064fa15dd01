"""The dependency rules of README "Architecture", enforced with import-linter (contracts in pyproject.toml).

import-linter builds its graph with grimp, which sees imports inside function bodies too: a cycle or a
forbidden import cannot hide there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("annotate", "evaluate", "t2j_site")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's packages and contracts in a scratch folder, to break a rule without touching the tree."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import_in_function(module: Path, statement: str) -> None:
    """Append a function that imports `statement`: the kind of import that used to dodge cycles."""
    with module.open("a", encoding="utf-8") as handle:
        handle.write(f"\n\ndef _added_by_the_architecture_test():\n    {statement}\n")


def test_the_project_keeps_every_dependency_rule():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("annotate/diffs.py", "from evaluate import models", "annotate never imports evaluate"),
        ("annotate/sandbox/limits.py", "from annotate import models", "The sandbox imports nothing of the project"),
        ("annotate/prompting.py", "from annotate import sandbox", "LLM calls and prompts never reach the sandbox"),
        ("annotate/fixlog.py", "from annotate.views import workspace", "Only HTTP, task and command glue"),
        ("evaluate/ranking.py", "from evaluate import tasks", "Only HTTP, task and command glue"),
        ("annotate/diffs.py", "from annotate import prefill", "No import cycles inside a package"),
        ("t2j_site/env.py", "from annotate import models", "No import cycles between the apps and the site"),
    ],
)
def test_a_forbidden_import_inside_a_function_breaks_its_contract(project_copy, module, statement, contract):
    add_import_in_function(project_copy / module, statement)
    result = lint_imports(project_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
