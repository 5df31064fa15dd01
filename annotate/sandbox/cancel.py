"""Stopping a run on request: the runs in flight in this process, by the opaque cancel key of their job.

A run is watched from before its box starts until its result is back (`watching`); `stop(key)` sets the stop flag
of every run of that key, and the box's supervisor (box.py) kills the box within one watchdog period. The key is
an HMAC the web side derives (annotate.runs.cancel_key): knowing it is the permission, so it never names a user.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# What a stopped run reports as its exception message (status "killed"); the web side recognises stops by it.
STOPPED_MESSAGE = "stopped on request before it ended"

_lock = threading.Lock()
_flags: dict[str, set[threading.Event]] = {}


@contextmanager
def watching(key: str) -> Iterator[threading.Event]:
    """A stop flag for one run of `key` ("" : a run nobody can stop, the flag is never set)."""
    flag = threading.Event()
    if not key:
        yield flag
        return
    with _lock:
        _flags.setdefault(key, set()).add(flag)
    try:
        yield flag
    finally:
        with _lock:
            flags = _flags.get(key)
            if flags is not None:
                flags.discard(flag)
                if not flags:
                    del _flags[key]


def stop(key: str) -> int:
    """Ask every run of `key` in this process to stop; how many were running."""
    if not key:
        return 0
    with _lock:
        flags = list(_flags.get(key, ()))
    for flag in flags:
        flag.set()
    return len(flags)
