"""Starting background jobs: a Job row people can watch, and a task on the queue that fills it in."""

from __future__ import annotations

from django.db import transaction

from annotate.models import Job, JobStatus, System


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
    """Mark a queued job running; None when it was cancelled before it started."""
    job = Job.objects.get(pk=job_id)
    if job.cancel_requested:
        job.finish(JobStatus.CANCELLED, "Cancelled before it started.")
        return None
    job.status = JobStatus.RUNNING
    job.save(update_fields=["status", "updated_at"])
    return job


def cancelled(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()
