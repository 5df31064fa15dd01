"""Pre-started single-use boxes that already imported what their kind of program needs: one pool per run
kind (jax: jax with its CPU backend initialised; pytorch: torch; contract: both and the contract helpers),
each sized by its setting (see pools_from_settings).

Boxes are spawned by ONE long-lived thread: bubblewrap's --die-with-parent fires when the thread that
forked it ends, so a box forked by a short-lived request thread would die with that request.
Nothing is forked after JAX initialised (that hangs): every box is a fresh bwrap + interpreter.
A replacement's jax import takes a core for a second or so; while other boxes are ready, it waits for the
run it replaces to end (up to REFILL_GRACE_S), so that short runs do not share the CPU with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from annotate.sandbox.box import Box, Refused
from annotate.sandbox.limits import Limits

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE_S = 5.0
REFILL_GRACE_S = 1.0


class WarmPool:
    def __init__(self, size: int, preload: list[str], limits: Limits | None = None) -> None:
        self.size = size
        self.preload = list(preload)
        # Started under the ceiling (the longest time limits a sample may get); each job lowers its own.
        self.limits = limits or Limits.ceiling()
        self._ready: deque[Box] = deque()
        self._starting = 0
        self._lent: dict[Box, float] = {}  # boxes running a program -> when they were lent
        self._cond = threading.Condition()
        self._stopped = False
        self.last_error = ""
        self._retry_at = 0.0
        self._spawner = threading.Thread(target=self._spawn_loop, name="sandbox-pool-spawner", daemon=True)

    def start(self) -> WarmPool:
        self._spawner.start()
        return self

    @property
    def ready_count(self) -> int:
        with self._cond:
            return len(self._ready)

    @property
    def starting_count(self) -> int:
        with self._cond:
            return self._starting

    @property
    def running_count(self) -> int:
        with self._cond:
            return len(self._lent)

    def wait_until_full(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    @contextmanager
    def lend(self, timeout: float = 10.0) -> Iterator[Box | None]:
        """A ready box (removed from the pool) for one run, waiting up to `timeout` while one is starting; else
        None. Its replacement starts by the end of the block at the latest."""
        box = self._acquire(timeout)
        try:
            yield box
        finally:
            if box is not None:
                with self._cond:
                    self._lent.pop(box, None)
                    self._cond.notify_all()

    def _acquire(self, timeout: float) -> Box | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready:
                left = deadline - time.monotonic()
                broken = self._starting == 0 and bool(self.last_error)
                if self._stopped or self.size == 0 or broken or left <= 0:
                    return None
                self._cond.wait(min(left, 0.5))
            box = self._ready.popleft()
            self._lent[box] = time.monotonic()
            self._cond.notify_all()  # wake the spawner to refill
            return box

    def stop(self, timeout: float = 30.0) -> None:
        """Destroy every box, including those still starting, before returning."""
        with self._cond:
            self._stopped = True
            boxes = list(self._ready)
            self._ready.clear()
            self._cond.notify_all()
        for box in boxes:
            box.destroy()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._starting > 0 and time.monotonic() < deadline:
                self._cond.wait(0.1)
        if self._spawner.is_alive():
            self._spawner.join(max(0.0, deadline - time.monotonic()))

    def _spawn_loop(self) -> None:
        while True:
            with self._cond:
                while (wait := self._refill_wait_s()) != 0:
                    self._cond.wait(wait)
                if self._stopped:
                    return
                self._starting += 1
            box = Box(self.limits, self.preload)
            try:
                box.start()
            except Refused as exc:
                self._failed(box, str(exc))
                continue
            threading.Thread(target=self._await_ready, args=(box,), daemon=True).start()

    def _refill_wait_s(self) -> float | None:
        """0 when the spawner should act now, else how long it may sleep (None: until notified)."""
        if self._stopped:
            return 0
        if len(self._ready) + self._starting >= self.size:
            return None
        now = time.monotonic()
        if now < self._retry_at:
            return self._retry_at - now
        if self._lent and (self._ready or self._starting):
            # Something is ready or coming: the other replacements wait for their runs to end.
            until = min(self._lent.values()) + REFILL_GRACE_S
            if now < until:
                return until - now
        return 0

    def _await_ready(self, box: Box) -> None:
        try:
            box.wait_ready()
        except Refused as exc:
            self._failed(box, str(exc))
            return
        with self._cond:
            self._starting -= 1
            self.last_error = ""
            if self._stopped:
                box.destroy()
            else:
                self._ready.append(box)
            self._cond.notify_all()

    def _failed(self, box: Box, reason: str) -> None:
        box.destroy()
        with self._cond:
            if not self._stopped:
                log.warning("warm sandbox failed to start: %s", reason)
            self.last_error = reason
            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_S
            self._starting -= 1
            self._cond.notify_all()


# Per run kind: (setting of the pool size, setting of what its boxes import before they are ready).
POOL_SETTINGS = {
    "jax": ("T2J_RUNNER_POOL_SIZE", "T2J_RUNNER_PRELOAD"),
    "pytorch": ("T2J_RUNNER_POOL_SIZE_PYTORCH", "T2J_RUNNER_PRELOAD_PYTORCH"),
    "contract": ("T2J_RUNNER_POOL_SIZE_CONTRACT", "T2J_RUNNER_PRELOAD_CONTRACT"),
}


def pools_from_settings(sizes: dict[str, int] | None = None) -> dict[str, WarmPool]:
    """A started pool per run kind, sized by settings unless `sizes` says otherwise; kinds sized 0 get none."""
    pools = {}
    for kind, (size_setting, preload_setting) in POOL_SETTINGS.items():
        size = (sizes or {}).get(kind, getattr(settings, size_setting))
        if size > 0:
            pools[kind] = WarmPool(size, list(getattr(settings, preload_setting))).start()
    return pools
