"""Leases of unprivileged host uids: one uid per live box, exclusive across every process on the machine.

A lease is an flock on `<lock folder>/<uid>.lock`. The lock folder is machine-wide (T2J_SANDBOX_UID_LOCK_DIR,
by default under /run), never inside a data folder: two installations (checkouts, test suites, a second
instance) using the same uid range must see each other's leases. A free lock is not enough to take a uid:
a uid whose processes no lease holds (an older installation locking elsewhere, a leftover no teardown could
kill) is skipped and reported, never killed; only the holder of a lease kills under its uid.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import NamedTuple

from django.conf import settings

log = logging.getLogger(__name__)
PR_SET_CHILD_SUBREAPER = 36
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_LOCK_DIR = "/run/t2j-sandbox-uids"
_subreaper = False
# uid -> pids of processes found under it with no lease of ours held: what /health reports.
_skipped: dict[int, list[int]] = {}
_skipped_lock = threading.Lock()


class LeaseError(RuntimeError):
    """No uid can be leased; the message says why (the box is refused, never run)."""


class NoFreeUid(LeaseError):
    pass


class UnsafeLockFolder(LeaseError):
    pass


class UidLease:
    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            kill_uid(self.uid)  # ours to kill: we still hold the lease
            os.close(self._fd)
            self._fd = -1


def lock_folder() -> Path:
    """T2J_SANDBOX_UID_LOCK_DIR; unset, /run/t2j-sandbox-uids, or /tmp/t2j-sandbox-uids-<euid> where /run is not
    writable (then only processes of the same user share it; a non-root process cannot switch uids anyway)."""
    if settings.T2J_SANDBOX_UID_LOCK_DIR:
        return Path(settings.T2J_SANDBOX_UID_LOCK_DIR)
    if os.access(Path(DEFAULT_LOCK_DIR).parent, os.W_OK):
        return Path(DEFAULT_LOCK_DIR)
    return Path(f"/tmp/t2j-sandbox-uids-{os.geteuid()}")


def _open_lock_folder() -> int:
    """An fd of the lock folder (made 0700 when missing), after checking nobody else can change its contents.

    Anyone able to write into it could hold or fake every lease, or plant links where the lock files go;
    anyone able to rename it away (a shared parent without the sticky bit) could swap it. Lock files are
    then opened relative to this fd, so a later swap of the path does not matter.
    """
    path = lock_folder()
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeLockFolder(f"cannot create the sandbox uid lock folder {path}: {exc.strerror}") from exc
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafeLockFolder(f"sandbox uid lock folder {path} is not a plain folder: {exc.strerror}") from exc
    try:
        _check_owned_and_private(path, os.fstat(fd))
        _check_parent(path)
    except UnsafeLockFolder:
        os.close(fd)
        raise
    return fd


def _check_owned_and_private(path: Path, info: os.stat_result) -> None:
    me = os.geteuid()
    if info.st_uid != me or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeLockFolder(
            f"sandbox uid lock folder {path} is owned by uid {info.st_uid} with mode {stat.S_IMODE(info.st_mode):o}; "
            f"it must be owned by uid {me} and writable by nobody else (remove it, or set T2J_SANDBOX_UID_LOCK_DIR)"
        )


def _check_parent(path: Path) -> None:
    info = os.stat(path.parent)
    shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not info.st_mode & stat.S_ISVTX:
        raise UnsafeLockFolder(
            f"sandbox uid lock folder {path} sits in {path.parent}, which others may write without the sticky bit"
        )


def lease() -> UidLease:
    """Lock a free uid of the range on which nothing runs. Raises NoFreeUid or UnsafeLockFolder."""
    base, count = settings.T2J_SANDBOX_UID_BASE, settings.T2J_SANDBOX_UID_COUNT
    folder = _open_lock_folder()
    try:
        for uid in range(base, base + count):
            fd = _open_lock_file(folder, uid)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            found = _unleased_processes(uid)
            _note_skipped(uid, found)
            if found:
                os.close(fd)
                continue
            return UidLease(uid, fd)
    finally:
        os.close(folder)
    raise NoFreeUid(_busy_message(base, count))


def _open_lock_file(folder: int, uid: int) -> int:
    try:
        return os.open(f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder)
    except OSError as exc:  # e.g. a link where the lock file belongs
        raise UnsafeLockFolder(f"cannot open the lease file of sandbox uid {uid}: {exc.strerror}") from exc


def _unleased_processes(uid: int) -> list[int]:
    """Live processes of a uid whose lease we just took: nobody's lease holds them. Our zombies are reaped."""
    found = _scan(uid)
    me = os.getpid()
    _reap([pid for pid, proc in found.items() if proc.zombie and proc.ppid == me])
    return sorted(pid for pid, proc in found.items() if not proc.zombie)


def _note_skipped(uid: int, pids: list[int]) -> None:
    with _skipped_lock:
        before = _skipped.pop(uid, None)
        if pids:
            _skipped[uid] = pids
    if pids and before != pids:
        log.warning(
            "sandbox uid %s skipped: processes %s run under it without a lease (another installation "
            "locking elsewhere, or a leftover); they are left alone",
            uid,
            pids,
        )


def skipped_uids() -> dict[int, list[int]]:
    """uid -> pids: uids of our range that the last lease attempts skipped because unleased processes ran there."""
    with _skipped_lock:
        return {uid: list(pids) for uid, pids in sorted(_skipped.items())}


def _busy_message(base: int, count: int) -> str:
    skipped = {uid: pids for uid, pids in skipped_uids().items() if base <= uid < base + count}
    message = f"all {count} sandbox uids are busy"
    if skipped:
        listed = ", ".join(f"{uid} (pids {' '.join(map(str, pids[:5]))})" for uid, pids in skipped.items())
        message += f"; {len(skipped)} of them run processes no lease holds: {listed}"
    return message


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
    """SIGKILL every process of `uid` (setsid daemons included) until none is left; reap our zombies.

    Only for a uid whose lease this process holds: whatever else runs under it is nobody else's.
    """
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
