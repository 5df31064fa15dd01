"""Uploaded files waiting between preview and confirm: private files outside anything the web server serves.

The session holds only a random token; the bytes stay in DATA_DIR/import-staging (0600), so a 50 MB upload
does not ride in the session row, and a confirm re-checks the same bytes it previewed.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from django.conf import settings

MAX_AGE_S = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def staging_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "import-staging"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def stage(data: bytes) -> str:
    _remove_old()
    token = secrets.token_hex(16)
    fd = os.open(staging_dir() / f"{token}.upload", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return token


def load(token: str) -> bytes | None:
    """The staged bytes, or None when the token is malformed, unknown or expired."""
    if not _TOKEN.match(token or ""):
        return None
    try:
        return (staging_dir() / f"{token}.upload").read_bytes()
    except FileNotFoundError:
        return None


def discard(token: str) -> None:
    if _TOKEN.match(token or ""):
        (staging_dir() / f"{token}.upload").unlink(missing_ok=True)


def _remove_old() -> None:
    cutoff = time.time() - MAX_AGE_S
    for path in staging_dir().glob("*.upload"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass
