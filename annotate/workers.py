"""Task worker processes: their heartbeat, which of them are gone, and the queue rows a gone worker left.

`manage.py run_worker` runs django-tasks-db's worker inside `heartbeat(worker_id)`: a Worker row written
every T2J_WORKER_HEARTBEAT_S seconds by a thread beside the worker loop. A worker silent for
Worker.LOST_AFTER_BEATS heartbeats was killed (or its machine went down): annotate.jobs then re-queues (once) or
marks failed the job it ran and, here, its queue row, which django-tasks-db itself would leave RUNNING forever.

While a task runs, `current_claim()` names it (its queue row and this worker), so that `jobs.begin` can record
on the Job who runs it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_tasks.signals import task_finished, task_started
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from annotate.models import Worker

logger = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=7)  # a gone worker's row is kept this long after its leftovers were swept


class WorkerLost(Exception):
    """Recorded as the exception of a queue row whose worker was lost (its class path names this class)."""


@dataclass(frozen=True)
class TaskClaim:
    """The task this worker process runs now: its queue row (DBTaskResult id) and the worker's id."""

    task_id: str
    worker_id: str


_current: TaskClaim | None = None


def current_claim() -> TaskClaim | None:
    """The task this process runs as a heartbeating worker, else None (a web process, the immediate backend)."""
    return _current


def _on_task_started(sender, task_result, **kwargs) -> None:
    global _current
    # django-tasks-db appends the claiming worker's id before it starts the task: the last one is ours.
    _current = TaskClaim(task_id=str(task_result.id), worker_id=task_result.worker_ids[-1])


def _on_task_finished(sender, task_result, **kwargs) -> None:
    global _current
    _current = None


def _lost_after(now: datetime, heartbeat_s: float) -> datetime:
    return now + timedelta(seconds=Worker.LOST_AFTER_BEATS * heartbeat_s)


def register(worker_id: str, heartbeat_s: float) -> Worker:
    now = timezone.now()
    worker, _ = Worker.objects.update_or_create(
        pk=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "heartbeat_s": heartbeat_s,
            "started_at": now,
            "last_seen": now,
            "lost_after": _lost_after(now, heartbeat_s),
            "stopped_at": None,
            "swept_at": None,
        },
    )
    return worker


def beat(worker: Worker) -> None:
    """Tell the others this worker is alive; also say so loudly when it had been given up for lost."""
    now = timezone.now()
    swept = Worker.objects.filter(pk=worker.pk, swept_at__isnull=False).values_list("swept_at", flat=True).first()
    if swept is not None:
        logger.error(
            "Worker %s was silent for %d heartbeats and taken for lost at %s: the job it ran then was marked "
            "failed. It is alive again; check the database and the machine's load.",
            worker.pk, Worker.LOST_AFTER_BEATS, swept.isoformat(),
        )  # fmt: skip
    updated = Worker.objects.filter(pk=worker.pk).update(
        last_seen=now, lost_after=_lost_after(now, worker.heartbeat_s), swept_at=None
    )
    if not updated:  # removed meanwhile (an admin, a restore): write it again
        register(worker.pk, worker.heartbeat_s)


def stop(worker: Worker) -> None:
    Worker.objects.filter(pk=worker.pk).update(stopped_at=timezone.now())


def forget_old(now: datetime) -> int:
    """Remove the rows of workers gone long ago (their jobs keep their message; Job.worker turns empty)."""
    deleted, _ = Worker.objects.filter(swept_at__lt=now - FORGET_AFTER).delete()
    return deleted


def running_queue_rows(worker_id: str) -> list[str]:
    """The ids of the RUNNING queue rows last claimed by this worker."""
    # Few rows run at a time (one per worker): their claim lists are read here rather than queried as JSON.
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).values_list("pk", "worker_ids")
    return [str(pk) for pk, claimed_by in running if claimed_by and claimed_by[-1] == worker_id]


def fail_queue_rows(row_ids: list[str], message: str, now: datetime) -> None:
    """Mark failed those of these queue rows that still run (WorkerLost, with `message` as the traceback)."""
    DBTaskResult.objects.filter(pk__in=row_ids, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
        traceback=message,
        return_value=None,
    )


def requeue_queue_rows(row_ids: list[str]) -> None:
    """Put these running queue rows back to READY, for any worker to claim: the same task with the same
    arguments; the claim list keeps the lost worker, and the next claim appends its own id."""
    DBTaskResult.objects.filter(pk__in=row_ids, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.READY, started_at=None
    )


@contextmanager
def heartbeat(
    worker_id: str, *, heartbeat_s: float | None = None, on_beat: Callable[[], object] | None = None
) -> Iterator[Worker]:
    """Register this process as worker `worker_id` and beat every `heartbeat_s` seconds (default
    T2J_WORKER_HEARTBEAT_S) in a thread until the block ends; then the worker is marked stopped.

    `on_beat` runs after each beat and once after the stop (the caller sweeps what gone workers left; after
    the stop that includes a task this worker was forced to drop). Errors in a beat are logged, never raised:
    a database busy for a moment must not stop the heartbeat for good.
    """
    heartbeat_s = heartbeat_s or settings.T2J_WORKER_HEARTBEAT_S
    worker = register(worker_id, heartbeat_s)
    stopping = threading.Event()

    def loop() -> None:
        try:
            while not stopping.wait(heartbeat_s):
                try:
                    beat(worker)
                    forget_old(timezone.now())
                    if on_beat:
                        on_beat()
                except Exception:
                    logger.exception("Worker %s: heartbeat failed; trying again in %s s", worker.pk, heartbeat_s)
        finally:
            connections.close_all()  # this thread's own connections

    task_started.connect(_on_task_started, dispatch_uid="annotate.workers.started")
    task_finished.connect(_on_task_finished, dispatch_uid="annotate.workers.finished")
    thread = threading.Thread(target=loop, name=f"heartbeat-{worker_id}", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stopping.set()
        thread.join()
        task_started.disconnect(dispatch_uid="annotate.workers.started")
        task_finished.disconnect(dispatch_uid="annotate.workers.finished")
        stop(worker)
        if on_beat:
            on_beat()
