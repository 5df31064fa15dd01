"""The demo's files as the tests read them, and a writable copy to break: shared by the annotate and evaluate
demo tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotate.demo import DEMO_DIR, DEMO_USERS
from annotate.models import FixSession, FixStep, Sample, System, Translation

SPEC = json.loads((DEMO_DIR / "demo.json").read_text(encoding="utf-8"))
SESSION_SAMPLES = [s for s in SPEC["samples"] if "session" in s]


def table_counts() -> dict[str, int]:
    """Rows of annotate's part of the demo, by kind."""
    return {
        "systems": System.objects.count(),
        "samples": Sample.objects.count(),
        "translations": Translation.objects.count(),
        "sessions": FixSession.objects.count(),
        "steps": FixStep.objects.count(),
        "users": get_user_model().objects.count(),
    }


def expected_counts() -> dict[str, int]:
    """What demo.json describes of annotate's part."""
    return {
        "systems": len(SPEC["systems"]),
        "samples": len(SPEC["samples"]),
        "translations": sum(len(s["translations"]) for s in SPEC["samples"]),
        "sessions": len(SESSION_SAMPLES),
        "steps": sum(len(s["session"]["steps"]) for s in SESSION_SAMPLES),
        "users": len(DEMO_USERS),
    }


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, target)
    return target


def edit_spec(directory: Path, change) -> None:
    path = directory / "demo.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
