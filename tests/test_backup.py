"""Online backup and restore (RELIABILITY.md case 37): a backup taken during writes is consistent and passes
the integrity check, a restore round-trips, and bad input changes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from annotate.backup import BackupError, backup, restore
from t2j_site.settings import _database
from tests.database_aliases import forget, register


@pytest.fixture
def live_sqlite(tmp_path, monkeypatch, django_db_blocker):
    """A file database built by the settings' own function (WAL, IMMEDIATE), with a notes table."""
    alias = f"live_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'live.sqlite3'}")
    register(alias, _database())
    with django_db_blocker.unblock():
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT)")
            cursor.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            cursor.executemany("INSERT INTO note (body) VALUES (%s)", [("first",), ("second",)])
        yield alias
        forget(alias)


def _bodies(alias: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT body FROM note ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def _count_in(path) -> int:
    copy = sqlite3.connect(path)
    try:
        assert [row[0] for row in copy.execute("PRAGMA integrity_check")] == ["ok"]
        return copy.execute("SELECT COUNT(*) FROM note").fetchone()[0]
    finally:
        copy.close()


def test_a_backup_taken_during_writes_is_a_consistent_checked_snapshot(live_sqlite, tmp_path):
    stop, errors, written = threading.Event(), [], []

    def writer() -> None:
        try:
            while not stop.is_set():
                with connections[live_sqlite].cursor() as cursor:
                    cursor.execute("INSERT INTO note (body) VALUES (%s)", ["x" * 2000])
                written.append(1)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(exc))
        finally:
            connections[live_sqlite].close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 200:
            stop.wait(0.01)
        before = len(_bodies(live_sqlite))
        made = backup(tmp_path / "during-writes.sqlite3", using=live_sqlite)
    finally:
        stop.set()
        thread.join()
    assert errors == []  # the writer was never refused while the copy ran
    assert before <= _count_in(made.path) <= len(_bodies(live_sqlite))
    assert made.engine == "sqlite" and made.size_bytes == made.path.stat().st_size
    assert not list(tmp_path.glob(".*partial"))


def test_restore_round_trips_and_the_app_sees_the_restored_rows(live_sqlite, tmp_path):
    made = backup(tmp_path / "snapshot.sqlite3", using=live_sqlite)
    with connections[live_sqlite].cursor() as cursor:
        cursor.execute("DELETE FROM note WHERE body = 'first'")
        cursor.execute("INSERT INTO note (body) VALUES ('after the backup')")
    restore(made.path, using=live_sqlite)
    assert _bodies(live_sqlite) == ["first", "second"]


def test_a_backup_never_overwrites_a_file(live_sqlite, tmp_path):
    existing = tmp_path / "keep.sqlite3"
    existing.write_bytes(b"precious")
    with pytest.raises(BackupError, match="exists already"):
        backup(existing, using=live_sqlite)
    assert existing.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all", "not a SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 5000, "could not be read|integrity"),
    ],
)
def test_restoring_a_bad_file_changes_nothing(live_sqlite, tmp_path, content, message):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(content)
    with pytest.raises(BackupError, match=message):
        restore(bad, using=live_sqlite)
    assert _bodies(live_sqlite) == ["first", "second"]


def test_restoring_another_apps_database_is_refused(live_sqlite, tmp_path):
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
    with pytest.raises(BackupError, match="not a T2J Workbench database"):
        restore(other, using=live_sqlite)
    assert _bodies(live_sqlite) == ["first", "second"]


def test_the_commands_back_up_and_restore_and_restore_wants_yes(live_sqlite, tmp_path, capsys):
    path = tmp_path / "cli.sqlite3"
    call_command("backup_db", str(path), "--database", live_sqlite)
    assert f"to {path}" in capsys.readouterr().out
    with connections[live_sqlite].cursor() as cursor:
        cursor.execute("DELETE FROM note")
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore_db", str(path), "--database", live_sqlite)
    assert _bodies(live_sqlite) == []
    call_command("restore_db", str(path), "--database", live_sqlite, "--yes")
    assert _bodies(live_sqlite) == ["first", "second"]


def test_an_in_memory_database_has_nothing_to_back_up(tmp_path, django_db_blocker):
    alias = f"memory_{uuid.uuid4().hex[:8]}"
    register(alias, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
    try:
        with pytest.raises(BackupError, match="in memory"):
            backup(tmp_path / "x.sqlite3", using=alias)
    finally:
        forget(alias)


@pytest.mark.postgres
def test_postgresql_backup_and_restore_round_trip_all_or_nothing(tmp_path, django_db_blocker):
    name = f"t2j_backup_{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():  # a scratch database of our own, beside the test database
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        register(name, {**connection.settings_dict, "NAME": name})
        try:
            _round_trip_postgresql(name, tmp_path)
        finally:
            forget(name)
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _round_trip_postgresql(alias: str, tmp_path) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)")
        cursor.execute("INSERT INTO note (body) VALUES ('first'), ('second')")
    made = backup(tmp_path / "pg.dump", using=alias)
    assert made.engine == "postgresql"
    with connections[alias].cursor() as cursor:
        cursor.execute("DELETE FROM note WHERE body = 'first'")
        cursor.execute("INSERT INTO note (body) VALUES ('after the backup')")
    restore(made.path, using=alias)
    assert _bodies(alias) == ["first", "second"]
    broken = tmp_path / "broken.dump"
    broken.write_bytes(made.path.read_bytes()[: made.size_bytes // 2])
    with pytest.raises(BackupError):
        restore(broken, using=alias)
    assert _bodies(alias) == ["first", "second"]


def test_a_backup_is_private_like_the_database(live_sqlite, tmp_path):
    """It holds the same session keys (issue 17, kind 5)."""
    previous = os.umask(0o022)
    try:
        made = backup(tmp_path / "private.sqlite3", using=live_sqlite)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
