"""The task worker: django-tasks-db's `db_worker` with a heartbeat (annotate.workers), so that a worker
killed mid-job is seen lost after three heartbeats and its job and queue row are marked failed."""

from __future__ import annotations

import os

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from annotate import jobs, workers


class Command(DbWorkerCommand):
    help = (
        "Run the background task worker (django-tasks-db's db_worker, same options) with a heartbeat every "
        "T2J_WORKER_HEARTBEAT_S seconds; each beat also fails the jobs of workers gone silent."
    )

    def handle(self, *args, **options) -> None:
        if options["reload"] and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true":
            # The reloader's parent only restarts its child, which runs this command again and is the worker.
            return super().handle(*args, **options)
        with workers.heartbeat(options["worker_id"], on_beat=jobs.fail_silent_jobs):
            super().handle(*args, **options)
