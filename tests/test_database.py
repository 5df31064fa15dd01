"""SQLite under concurrent writers (RELIABILITY.md case 36): WAL + IMMEDIATE transactions never fail with
"database is locked" on read-then-write, while the DEFERRED default does. Uses the settings' own OPTIONS."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connections, transaction

from t2j_site.settings import _database
from tests.database_aliases import forget, register

THREADS, TRANSACTIONS = 8, 50


def _storm(alias: str) -> list[str]:
    errors: list[str] = []

    def worker() -> None:
        try:
            for _ in range(TRANSACTIONS):
                try:
                    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                        cursor.execute("SELECT value FROM counter WHERE id = 1")
                        (value,) = cursor.fetchone()
                        cursor.execute("UPDATE counter SET value = %s WHERE id = 1", [value + 1])
                except OperationalError as exc:
                    errors.append(str(exc))
        finally:
            connections[alias].close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def file_database(tmp_path, monkeypatch, django_db_blocker):
    """Register a file database alias built by the real settings function; one per transaction mode."""
    aliases = []

    def make(alias: str, transaction_mode: str | None = None) -> str:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / alias}.sqlite3")
        config = _database()
        if transaction_mode is not None:
            config["OPTIONS"] = {**config["OPTIONS"], "transaction_mode": transaction_mode, "timeout": 5}
        register(alias, config)
        aliases.append(alias)
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
            cursor.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
        connections[alias].close()
        return alias

    with django_db_blocker.unblock():  # our own file databases, not the test database
        yield make
    for alias in aliases:
        forget(alias)


def _value(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE id = 1")
        return cursor.fetchone()[0]


def test_write_storm_loses_nothing_with_wal_and_immediate(file_database):
    alias = file_database("storm_immediate")
    assert _storm(alias) == []
    assert _value(alias) == THREADS * TRANSACTIONS


def test_deferred_control_reproduces_database_is_locked(file_database):
    """The control shows the test can fail: the same storm with DEFERRED transactions loses writes."""
    alias = file_database("storm_deferred", transaction_mode="DEFERRED")
    errors = _storm(alias)
    assert errors and all("locked" in error for error in errors)
    assert _value(alias) == THREADS * TRANSACTIONS - len(errors)
