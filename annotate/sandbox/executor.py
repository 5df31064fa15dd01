"""Runs one validated program in a box (a warm one when given, else a cold start) with the user's cache."""

from __future__ import annotations

from annotate.sandbox import cache
from annotate.sandbox.box import Box, Refused, reduced_allowed
from annotate.sandbox.limits import Limits
from annotate.sandbox.result import RunResult

# Kinds whose programs use jax and so profit from the user's compilation cache.
CACHED_KINDS = ("jax", "contract")


def execute(
    code: str, kind: str, user_key: str, files: dict[str, str], limits: Limits, box: Box | None = None
) -> RunResult:
    """`files` are already validated and base64-encoded. A warm `box` must already be ready."""
    cache_enabled = bool(user_key) and kind in CACHED_KINDS
    entries = cache.load(user_key) if cache_enabled else {}
    if box is None:
        try:
            box = cold_box(limits)
        except Refused as exc:
            return RunResult.refused(str(exc))
    try:
        result, new_entries = box.execute(code, files, entries, limits, cache_enabled)
    except BaseException:
        box.destroy()
        raise
    if cache_enabled:
        cache.store(user_key, new_entries)
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
