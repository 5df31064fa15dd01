"""Runs one validated job in a box (a warm one when given, else a cold start) with its compile cache."""

from __future__ import annotations

import threading

from annotate.sandbox import cache, cancel
from annotate.sandbox.box import Box, Refused, reduced_allowed
from annotate.sandbox.inputs import Job
from annotate.sandbox.limits import Limits
from annotate.sandbox.result import RunResult

# Kinds whose programs use jax and so profit from the user's compilation cache.
CACHED_KINDS = ("jax", "contract")


def execute(job: Job, box: Box | None = None) -> RunResult:
    """A warm `box` must already be ready; without one a cold box is started for the job.

    From here to its result the run can be stopped by its cancel key (annotate.sandbox.cancel.stop), also while a
    cold box is still starting: the box is then killed as soon as it has the program.
    """
    with cancel.watching(job.cancel_key) as stop:
        return _execute(job, box, stop)


def _execute(job: Job, box: Box | None, stop: threading.Event) -> RunResult:
    cache_enabled = bool(job.cache_key) and job.kind in CACHED_KINDS
    entries = cache.load(job.cache_key) if cache_enabled else {}
    if box is None:
        try:
            box = cold_box(job.limits)
        except Refused as exc:
            return RunResult.refused(str(exc))
    try:
        result, new_entries = box.execute(job, entries, cache_enabled, stop)
    except BaseException:
        box.destroy()
        raise
    if cache_enabled:
        cache.store(job.cache_key, new_entries)
    return result


def cold_box(limits: Limits) -> Box:
    """A started, self-checked box; with T2J_SANDBOX_ISOLATION=reduced, a reduced one when full fails."""
    box = Box(limits)
    try:
        box.start()
        box.wait_ready()
        return box
    except Refused:
        if not (reduced_allowed() and box.isolation == "full"):
            raise
    box = Box(limits, isolation="reduced")
    box.start()
    box.wait_ready()
    return box
