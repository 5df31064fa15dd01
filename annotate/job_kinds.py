"""The kinds of background job: what the Jobs page calls each, and how "Retry" starts one again.

The task modules register their kinds (annotate/tasks.py, evaluate/tasks.py), since domain code never
imports tasks; a kind nobody registered shows under its own name and cannot be retried from the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotate.models import Job


class JobProblem(ValueError):
    """A job that cannot be started again; the message says why."""


@dataclass(frozen=True)
class JobKind:
    label: str
    restart: Callable[[Job, object], Job | None] | None = None  # (job, user) -> the new job


_KINDS: dict[str, JobKind] = {}


def register(kind: str, label: str, restart: Callable[[Job, object], Job | None] | None = None) -> None:
    _KINDS[kind] = JobKind(label, restart)


def label(kind: str) -> str:
    return _KINDS[kind].label if kind in _KINDS else kind


def can_retry(job: Job) -> bool:
    kind = _KINDS.get(job.kind)
    return not job.is_active and kind is not None and kind.restart is not None


def retry(job: Job, user) -> Job:
    """A new job of the same kind with the same settings; JobProblem when that cannot be (the restart's own
    errors, e.g. nothing left to draft, are ValueErrors with a message too)."""
    if job.is_active:
        raise JobProblem("This job is still queued or running; cancel it first.")
    if not can_retry(job):
        raise JobProblem(f"A {label(job.kind)} job cannot be started again from here.")
    new = _KINDS[job.kind].restart(job, user)
    if new is None:
        raise JobProblem(f"A {label(job.kind)} job is already queued or running.")
    return new
