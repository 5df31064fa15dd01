"""The database, its -wal/-shm files and DATA_DIR are private, and a start-up check says when they are not
(issue 17, kind 5: they hold session keys)."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from django.db import connections

from t2j_site.private_files import check_private_files
from t2j_site.settings import _database
from tests.database_aliases import forget, register
from tests.test_settings import _manage


@pytest.fixture
def usual_umask():
    """The umask most shells have: files are created 0644 unless the app asks for less."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def file_database(tmp_path, monkeypatch, django_db_blocker, usual_umask):
    """Build a file database with the settings' own function; `prepare(path)` runs before the first connection."""
    aliases = []

    def make(prepare=lambda path: None) -> Path:
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.sqlite3"
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
        config = _database()
        prepare(path)
        alias = path.stem
        register(alias, config)
        aliases.append(alias)
        with connections[alias].cursor() as cursor:  # WAL mode: the -wal and -shm files exist from here
            cursor.execute("CREATE TABLE session_keys (key TEXT)")
            cursor.execute("INSERT INTO session_keys VALUES ('secret')")
        return path

    with django_db_blocker.unblock():
        yield make
    for alias in aliases:
        forget(alias)


def _modes(database: Path) -> dict[str, int]:
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    return {path.name[len(database.stem) :]: stat.S_IMODE(path.stat().st_mode) for path in files}


def test_a_new_database_and_its_wal_and_shm_files_are_created_private(file_database):
    assert _modes(file_database()) == {".sqlite3": 0o600, ".sqlite3-wal": 0o600, ".sqlite3-shm": 0o600}


def test_a_database_sqlite_created_itself_is_tightened_when_the_app_connects(file_database):
    """E.g. the file was deleted under a running app: SQLite makes a new one with the umask's 0644."""
    assert _modes(file_database(prepare=lambda path: path.unlink())) == {
        ".sqlite3": 0o600,
        ".sqlite3-wal": 0o600,
        ".sqlite3-shm": 0o600,
    }


def test_an_older_installations_readable_database_is_tightened_when_the_app_connects(file_database):
    assert set(_modes(file_database(prepare=lambda path: path.chmod(0o644))).values()) == {0o600}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")  # read by the check only, never connected
def test_the_check_warns_about_readable_database_files_and_an_open_data_dir(settings, tmp_path):
    database = tmp_path / "db.sqlite3"
    database.write_bytes(b"")
    Path(f"{database}-wal").write_bytes(b"")
    database.chmod(0o644)
    Path(f"{database}-wal").chmod(0o640)
    tmp_path.chmod(0o755)
    settings.DATA_DIR = tmp_path
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}}
    warnings = {(warning.id, warning.msg.split(" has mode ")[0]) for warning in check_private_files()}
    assert warnings == {
        ("t2j.W001", str(database)),
        ("t2j.W001", f"{database}-wal"),
        ("t2j.W002", f"DATA_DIR {tmp_path}"),
    }
    database.chmod(0o600)
    Path(f"{database}-wal").chmod(0o600)
    tmp_path.chmod(0o700)
    assert check_private_files() == []


def test_a_fresh_installation_starts_private_and_its_start_up_check_is_clean(tmp_path, usual_umask):
    data_dir = tmp_path / "fresh" / "data"
    result = _manage(["check", "--fail-level", "WARNING"], {"T2J_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "db.sqlite3").stat().st_mode) == 0o600


def test_an_open_data_dir_fails_the_start_up_check_at_warning_level(tmp_path):
    tmp_path.chmod(0o755)
    result = _manage(["check", "--fail-level", "WARNING"], {"T2J_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "t2j.W002" in result.stderr + result.stdout and f"chmod 700 {tmp_path}" in result.stderr + result.stdout
