"""Leases of unprivileged host uids: one uid per live box, exclusive across processes (flock)."""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import time
from pathlib import Path

from django.conf import settings

PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


class NoFreeUid(RuntimeError):
    pass


class UidLease:
    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            kill_uid(self.uid)
            os.close(self._fd)
            self._fd = -1


def _lock_dir() -> Path:
    path = Path(settings.DATA_DIR) / "sandbox-uids"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def lease() -> UidLease:
    """Lock a free uid of the range and make sure nothing of an earlier holder still runs under it."""
    base, count = settings.T2J_SANDBOX_UID_BASE, settings.T2J_SANDBOX_UID_COUNT
    folder = _lock_dir()
    for uid in range(base, base + count):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        kill_uid(uid)
        return UidLease(uid, fd)
    raise NoFreeUid(f"all {count} sandbox uids are busy")


def _scan(uid: int) -> dict[int, tuple[int, bool, int]]:
    """{pid: (resident bytes, is zombie, parent pid)} of processes whose real, effective or saved uid is `uid`.

    Reads /proc/PID/status rather than the owner of /proc/PID, which a program can turn to root by
    making itself non-dumpable.
    """
    found = {}
    wanted = str(uid)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                text = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        uid_line, rss, zombie, ppid = None, 0, False, 0
        for line in text.splitlines():
            if line.startswith("State:"):
                zombie = line.split()[1] in ("Z", "X")
            elif line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("Uid:"):
                uid_line = line.split()[1:4]
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        if uid_line and wanted in uid_line:
            found[int(name)] = (rss, zombie, ppid)
    return found


def processes_of_uid(uid: int, include_zombies: bool = False) -> dict[int, int]:
    """{pid: resident bytes} of the processes of `uid` (zombies only when asked)."""
    return {pid: rss for pid, (rss, zombie, _) in _scan(uid).items() if include_zombies or not zombie}


def pids_of_uid(uid: int) -> list[int]:
    return list(processes_of_uid(uid))


def become_subreaper() -> None:
    """Orphans of our boxes (e.g. bwrap's PID-namespace init) become our children, so we can reap them."""
    global _subreaper
    if not _subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _subreaper = True


def _reap(pids: list[int]) -> None:
    # Only the given pids: a blanket waitpid(-1) would steal other code's children.
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def kill_uid(uid: int, timeout_s: float = 5.0) -> bool:
    """SIGKILL every process of `uid` (setsid daemons included) until none is left; reap our zombies."""
    if uid == 0:
        raise ValueError("refusing to kill uid 0")
    deadline = time.monotonic() + timeout_s
    while True:
        found = _scan(uid)
        _reap([pid for pid, (_, zombie, _) in found.items() if zombie])
        me = os.getpid()
        # Left: live processes, and zombies we must reap (ours; bwrap's init is re-parented to us).
        pids = [pid for pid, (_, zombie, ppid) in found.items() if not zombie or ppid == me]
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # harmless on our own zombies
            except ProcessLookupError:
                pass
        time.sleep(0.01)
