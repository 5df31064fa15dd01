"""Fixtures of the contract tests, loaded with `pytest_plugins = ["tests.annotate.contract_fixtures"]` (beside
"tests.annotate.sandbox_fixtures", whose sandbox_settings they build on)."""

from __future__ import annotations

import pytest

from tests.annotate.contract_support import require_runtime_pytest


@pytest.fixture
def real_program_settings(sandbox_settings):
    """The real sandbox with room for real programs: importing torch and JAX together, a script training at
    import (the paper's are), a minute or two of wall time."""
    require_runtime_pytest()
    sandbox_settings.T2J_RUN_WALL_S = max(sandbox_settings.T2J_RUN_WALL_S, 180.0)
    sandbox_settings.T2J_RUN_CPU_S = max(sandbox_settings.T2J_RUN_CPU_S, 360)
    sandbox_settings.T2J_RUN_ADDRESS_SPACE_BYTES = max(sandbox_settings.T2J_RUN_ADDRESS_SPACE_BYTES, 16 * 1024**3)
    return sandbox_settings
