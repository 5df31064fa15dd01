"""Starting background jobs: a Job row people can watch, and a task on the queue that fills it in.

A worker killed mid-run cannot report its own death (RELIABILITY.md case 37). Workers started with
`manage.py run_worker` write a heartbeat (annotate.workers); a job whose worker is gone — silent for three
heartbeats, or stopped without finishing it — is found by whoever looks next: the pages listing jobs, every
task as it begins, and every live worker's heartbeat. It is re-queued once ("worker lost", noted in its
params) for another worker to run from the start (every task is resumable: drafting skips what is drafted);
lost a second time, or without a queue row to put back, it is marked failed together with its queue row.
A job run by no known worker (a plain `db_worker`) is failed once it stays silent longer than its kind allows;
every task reports progress through `Job.advance`, which moves `updated_at`. A job on a live worker is never
failed for silence: its worker is alive, and so is the task.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db import transaction
from django.db.models import IntegerField, Q, Value
from django.utils import timezone

from annotate import workers
from annotate.models import Job, JobQuerySet, JobStatus, System, Worker, WorkerQuerySet

LOST = "Worker lost: the {worker} running this job {how}."
WORKER_LOST_MESSAGE = LOST + " Start the job again to resume."
REQUEUED_MESSAGE = LOST + " Re-queued for another worker (attempt {attempt} of {attempts})."
# A job runs at most this many times when workers are lost under it: once more after a crash, not for ever
# (a job that kills every worker running it, e.g. by exhausting memory, must stop doing so).
MAX_ATTEMPTS = 2
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
    """Mark failed the jobs of gone workers and the queued or running jobs of no live worker that stayed
    silent for longer than their kind allows; how many were."""
    now = now or timezone.now()
    # Jobs of a live worker are left alone: its heartbeat says the process, and so the task, still runs.
    silent = Job.objects.active().exclude(worker__in=Worker.objects.alive(now))
    rules = [(Q(kind=kind), silence_allowed(kind)) for kind in SILENCE_BY_KIND]
    rules.append((~Q(kind__in=list(SILENCE_BY_KIND)), DEFAULT_SILENCE))
    one = Value(1, output_field=IntegerField())
    # Exactly the jobs the rules below fail, not merely old ones: a job that waits in the queue behind a long
    # one (for up to QUEUE_WAIT) must not cost every page that polls every second a dozen UPDATEs.
    overdue = [kind & (_overdue_running(allowance, now) | _overdue_queued(allowance, now)) for kind, allowance in rules]
    any_overdue = silent.filter(reduce(operator.or_, overdue))
    if not any_overdue.values_list(one).union(_unswept(now).values_list(one)).exists():
        return 0  # the usual case, checked in one query
    failed = fail_jobs_of_gone_workers(now)
    for kind_filter, allowance in rules:
        of_kind = silent.filter(kind_filter)
        running = of_kind.filter(_overdue_running(allowance, now))
        queued = of_kind.filter(_overdue_queued(allowance, now))
        failed += _fail(running, STOPPED_MESSAGE.format(allowance=_minutes(allowance)), now)
        failed += _fail(queued, NEVER_STARTED_MESSAGE.format(allowance=_minutes(_queue_wait(allowance))), now)
    return failed


def _queue_wait(allowance: timedelta) -> timedelta:
    return max(allowance, QUEUE_WAIT)


def _overdue_running(allowance: timedelta, now: datetime) -> Q:
    return Q(status=JobStatus.RUNNING, updated_at__lt=now - allowance)


def _overdue_queued(allowance: timedelta, now: datetime) -> Q:
    return Q(status=JobStatus.QUEUED, updated_at__lt=now - _queue_wait(allowance))


def fail_jobs_of_gone_workers(now: datetime | None = None) -> int:
    """Re-queue once, else mark failed with their queue rows, the jobs of workers that went silent for
    Worker.LOST_AFTER_BEATS heartbeats or stopped without finishing them; each gone worker is swept once.
    How many jobs were re-queued or failed."""
    now = now or timezone.now()
    if not _unswept(now).exists():
        return 0  # checked outside a transaction: on SQLite a transaction takes the write lock
    handled = 0
    with transaction.atomic():
        for worker in _unswept(now).select_for_update():
            handled += _sweep(worker, now)
            Worker.objects.filter(pk=worker.pk).update(swept_at=now)
    return handled


def _sweep(worker: Worker, now: datetime) -> int:
    """Re-queue or fail what `worker` left (inside the caller's transaction); how many jobs."""
    how = _how_lost(worker, now)
    row_ids = workers.running_queue_rows(worker.pk)
    # Also a job whose worker claimed its queue row and died before the task could record the worker.
    left = Job.objects.active().filter(Q(worker=worker) | Q(task_id__in=row_ids))
    # Only a job whose queue row can be put back runs again; a cancelled one is not revived.
    again = list(left.filter(task_id__in=row_ids, attempt__lt=MAX_ATTEMPTS, cancel_requested=False))
    for job in again:
        _requeue(job, worker, how, now)
    requeued_rows = {job.task_id for job in again}
    workers.requeue_queue_rows(list(requeued_rows))
    message = WORKER_LOST_MESSAGE.format(worker=worker, how=how)
    workers.fail_queue_rows([row for row in row_ids if row not in requeued_rows], message, now)
    return len(again) + _fail(left.exclude(pk__in=[job.pk for job in again]), message, now)


def _requeue(job: Job, worker: Worker, how: str, now: datetime) -> None:
    attempt = job.attempt + 1
    # Counts restart with the run: every task begins again at its first item (done ones are counted as skipped).
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.QUEUED,
        worker=None,
        attempt=attempt,
        done=0,
        failed=0,
        message=REQUEUED_MESSAGE.format(worker=worker, how=how, attempt=attempt, attempts=MAX_ATTEMPTS),
        # The note stays when the next run's progress replaces the message.
        params={**job.params, "worker_lost": [*job.params.get("worker_lost", []), LOST.format(worker=worker, how=how)]},
        updated_at=now,
    )


def _unswept(now: datetime) -> WorkerQuerySet:
    return Worker.objects.gone(now).filter(swept_at__isnull=True)


def _how_lost(worker: Worker, now: datetime) -> str:
    if worker.stopped_at is not None:
        return "stopped before it finished"
    silent_s = (now - worker.last_seen).total_seconds()
    return f"sent no heartbeat for {silent_s:.0f} s (it beats every {worker.heartbeat_s:g} s)"


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
    transaction.on_commit(lambda: _enqueue(task, job))
    return job


def _enqueue(task, job: Job) -> None:
    result = task.enqueue(job.pk)
    # Its queue row, so a worker that claims it and dies before the task begins still fails the job. A worker
    # may already have begun it (and recorded the row itself): only an empty task_id is filled in.
    Job.objects.filter(pk=job.pk, task_id="").update(task_id=str(result.id))


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
    claim = workers.current_claim()
    if claim is not None:  # run by a heartbeating worker: its liveness now decides whether the job is lost
        job.task_id, job.worker_id = claim.task_id, claim.worker_id
    job.save(update_fields=["status", "task_id", "worker", "updated_at"])
    # This worker is alive; any other job still marked running or long queued lost its worker.
    fail_silent_jobs()
    return job


def cancelled(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()
