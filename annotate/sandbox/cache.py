"""Per-user JAX compilation caches on the host: never shared between users, never following links.

A user's entries are copied into their box before the program starts and new entries are copied out
afterwards. Another user's box never sees them, so nobody can plant compiled code for someone else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from pathlib import Path

from django.conf import settings

from annotate.sandbox.box import CACHE_CAPS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,199}$")


def folder_for(user_key: str) -> Path:
    # Hashed so that no user key can name a path of its own.
    digest = hashlib.sha256(user_key.encode("utf-8")).hexdigest()[:40]
    return Path(settings.T2J_COMPILE_CACHE_DIR) / digest


def _regular_files(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if NAME.match(e.name) and e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _read_nofollow(path: str, cap: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(cap + 1)
    return data if len(data) <= cap else None


def load(user_key: str) -> dict[str, str]:
    """The user's cache entries, base64-encoded, within the caps."""
    if not user_key:
        return {}
    found, total = {}, 0
    for entry in sorted(_regular_files(folder_for(user_key)), key=lambda e: e.name)[: CACHE_CAPS["max_entries"]]:
        data = _read_nofollow(entry.path, CACHE_CAPS["max_entry_bytes"])
        if data is None or total + len(data) > CACHE_CAPS["max_total_bytes"]:
            continue
        total += len(data)
        found[entry.name] = base64.b64encode(data).decode("ascii")
    return found


def store(user_key: str, entries: dict[str, str]) -> int:
    """Write new entries from a box into the user's cache; returns how many were kept."""
    if not user_key or not entries:
        return 0
    folder = folder_for(user_key)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = _regular_files(folder)
    count = len(existing)
    total = sum(e.stat(follow_symlinks=False).st_size for e in existing)
    kept = 0
    for name, encoded in entries.items():
        if not isinstance(name, str) or not NAME.match(name) or not isinstance(encoded, str):
            continue
        try:
            data = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            continue
        if count >= CACHE_CAPS["max_entries"] or len(data) > CACHE_CAPS["max_entry_bytes"]:
            continue
        if total + len(data) > CACHE_CAPS["max_total_bytes"]:
            continue
        if _write_new(folder, name, data):
            count, total, kept = count + 1, total + len(data), kept + 1
    return kept


def _write_new(folder: Path, name: str, data: bytes) -> bool:
    temp = folder / f"~{name}.{os.getpid()}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, folder / name)
    return True
