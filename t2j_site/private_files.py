"""Files that hold secrets (the SQLite database and its -wal/-shm files hold session keys) stay private.

SQLite gives a database's -wal and -shm files the permissions of the database file itself, so a database
file created 0600 before SQLite first opens it keeps all three private (the settings create it so). Looser
database files we own (an older installation's, or one SQLite made itself after the file was deleted under
a running app) are tightened to 0600 on every new connection. A start-up check warns about database files
and a DATA_DIR that others can read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.db.backends.signals import connection_created
from django.dispatch import receiver

SQLITE_SIDE_FILES = ("-wal", "-shm")
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (an existing file is left as it is)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass


def sqlite_files(database: Path) -> list[Path]:
    """The database file and its -wal and -shm files."""
    return [database] + [database.with_name(database.name + suffix) for suffix in SQLITE_SIDE_FILES]


def sqlite_database_path(config: dict) -> Path | None:
    """The file of a SQLite database configuration; None for another engine or an in-memory database."""
    name = str(config.get("NAME") or "")
    if "sqlite3" not in config.get("ENGINE", "") or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def _loose(path: Path) -> int | None:
    """The mode of `path` when group or others have any access to it, else None (also when it is missing)."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & OTHERS else None


@receiver(connection_created)
def _tighten_sqlite_files(sender, connection, **kwargs) -> None:
    database = sqlite_database_path(connection.settings_dict)
    if database is None:
        return
    for path in sqlite_files(database):
        if _loose(path) is not None and path.lstat().st_uid == os.geteuid() and not path.is_symlink():
            os.chmod(path, 0o600, follow_symlinks=False)


@checks.register(checks.Tags.security)
def check_private_files(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """t2j.W001: the database files are readable by others; t2j.W002: DATA_DIR is open to others."""
    warnings = []
    for config in settings.DATABASES.values():
        database = sqlite_database_path(config)
        for path in sqlite_files(database) if database else []:
            mode = _loose(path)
            if mode is not None:
                warnings.append(
                    checks.Warning(
                        f"{path} has mode {mode:o}: other users can read it, and it holds session keys",
                        hint=f"chmod 600 {path} (new databases are created 0600)",
                        id="t2j.W001",
                    )
                )
    data_dir = Path(settings.DATA_DIR)
    mode = _loose(data_dir)
    if mode is not None:
        warnings.append(
            checks.Warning(
                f"DATA_DIR {data_dir} has mode {mode:o}: other users can list or enter it (database, secret key, "
                "caches)",
                hint=f"chmod 700 {data_dir}",
                id="t2j.W002",
            )
        )
    return warnings
