"""Shared helpers of the sandbox tests: availability gate and host-unchanged checks."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from annotate.sandbox import uids
from annotate.sandbox.box import wait_for_teardowns


def require_sandbox() -> None:
    """Skip loudly without bubblewrap, except under CI=true where a missing sandbox must fail."""
    missing = []
    if not shutil.which("bwrap"):
        missing.append("bubblewrap (bwrap)")
    if not Path(settings.T2J_SANDBOX_VENV, "bin", "python").exists():
        missing.append(f"runtime venv {settings.T2J_SANDBOX_VENV} (run scripts/setup_sandbox.sh)")
    if os.geteuid() != 0:
        missing.append("root (needed to switch programs to a sandbox uid)")
    if missing:
        message = "SANDBOX TESTS NOT RUN: missing " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def sandbox_processes() -> dict[int, list[int]]:
    """Processes of sandbox uids that no box holds (lock free): leftovers. Uids in use by a box of
    another process (another test worker, a runner) are skipped, so the check does not race them."""
    base, count = settings.T2J_SANDBOX_UID_BASE, settings.T2J_SANDBOX_UID_COUNT
    folder = uids.lock_folder()
    found = {}
    for uid in range(base, base + count):
        lock = folder / f"{uid}.lock"
        if not lock.exists():
            continue
        fd = os.open(lock, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            # Live processes, and zombies that are ours to reap (others' are their parents' business).
            me = os.getpid()
            pids = [pid for pid, proc in uids._scan(uid).items() if not proc.zombie or proc.ppid == me]
            if pids:
                found[uid] = pids
        finally:
            os.close(fd)
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_key(name: str) -> str:
    """The compile-cache key of a test's user `name`, derived the way the web side derives keys."""
    from annotate import runs  # models: not at import, this module is loaded as a pytest plugin's helper

    return runs.cache_key(purpose=f"test-user:{name}")


def program(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


class HostSnapshot:
    """What must be the same after a hostile run: sentinel files, our children, sandbox uids idle."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel
        self.sentinel_hash = sha256(sentinel)
        self.children = _our_children()

    def assert_unchanged(self) -> None:
        assert sha256(self.sentinel) == self.sentinel_hash
        wait_for_teardowns()
        left = sandbox_processes()
        assert left == {}, _describe(left)
        assert _our_children() <= self.children


def _our_children() -> set[int]:
    me = str(os.getpid())
    children = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[1].decode() == me:
                children.add(int(name))
    return children


def _describe(found: dict[int, list[int]]) -> list[str]:
    lines = []
    for pids in found.values():
        for pid in pids:
            try:
                lines.append(open(f"/proc/{pid}/stat").read()[:120])
            except OSError:
                lines.append(f"{pid} gone")
    return lines
