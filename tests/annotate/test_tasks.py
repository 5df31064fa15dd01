"""The real task path: a job enqueued on the database queue is run by `manage.py db_worker`."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from annotate import jobs
from annotate.models import Job, JobStatus
from annotate.tasks import recount_system_stats
from tests.annotate.factories import SystemFactory, TranslationFactory


@pytest.mark.django_db(transaction=True)
def test_db_worker_runs_an_enqueued_recount(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    system = SystemFactory()
    TranslationFactory.create_batch(2, system=system)
    job = jobs.start_job("recount", recount_system_stats, system=system, total=2)
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)
    job.refresh_from_db()
    system.refresh_from_db()
    assert (job.status, job.done) == (JobStatus.DONE, 2)
    assert system.stats["translations"] == 2


@pytest.mark.django_db
def test_a_job_cancelled_before_it_starts_does_nothing():
    system = SystemFactory()
    job = Job.objects.create(kind="recount", system=system, cancel_requested=True)
    recount_system_stats.call(job.pk)
    job.refresh_from_db()
    system.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and system.stats == {}
