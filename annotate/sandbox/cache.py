"""Per-user JAX compilation caches on the host: never shared between users, never following links.

A cache is addressed by an opaque key (inputs.check_cache_key: an HMAC the web side derives from a user's
id), so nobody can name another user's cache by a user name. Its entries are copied into the box before
the program starts and new entries are copied out afterwards; another user's box never sees them, so
nobody can plant compiled code for someone else. Each cache holds at most CACHE_CAPS; all of them together
at most T2J_COMPILE_CACHE_MAX_BYTES: writing past it deletes the least recently used caches whole (a
cache's folder mtime is its last use). Folders named by the older hashed user names are never read again
and go first.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotate.sandbox.box import CACHE_CAPS
from annotate.sandbox.inputs import check_cache_key

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,199}$")
# Cache folders: opaque keys, and the sha256[:40] of a user name that named them before (deleted by the quota).
FOLDER = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
LOCK_NAME = ".lock"


def folder_for(cache_key: str) -> Path:
    """The folder of a non-empty opaque key; raises InvalidRunInput for anything else (a name, a path)."""
    if not check_cache_key(cache_key):
        raise ValueError("the empty cache key has no folder")
    return Path(settings.T2J_COMPILE_CACHE_DIR) / cache_key


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


def load(cache_key: str) -> dict[str, str]:
    """The cache's entries, base64-encoded, within the caps; marks the cache used."""
    if not cache_key:
        return {}
    folder = folder_for(cache_key)
    found, total = {}, 0
    for entry in sorted(_regular_files(folder), key=lambda e: e.name)[: CACHE_CAPS["max_entries"]]:
        data = _read_nofollow(entry.path, CACHE_CAPS["max_entry_bytes"])
        if data is None or total + len(data) > CACHE_CAPS["max_total_bytes"]:
            continue
        total += len(data)
        found[entry.name] = base64.b64encode(data).decode("ascii")
    _mark_used(folder)
    return found


def store(cache_key: str, entries: dict[str, str]) -> int:
    """Write new entries from a box into the cache, then keep all caches within the quota (see _evict).

    Returns how many entries were kept.
    """
    if not cache_key or not entries:
        return 0
    folder = folder_for(cache_key)
    # One cache alone never exceeds the quota, so eviction can always make room without deleting it.
    max_total = min(CACHE_CAPS["max_total_bytes"], settings.T2J_COMPILE_CACHE_MAX_BYTES)
    with _exclusive():
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
            if total + len(data) > max_total:
                continue
            if _write_new(folder, name, data):
                count, total, kept = count + 1, total + len(data), kept + 1
        _mark_used(folder)
        if kept:
            _evict(keep=folder)
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


def _mark_used(folder: Path) -> None:
    # Set explicitly, in nanoseconds: the kernel stamps directory changes with a coarse clock.
    now = time.time_ns()
    try:
        os.utime(folder, ns=(now, now), follow_symlinks=False)
    except FileNotFoundError:
        pass


@dataclass(frozen=True)
class CacheFolder:
    path: Path
    last_used_ns: int
    size_bytes: int


def folders() -> list[CacheFolder]:
    """Every cache folder (no links), least recently used first."""
    root = Path(settings.T2J_COMPILE_CACHE_DIR)
    try:
        with os.scandir(root) as entries:
            found = [
                CacheFolder(root / e.name, e.stat(follow_symlinks=False).st_mtime_ns, _size(e.path))
                for e in entries
                if FOLDER.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda f: (f.last_used_ns, f.path.name))


def _size(folder: str) -> int:
    try:
        with os.scandir(folder) as entries:
            return sum(e.stat(follow_symlinks=False).st_size for e in entries if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return 0


def _evict(keep: Path | None = None) -> list[Path]:
    """Delete the least recently used caches (never `keep`) until all together hold at most
    T2J_COMPILE_CACHE_MAX_BYTES; returns the folders deleted. Called holding the cache lock."""
    quota = settings.T2J_COMPILE_CACHE_MAX_BYTES
    present = folders()
    total = sum(f.size_bytes for f in present)
    deleted = []
    for folder in present:
        if total <= quota:
            break
        if folder.path == keep:
            continue
        shutil.rmtree(folder.path, ignore_errors=True)
        total -= folder.size_bytes
        deleted.append(folder.path)
    return deleted


@contextmanager
def _exclusive() -> Iterator[None]:
    """One writer at a time across the runner's threads and the web processes' cold starts."""
    root = Path(settings.T2J_COMPILE_CACHE_DIR)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
