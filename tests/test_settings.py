"""Settings come from the environment, fail loudly on bad values, and hold up in production."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.sqlite3.base import DatabaseWrapper

from t2j_site.env import env_bool, env_choice, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "T2J_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
        timeout=120,
    )


def _production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "t2j.example.org",
        "T2J_DATA_DIR": str(tmp_path),
    }


def test_check_deploy_passes_with_production_values(tmp_path):
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], _production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("key", ["", "too-short"])
def test_production_refuses_to_start_without_a_strong_secret_key(tmp_path, key):
    env = {**_production_env(tmp_path), "DJANGO_SECRET_KEY": key}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_local_secret_key_file_is_created_private_and_reused(tmp_path):
    env = {"T2J_DATA_DIR": str(tmp_path)}
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _manage(["shell", "-c", code], env)
    second = _manage(["shell", "-c", code], env)
    key_file = tmp_path / "secret_key"
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.stdout == second.stdout and len(first.stdout.splitlines()[-1]) >= 50


def test_debug_is_off_unless_asked_for():
    result = _manage(["shell", "-c", "from django.conf import settings; print(settings.DEBUG)"], {})
    assert result.stdout.splitlines()[-1] == "False"


def test_bad_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_SMALL", "0")
    monkeypatch.setenv("X_CHOICE", "none")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be an integer"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_SMALL", 5, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="full, reduced"):
        env_choice("X_CHOICE", "full", ("full", "reduced"))


def test_lists_and_defaults(monkeypatch):
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    monkeypatch.delenv("X_MISSING", raising=False)
    assert env_list("X_LIST") == ["a.example", "b.example"]
    assert env_int("X_MISSING", 7) == 7
    assert env_bool("X_MISSING", True) is True


def test_sqlite_file_database_uses_wal_immediate_and_a_busy_timeout(tmp_path, monkeypatch, db):
    """The in-memory test database reads journal_mode=memory, so open a file database with the real OPTIONS."""
    from t2j_site.settings import _database

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'pragma.sqlite3'}")
    config = {**_database(), "TEST": {}, "TIME_ZONE": None, "AUTOCOMMIT": True, "CONN_HEALTH_CHECKS": False}
    wrapper = DatabaseWrapper(config, alias="pragma-check")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] >= 5000
            cursor.execute("PRAGMA foreign_keys")
            assert cursor.fetchone()[0] == 1
        assert wrapper.transaction_mode == "IMMEDIATE"
    finally:
        wrapper.close()


def test_env_example_documents_every_setting_we_read():
    """Every DJANGO_/T2J_/OPENAI_ variable the settings read appears in .env.example."""
    import re

    source = (ROOT / "t2j_site" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"((?:DJANGO|T2J|OPENAI)_\w+)"', source))
    read |= set(re.findall(r"env_\w+\(\s*'((?:DJANGO|T2J|OPENAI)_\w+)'", source))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read and read <= documented, f"undocumented: {sorted(read - documented)}"
