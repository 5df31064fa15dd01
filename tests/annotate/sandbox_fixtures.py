"""Fixtures of the sandbox tests, loaded with `pytest_plugins = ["tests.annotate.sandbox_fixtures"]`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.annotate.sandbox_support import HostSnapshot, require_sandbox


@pytest.fixture
def sandbox_settings(settings, tmp_path):
    """The real sandbox, no runner (cold starts), a private compile-cache folder and runner token file."""
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    settings.T2J_COMPILE_CACHE_DIR = tmp_path / "compile-cache"
    settings.T2J_RUNNER_TOKEN = ""
    settings.T2J_RUNNER_TOKEN_FILE = tmp_path / "runner_token"
    return settings


@pytest.fixture
def host(sandbox_settings):
    """A sentinel file in the project folder; after the test it and the host's processes are unchanged."""
    sentinel = Path(settings.BASE_DIR) / "var" / f"sandbox-sentinel-{os.getpid()}"
    sentinel.parent.mkdir(exist_ok=True)
    sentinel.write_bytes(os.urandom(64))
    snapshot = HostSnapshot(sentinel)
    try:
        yield snapshot
        snapshot.assert_unchanged()
    finally:
        sentinel.unlink(missing_ok=True)
