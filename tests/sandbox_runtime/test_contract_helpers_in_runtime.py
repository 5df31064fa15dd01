"""The contract helpers' own tests, run again by the runtime venv's Python and pytest (its torch 2.14, jax,
flax, numpy 2.4), not only the app's: contracts run there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host (for `runtime`)

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def test_the_contract_helper_tests_pass_in_the_runtime_venv(runtime):
    python = Path(settings.T2J_SANDBOX_VENV) / "bin" / "python"
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", "-c", "/dev/null",
               "--rootdir", ".", "tests/test_t2j_contract.py"]  # fmt: skip

    done = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
