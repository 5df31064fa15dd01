"""The tasks: the real task path (a job enqueued on the database queue is run by `manage.py db_worker`),
jobs whose worker died, and the drafting job."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from annotate import drafting, jobs, tasks
from annotate.models import DraftStatus, Job, JobStatus
from annotate.tasks import recount_system_stats
from tests.annotate import llm_fakes
from tests.annotate.factories import SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, answer, chat_requests, completion, keyed_sample

llm_endpoint = llm_fakes.llm_endpoint


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


# --- jobs whose worker died (RELIABILITY.md case 37) --------------------------------------------------------


def job_silent_for(age: timedelta, *, kind: str = "recount", status: str = JobStatus.RUNNING, **fields) -> Job:
    job = Job.objects.create(kind=kind, status=status, **fields)
    # updated_at is auto_now: only an UPDATE can put it in the past, as a worker killed that long ago leaves it.
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - age)
    return job


def status_and_message(job: Job) -> tuple[str, str]:
    job.refresh_from_db()
    return job.status, job.message


@pytest.mark.django_db
def test_a_running_job_silent_past_its_allowance_is_failed_and_a_recent_one_left_alone():
    dead = job_silent_for(jobs.DEFAULT_SILENCE + timedelta(minutes=1), message="Counted e7")
    alive = job_silent_for(jobs.DEFAULT_SILENCE - timedelta(minutes=1), message="Counted e3")

    assert jobs.fail_silent_jobs() == 1

    status, message = status_and_message(dead)
    assert status == JobStatus.FAILED
    assert message.startswith("The worker stopped reporting (silent for over 10 minutes)")
    assert status_and_message(alive) == (JobStatus.RUNNING, "Counted e3")


@pytest.mark.django_db
def test_each_kind_gets_its_own_allowance(settings):
    settings.T2J_LLM_TIMEOUT_S = 600.0
    settings.T2J_LLM_MAX_RETRIES = 0
    # A drafting job may wait out one full LLM call (10 minutes here) plus two; a recount may not.
    draft = job_silent_for(timedelta(minutes=11), kind=drafting.DRAFT_JOB)
    recount = job_silent_for(timedelta(minutes=11), kind="recount")

    jobs.fail_silent_jobs()

    assert status_and_message(draft)[0] == JobStatus.RUNNING
    assert status_and_message(recount)[0] == JobStatus.FAILED
    assert drafting.DRAFT_JOB in jobs.SILENCE_BY_KIND


@pytest.mark.django_db
def test_a_queued_job_may_wait_for_a_busy_worker_but_not_forever():
    waiting = job_silent_for(jobs.DEFAULT_SILENCE * 2, status=JobStatus.QUEUED)
    abandoned = job_silent_for(jobs.QUEUE_WAIT + timedelta(minutes=1), status=JobStatus.QUEUED)

    jobs.fail_silent_jobs()

    assert status_and_message(waiting)[0] == JobStatus.QUEUED
    status, message = status_and_message(abandoned)
    assert status == JobStatus.FAILED and message.startswith("No worker started this job within 180 minutes")


@pytest.mark.django_db
def test_finished_jobs_are_never_touched():
    done = job_silent_for(timedelta(days=3), status=JobStatus.DONE, message="Statistics are up to date.")

    assert jobs.fail_silent_jobs() == 0
    assert status_and_message(done) == (JobStatus.DONE, "Statistics are up to date.")


@pytest.mark.django_db
def test_the_next_task_to_begin_fails_the_jobs_of_a_dead_worker(django_capture_on_commit_callbacks):
    system = SystemFactory()
    dead = job_silent_for(timedelta(hours=1), kind="recount", system=system)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job("recount", recount_system_stats, system=system, total=0)

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert status_and_message(dead)[0] == JobStatus.FAILED


@pytest.mark.django_db
def test_a_job_failed_while_queued_is_not_revived_when_a_worker_reaches_it():
    system = SystemFactory()
    TranslationFactory(system=system)
    failed = job_silent_for(jobs.QUEUE_WAIT * 2, kind="recount", status=JobStatus.QUEUED, system=system)
    jobs.fail_silent_jobs()

    recount_system_stats.call(failed.pk)

    system.refresh_from_db()
    assert status_and_message(failed)[0] == JobStatus.FAILED and system.stats == {}


@pytest.mark.django_db
def test_the_admin_home_page_shows_a_dead_workers_job_as_failed(admin_client_role):
    dead = job_silent_for(timedelta(hours=1), kind="recount", system=SystemFactory(name="sys-x"))

    page = admin_client_role.get(reverse("home")).content.decode()

    assert f'id="job-{dead.pk}"' in page
    assert '<span class="status-failed">failed</span>' in page and "The worker stopped reporting" in page
    assert status_and_message(dead)[0] == JobStatus.FAILED


@pytest.mark.django_db
def test_the_system_page_shows_its_dead_recount_as_failed(admin_client_role):
    system = SystemFactory(name="sys-x")
    job_silent_for(timedelta(hours=1), kind="recount", system=system)

    page = admin_client_role.get(reverse("annotate:system_detail", args=[system.name])).content.decode()

    assert '<span class="status-failed">failed</span>' in page and "The worker stopped reporting" in page


@pytest.mark.django_db
def test_the_polled_progress_fragment_turns_failed_when_the_worker_dies(admin_client_role):
    dead = job_silent_for(timedelta(hours=1), kind="recount", system=SystemFactory(name="sys-x"))

    fragment = admin_client_role.get(reverse("annotate:job_progress_hx", args=[dead.pk]), HTTP_HX_REQUEST="true")

    html = fragment.content.decode()
    assert '<span class="status-failed">failed</span>' in html
    assert 'hx-trigger="every 1s"' not in html  # it stops polling


# --- drafting jobs -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_background_job_drafts_everything_left_and_counts_progress(
    llm_endpoint, django_capture_on_commit_callbacks, admin_user
):
    samples = [keyed_sample("e1"), keyed_sample("e2"), keyed_sample("e3")]
    system = SystemFactory(name="std")
    TranslationFactory(sample=samples[0], system=system)

    def by_sample(request):
        body = answer() if llm_fakes.sample_key_of(request) != "e3" else completion("no code here")
        return Response(json.dumps(body), content_type="application/json")

    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(by_sample)

    with django_capture_on_commit_callbacks(execute=True):
        job = tasks.start_draft_job(system, admin_user)

    job.refresh_from_db()
    assert job.params["sample_keys"] == ["e2", "e3"]
    assert (job.status, job.total, job.done, job.failed) == (JobStatus.DONE, 2, 1, 1)
    assert "Drafted 1; failed 1" in job.message
    assert drafting.token_totals(system)["completion_tokens"] == 60


@pytest.mark.django_db
def test_retry_failed_job_takes_only_the_failed_drafts(llm_endpoint, django_capture_on_commit_callbacks):
    system = SystemFactory(name="std")
    failed = TranslationFactory(sample=keyed_sample("e1"), system=system, draft_status=DraftStatus.FAILED, code="")
    keyed_sample("e2")  # never drafted: not part of a retry
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    with django_capture_on_commit_callbacks(execute=True):
        job = tasks.start_draft_job(system, retry_failed=True)

    failed.refresh_from_db()
    assert job.params["sample_keys"] == ["e1"]
    assert failed.draft_status == DraftStatus.OK
    assert system.translations.count() == 1


@pytest.mark.django_db
def test_a_job_is_refused_when_nothing_is_left_or_one_is_running(llm_endpoint):
    system = SystemFactory(name="std")
    TranslationFactory(sample=keyed_sample("e1"), system=system)
    with pytest.raises(drafting.DraftingError, match="No samples left to draft"):
        tasks.start_draft_job(system)

    keyed_sample("e2")
    Job.objects.create(kind=drafting.DRAFT_JOB, system=system, status=JobStatus.RUNNING)
    with pytest.raises(drafting.DraftingError, match="already running"):
        tasks.start_draft_job(system)


@pytest.mark.django_db
def test_a_job_whose_worker_went_silent_no_longer_blocks_drafting(llm_endpoint, settings):
    settings.T2J_LLM_TIMEOUT_S = 1.0
    settings.T2J_LLM_MAX_RETRIES = 0
    system = SystemFactory(name="std")
    keyed_sample("e1")
    stuck = Job.objects.create(kind=drafting.DRAFT_JOB, system=system, status=JobStatus.RUNNING)
    Job.objects.filter(pk=stuck.pk).update(updated_at=stuck.updated_at - timedelta(hours=1))

    assert drafting.active_draft_job(system) is None
    stuck.refresh_from_db()
    assert stuck.status == JobStatus.FAILED
    assert "The worker stopped reporting" in stuck.message
    assert drafting.latest_draft_job(system) == stuck  # the drafting page shows it failed, and drafting may resume
    assert tasks.start_draft_job(system).status == JobStatus.QUEUED


@pytest.mark.django_db
def test_a_slow_drafting_job_within_its_llm_allowance_still_blocks_a_second_one(llm_endpoint, settings):
    settings.T2J_LLM_TIMEOUT_S = 600.0
    settings.T2J_LLM_MAX_RETRIES = 0
    system = SystemFactory(name="std")
    keyed_sample("e1")
    slow = Job.objects.create(kind=drafting.DRAFT_JOB, system=system, status=JobStatus.RUNNING)
    # Silent for 11 minutes: too long for the default allowance, not for one 10-minute LLM call.
    Job.objects.filter(pk=slow.pk).update(updated_at=slow.updated_at - timedelta(minutes=11))

    assert drafting.active_draft_job(system) == slow
    with pytest.raises(drafting.DraftingError, match="already running"):
        tasks.start_draft_job(system)


@pytest.mark.django_db
def test_a_job_cancelled_before_it_starts_drafts_nothing(llm_endpoint, django_capture_on_commit_callbacks):
    system = SystemFactory(name="std")
    keyed_sample("e1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = tasks.start_draft_job(system)
    jobs.request_cancel(job)
    for callback in callbacks:
        callback()

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert chat_requests(llm_endpoint) == []
