"""Shared by the contract tests: the demo's files, the paper's e1, our own pytest-style contracts, and the gate
for tests that need pytest inside the sandbox's runtime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from annotate.demo import DEMO_DIR
from tests.annotate.factories import SampleFactory
from tests.annotate.sandbox_support import require_sandbox
from tests.paper import PAPER_DATASET

CONTRACT_FILES = Path(__file__).parent / "contract_files"
DEMO_KEYS = ["linreg", "mlp", "cnn", "attention", "focal", "lstm"]


def demo_file(key: str, name: str) -> str:
    return (DEMO_DIR / key / name).read_text(encoding="utf-8")


def contract_file(name: str) -> str:
    return (CONTRACT_FILES / name).read_text(encoding="utf-8")


def demo_sample(key: str, contract: str | None = None, **fields):
    """The demo sample `key` with its own contract, or `contract` (e.g. a pytest-style one) instead."""
    text = demo_file(key, "contract.py") if contract is None else contract
    return SampleFactory(
        key=key, pytorch_code=demo_file(key, "pytorch.py"), contract=text, contract_version=1, **fields
    )


def paper_example(key: str) -> dict:
    """One example of the paper's bug-fix dataset (../shared): Input_Code, LLM_weak_output, LLM_fix_output."""
    examples = json.loads(PAPER_DATASET.read_text(encoding="utf-8"))["Pytorch_to_JAX_Examples"]
    return next(example for example in examples if example["Example_id"] == key)


def require_runtime_pytest() -> None:
    """Skip loudly when the sandbox's runtime has no pytest (the runtime before issue 14), never under CI=true."""
    require_sandbox()
    found = list(Path(settings.T2J_SANDBOX_VENV, "lib").glob("python3*/site-packages/pytest/__init__.py"))
    if not found:
        message = f"PYTEST-STYLE CONTRACT TESTS NOT RUN: the sandbox runtime {settings.T2J_SANDBOX_VENV} has no pytest"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
