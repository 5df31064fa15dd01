"""Starting background jobs: a Job row people can watch, and a task on the queue that fills it in.

A worker killed mid-run cannot report its own death, so a job that stays silent longer than its kind
allows is marked failed by whoever looks next (RELIABILITY.md case 37): the pages listing jobs and every
task as it begins. Every task reports progress through `Job.advance`, which moves `updated_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.models import Job, JobQuerySet, JobStatus, System

STOPPED_MESSAGE = "The worker stopped reporting (silent for over {allowance}); start the job again to resume."
NEVER_STARTED_MESSAGE = "No worker started this job within {allowance}; is the worker running? Start the job again."
RECENT_FAILURES = timedelta(days=1)


def _llm_item_allowance() -> timedelta:
    # One LLM item can take every retry at the full timeout; longer than that with no progress means the worker died.
    return timedelta(seconds=settings.T2J_LLM_TIMEOUT_S * (settings.T2J_LLM_MAX_RETRIES + 1) + 120)


DEFAULT_SILENCE = timedelta(minutes=10)
# How long each kind of job may go without reporting progress; a callable when it depends on settings.
SILENCE_BY_KIND: dict[str, timedelta | Callable[[], timedelta]] = {
    "draft": _llm_item_allowance,  # drafting.DRAFT_JOB (drafting imports this module)
    "fixcost-estimate": _llm_item_allowance,
    "llm-compare": lambda: 2 * _llm_item_allowance(),  # one item is both orders of a pair
    "metrics": timedelta(hours=2),  # one batch reports only when it is done
}
# A queued job waits for the worker to finish what it holds, which may be a long job of another kind.
QUEUE_WAIT = timedelta(hours=3)


def silence_allowed(kind: str) -> timedelta:
    allowance = SILENCE_BY_KIND.get(kind, DEFAULT_SILENCE)
    return allowance() if callable(allowance) else allowance


def fail_silent_jobs(now: datetime | None = None) -> int:
    """Mark queued or running jobs silent for longer than their kind allows as failed; how many were."""
    now = now or timezone.now()
    shortest = min([DEFAULT_SILENCE, *(silence_allowed(kind) for kind in SILENCE_BY_KIND)])
    if not Job.objects.active().filter(updated_at__lt=now - shortest).exists():
        return 0  # the usual case, checked in one query: pages that poll every second call this
    failed = 0
    rules = [(Q(kind=kind), silence_allowed(kind)) for kind in SILENCE_BY_KIND]
    rules.append((~Q(kind__in=list(SILENCE_BY_KIND)), DEFAULT_SILENCE))
    for kind_filter, allowance in rules:
        queue_wait = max(allowance, QUEUE_WAIT)
        of_kind = Job.objects.filter(kind_filter)
        running = of_kind.filter(status=JobStatus.RUNNING, updated_at__lt=now - allowance)
        queued = of_kind.filter(status=JobStatus.QUEUED, updated_at__lt=now - queue_wait)
        failed += _fail(running, STOPPED_MESSAGE.format(allowance=_minutes(allowance)), now)
        failed += _fail(queued, NEVER_STARTED_MESSAGE.format(allowance=_minutes(queue_wait)), now)
    return failed


def _fail(silent: JobQuerySet, message: str, now: datetime) -> int:
    # One conditional UPDATE: a job that reported progress a moment ago no longer matches and is left alone.
    return silent.update(status=JobStatus.FAILED, message=message, updated_at=now)


def for_dashboard(now: datetime | None = None) -> JobQuerySet:
    """Active jobs and those that failed recently, so a job the worker dropped is seen failed, not gone."""
    now = now or timezone.now()
    fail_silent_jobs(now)
    recent_failure = Q(status=JobStatus.FAILED, updated_at__gte=now - RECENT_FAILURES)
    return Job.objects.filter(Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]) | recent_failure)


def _minutes(allowance: timedelta) -> str:
    minutes = round(allowance.total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def start_job(kind: str, task, *, system: System | None = None, user=None, total: int = 0, **params) -> Job:
    """Create the Job and enqueue `task(job_id)` once the row is committed (the worker must see it)."""
    job = Job.objects.create(kind=kind, system=system, created_by=user, total=total, params=params)
    transaction.on_commit(lambda: task.enqueue(job.pk))
    return job


def request_cancel(job: Job) -> None:
    """Ask a running job to stop; the task checks the flag between items."""
    if job.is_active:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        job.refresh_from_db()


def begin(job_id: int) -> Job | None:
    """Mark a queued job running; None when it was cancelled before it started or is no longer queued."""
    job = Job.objects.get(pk=job_id)
    if job.status != JobStatus.QUEUED:
        # Failed as silent while it waited (or already run): running it now would revive a row people saw fail.
        return None
    if job.cancel_requested:
        job.finish(JobStatus.CANCELLED, "Cancelled before it started.")
        return None
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status", "updated_at"])
    # This worker is alive; any other job still marked running or long queued lost its worker.
    fail_silent_jobs()
    return job


def cancelled(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()
