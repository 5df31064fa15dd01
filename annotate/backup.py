"""Online backup and restore of the whole database (RELIABILITY.md case 37), for SQLite and PostgreSQL.

SQLite: the sqlite3 backup API copies a consistent snapshot while the app keeps writing (WAL lets the
copy read while one writer writes); the copy must pass `PRAGMA integrity_check` before it is kept.
PostgreSQL: pg_dump's custom format (a consistent snapshot too), restored by pg_restore in one transaction.
Either way a backup is written under a temporary name and renamed when complete, and a restore that fails
leaves the database as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.db import connections

from t2j_site.private_files import create_private_file

SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """The backup or restore could not be done; nothing was changed."""


@dataclass
class Backup:
    path: Path
    size_bytes: int
    engine: str


def backup(path: Path, using: str = "default") -> Backup:
    """Write a complete, checked copy of the database to `path` (which must not exist yet)."""
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} exists already; choose a new file name")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    create_private_file(partial)  # a backup holds session keys too; sqlite3 and pg_dump keep the mode
    engine = connections[using].vendor
    try:
        if engine == "sqlite":
            _sqlite_backup(_sqlite_file(using), partial)
        elif engine == "postgresql":
            _pg_dump(using, partial)
        else:
            raise BackupError(f"backups of {engine} databases are not supported")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path=path, size_bytes=path.stat().st_size, engine=engine)


def restore(path: Path, using: str = "default") -> None:
    """Replace every row of the database with the backup at `path`, all or nothing."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    engine = connections[using].vendor
    connections[using].close()  # our own connection must not hold a transaction open across the swap
    if engine == "sqlite":
        _sqlite_restore(path, _sqlite_file(using))
    elif engine == "postgresql":
        _pg_restore(path, using)
    else:
        raise BackupError(f"restoring {engine} databases is not supported")


# --- SQLite ------------------------------------------------------------------------------------------


def _sqlite_file(using: str) -> Path:
    name = str(connections[using].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError("this SQLite database lives in memory; there is no file to back up")
    return Path(name)


def _sqlite_backup(database: Path, target: Path) -> None:
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: a single consistent read snapshot, writers keep going (WAL)
        copy.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
        _check_integrity(copy, target)
    finally:
        copy.close()
        source.close()


def _sqlite_restore(backup_file: Path, database: Path) -> None:
    with open(backup_file, "rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{backup_file} is not a SQLite database")
    source = sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _check_integrity(source, backup_file)
        if not source.execute("SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'").fetchone():
            raise BackupError(f"{backup_file} is not a T2J Workbench database (no django_migrations table)")
        live = sqlite3.connect(database, timeout=30)
        try:
            # The backup API writes every page inside one write transaction: other connections wait on
            # their busy timeout and then see either the old database or the restored one.
            source.backup(live)
        finally:
            live.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup_file} could not be read as a SQLite database: {exc}") from exc
    finally:
        source.close()


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} failed the integrity check: {'; '.join(problems[:5])}")


# --- PostgreSQL --------------------------------------------------------------------------------------


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)") from exc


def _pg_command(program: str, using: str, *args: str) -> subprocess.CompletedProcess:
    config = connections[using].settings_dict
    env = {**os.environ, "PGPASSWORD": str(config.get("PASSWORD") or "")}  # never on the command line
    command = [program, "--no-password", "--dbname", str(config["NAME"])]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if config.get(key):
            command += [flag, str(config[key])]
    return _run([*command, *args], env)


def _pg_dump(using: str, target: Path) -> None:
    done = _pg_command("pg_dump", using, "--format=custom", "--no-owner", "--file", str(target))
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")


def _pg_restore(backup_file: Path, using: str) -> None:
    listed = _run(["pg_restore", "--list", str(backup_file)])
    if listed.returncode != 0:
        raise BackupError(f"{backup_file} is not a pg_dump archive: {listed.stderr.strip()[-500:]}")
    done = _pg_command(
        "pg_restore", using, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
        str(backup_file),
    )  # fmt: skip
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was changed: {done.stderr.strip()[-2000:]}")
