"""The runtime's source packages (sandbox_runtime/) are importable in these tests, as in the runtime venv;
the `runtime` fixture gives the real sandbox on a runtime venv that has t2j_runtime."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from django.conf import settings

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox_runtime"
if str(RUNTIME) not in sys.path:
    sys.path.insert(0, str(RUNTIME))


@pytest.fixture
def runtime(host, sandbox_settings):
    """(host and sandbox_settings come from tests.annotate.sandbox_fixtures, which the modules load.)
    The sandbox (cold boxes) on a runtime venv built by scripts/setup_sandbox.sh: skip loudly without one,
    fail under CI=true. Real programs get a longer wall-clock limit than the default."""
    index = Path(settings.T2J_SANDBOX_VENV) / "t2j-module-index.json"
    if not index.exists():
        message = f"RUNTIME TESTS NOT RUN: {settings.T2J_SANDBOX_VENV} has no t2j_runtime; run scripts/setup_sandbox.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    sandbox_settings.T2J_RUN_WALL_S = 90.0
    return sandbox_settings
