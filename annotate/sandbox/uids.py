"""Leases of unprivileged host uids: one uid per live box, exclusive across processes (flock)."""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import time
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

PR_SET_CHILD_SUBREAPER = 36
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
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


class Process(NamedTuple):
    rss: int  # resident bytes
    zombie: bool
    ppid: int
    cpu_s: float  # user + system time, of its threads and of its reaped children


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 16384)
    except OSError:
        return None
    finally:
        os.close(fd)


def _field(status: bytes, name: bytes) -> list[bytes]:
    start = status.find(b"\n" + name + b":")
    if start < 0:
        return []
    end = status.find(b"\n", start + 1)
    return status[start + len(name) + 2 : end if end >= 0 else None].split()


def _cpu_seconds(pid: str) -> float:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return 0.0
    # Fields after the command name (which may contain anything) start at field 3; utime, stime, cutime
    # and cstime are fields 14 to 17.
    fields = stat.rsplit(b")", 1)[-1].split()
    try:
        return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    except ValueError:
        return 0.0


def _scan(uid: int) -> dict[int, Process]:
    """The processes whose real, effective or saved uid is `uid`, by pid.

    Reads /proc/PID/status rather than the owner of /proc/PID, which a program can turn to root by
    making itself non-dumpable. Kept cheap: the watchdog calls it every few tens of milliseconds.
    """
    found = {}
    wanted = str(uid).encode("ascii")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        status = _read(f"/proc/{name}/status")
        if status is None or wanted not in _field(status, b"Uid")[:3]:
            continue
        state, ppid, rss = _field(status, b"State"), _field(status, b"PPid"), _field(status, b"VmRSS")
        found[int(name)] = Process(
            rss=int(rss[0]) * 1024 if rss else 0,
            zombie=bool(state) and state[0] in (b"Z", b"X"),
            ppid=int(ppid[0]) if ppid else 0,
            cpu_s=_cpu_seconds(name),
        )
    return found


def processes_of_uid(uid: int, include_zombies: bool = False) -> dict[int, Process]:
    """The processes of `uid` by pid (zombies only when asked)."""
    return {pid: proc for pid, proc in _scan(uid).items() if include_zombies or not proc.zombie}


def usage_of_uid(uid: int) -> tuple[int, float]:
    """(resident bytes, CPU seconds) summed over the live processes of `uid`."""
    live = processes_of_uid(uid).values()
    return sum(proc.rss for proc in live), sum(proc.cpu_s for proc in live)


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
        _reap([pid for pid, proc in found.items() if proc.zombie])
        me = os.getpid()
        # Left: live processes, and zombies we must reap (ours; bwrap's init is re-parented to us).
        pids = [pid for pid, proc in found.items() if not proc.zombie or proc.ppid == me]
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
