"""The runner's token: every /run request must carry it (`Authorization: Bearer <token>`), else 401.

T2J_RUNNER_TOKEN when set; it is required when the web app and its runner are on different hosts. Without
it, a runner and a web app on one host share a random token in T2J_RUNNER_TOKEN_FILE (under DATA_DIR), made
0600 by whichever of them needs it first and read by the other.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path

from django.conf import settings

MIN_LENGTH = 32  # as settings.MIN_RUNNER_TOKEN_LENGTH
MAX_FILE_BYTES = 4096


class RunnerTokenError(RuntimeError):
    """No usable token; the message says why and what to do."""


def is_loopback(host: str | None) -> bool:
    """Whether `host` (an address or "localhost") can only be reached from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def runner_token() -> str:
    """T2J_RUNNER_TOKEN, else the token of T2J_RUNNER_TOKEN_FILE (created on first use). Raises RunnerTokenError."""
    if settings.T2J_RUNNER_TOKEN:
        return settings.T2J_RUNNER_TOKEN
    path = Path(settings.T2J_RUNNER_TOKEN_FILE)
    try:
        try:
            return _read(path)
        except FileNotFoundError:
            _create(path)
            return _read(path)
    except OSError as exc:
        raise RunnerTokenError(
            f"cannot use the runner token file {path} ({exc.strerror or exc}): run the web app and the runner as "
            "the same user, or set T2J_RUNNER_TOKEN on both sides"
        ) from exc


def _create(path: Path) -> None:
    """Publish a new token at `path` unless one is there already; readers never see a half-written file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temp, path)  # atomic and never overwrites: when two sides race, the first token wins
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RunnerTokenError(f"the runner token file {path} is not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise RunnerTokenError(
                f"the runner token file {path} has mode {stat.S_IMODE(mode):o}: other users could read the "
                f"token and run programs; chmod 600 {path}"
            )
        token = handle.read(MAX_FILE_BYTES).decode("ascii", "replace").strip()
    if len(token) < MIN_LENGTH or not token.isprintable():
        raise RunnerTokenError(
            f"the runner token file {path} holds no usable token (at least {MIN_LENGTH} printable characters); "
            "delete it and restart the runner to make a new one"
        )
    return token
