"""Task workers and their heartbeat (annotate.workers, `manage.py run_worker`): a worker killed mid-job is
taken for lost after three heartbeats ("worker lost"): its job and its queue row are re-queued once, for
another worker to resume, and marked failed when lost again; a live worker's long job never is. Issue 17
kind 8, issue 19, RELIABILITY.md case 37."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from werkzeug import Response

from annotate import jobs, tasks, workers
from annotate.models import Job, JobStatus, Worker
from annotate.tasks import recount_system_stats
from tests.annotate.factories import SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, answer, keyed_sample

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def worker_row(worker_id: str, *, silent_for: timedelta = timedelta(0), heartbeat_s: float = 1.0, **fields) -> Worker:
    """A worker whose last heartbeat was `silent_for` ago."""
    last_seen = timezone.now() - silent_for
    return Worker.objects.create(
        id=worker_id,
        hostname="host-a",
        pid=4242,
        heartbeat_s=heartbeat_s,
        last_seen=last_seen,
        lost_after=last_seen + timedelta(seconds=Worker.LOST_AFTER_BEATS * heartbeat_s),
        **fields,
    )


def running_queue_row(worker_id: str) -> DBTaskResult:
    """A queue row as django-tasks-db leaves it while `worker_id` runs it."""
    result = recount_system_stats.using(backend="default").enqueue(0)
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim(worker_id)
    return row


def running_job(worker: Worker | None, task: DBTaskResult | None = None, *, silent_for=timedelta(0)) -> Job:
    job = Job.objects.create(
        kind="recount", status=JobStatus.RUNNING, worker=worker, task_id=str(task.pk) if task else ""
    )
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - silent_for)
    return job


# --- the sweep -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_silent_for_three_heartbeats_has_its_job_and_queue_row_requeued_once(settings):
    settings.TASKS = DATABASE_QUEUE
    dead = worker_row("dead-worker", silent_for=timedelta(seconds=3.5), heartbeat_s=1.0)
    row = running_queue_row(dead.pk)
    job = running_job(dead, row, silent_for=timedelta(seconds=3.5))
    Job.objects.filter(pk=job.pk).update(done=3, failed=1, params={"sample_keys": ["a"]})

    assert jobs.fail_silent_jobs() == 1

    job.refresh_from_db()
    row.refresh_from_db()
    assert (job.status, job.attempt, job.worker_id, job.task_id) == (JobStatus.QUEUED, 2, None, str(row.pk))
    assert (job.done, job.failed) == (0, 0)  # the second run counts from its first item again
    assert job.message.startswith("Worker lost: the worker dead-worker (host-a, pid 4242) running this job")
    assert "sent no heartbeat for 4 s (it beats every 1 s)" in job.message
    assert job.message.endswith("Re-queued for another worker (attempt 2 of 2).")
    # The note outlives the message, which the next run's progress replaces; the task's own params stay.
    assert job.params["sample_keys"] == ["a"]
    assert job.params["worker_lost"] == [job.message.split(" Re-queued")[0]]
    # The same queue row, ready for any worker to claim: same task, same arguments.
    assert row.status == TaskResultStatus.READY and row.started_at is None
    assert list(DBTaskResult.objects.ready()) == [row]
    dead.refresh_from_db()
    assert dead.swept_at is not None
    assert jobs.fail_silent_jobs() == 0  # swept once


@pytest.mark.django_db
def test_a_job_whose_worker_is_lost_a_second_time_is_failed_with_its_queue_row(settings):
    settings.TASKS = DATABASE_QUEUE
    dead = worker_row("second-dead-worker", silent_for=timedelta(seconds=5))
    row = running_queue_row(dead.pk)
    job = running_job(dead, row)
    Job.objects.filter(pk=job.pk).update(attempt=jobs.MAX_ATTEMPTS)

    assert jobs.fail_silent_jobs() == 1

    job.refresh_from_db()
    row.refresh_from_db()
    assert (job.status, job.attempt) == (JobStatus.FAILED, jobs.MAX_ATTEMPTS)
    assert job.message.startswith("Worker lost: the worker second-dead-worker (")
    assert job.message.endswith("Start the job again to resume.")
    assert row.status == TaskResultStatus.FAILED and row.finished_at is not None
    assert row.exception_class_path == "annotate.workers.WorkerLost" and row.traceback == job.message


@pytest.mark.django_db
def test_a_lost_job_someone_asked_to_cancel_is_failed_not_requeued(settings):
    settings.TASKS = DATABASE_QUEUE
    dead = worker_row("dead-worker", silent_for=timedelta(seconds=5))
    row = running_queue_row(dead.pk)
    job = running_job(dead, row)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    jobs.fail_silent_jobs()

    job.refresh_from_db()
    row.refresh_from_db()
    assert (job.status, job.attempt, row.status) == (JobStatus.FAILED, 1, TaskResultStatus.FAILED)


@pytest.mark.django_db
def test_a_worker_silent_for_less_than_three_heartbeats_keeps_its_job(settings):
    settings.TASKS = DATABASE_QUEUE
    slow = worker_row("slow-worker", silent_for=timedelta(seconds=25), heartbeat_s=10.0)
    row = running_queue_row(slow.pk)
    job = running_job(slow, row, silent_for=timedelta(hours=5))  # a long, silent job: the worker still beats

    assert jobs.fail_silent_jobs() == 0

    job.refresh_from_db()
    row.refresh_from_db()
    assert (job.status, row.status) == (JobStatus.RUNNING, TaskResultStatus.RUNNING)


@pytest.mark.django_db
def test_a_worker_that_died_between_claiming_a_row_and_beginning_its_job_has_both_requeued(settings):
    settings.TASKS = DATABASE_QUEUE
    dead = worker_row("dead-worker", silent_for=timedelta(minutes=1))
    row = running_queue_row(dead.pk)
    # Queued, not begun: only the queue row names the worker; start_job stored the row's id on the job.
    job = Job.objects.create(kind="recount", task_id=str(row.pk))

    jobs.fail_silent_jobs()

    job.refresh_from_db()
    row.refresh_from_db()
    assert (job.status, job.attempt, row.status) == (JobStatus.QUEUED, 2, TaskResultStatus.READY)
    assert job.message.startswith("Worker lost")


@pytest.mark.django_db
def test_a_stopped_workers_job_with_no_queue_row_to_put_back_is_failed():
    stopped = worker_row("stopped-worker", stopped_at=timezone.now())
    job = running_job(stopped)

    jobs.fail_silent_jobs()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "stopped before it finished" in job.message


@pytest.mark.django_db
def test_other_workers_jobs_and_rows_are_left_alone(settings):
    settings.TASKS = DATABASE_QUEUE
    dead = worker_row("dead-worker", silent_for=timedelta(minutes=1))
    alive = worker_row("live-worker")
    alive_row = running_queue_row(alive.pk)
    alive_job = running_job(alive, alive_row)
    running_job(dead)

    assert jobs.fail_silent_jobs() == 1

    alive_job.refresh_from_db()
    alive_row.refresh_from_db()
    assert (alive_job.status, alive_row.status) == (JobStatus.RUNNING, TaskResultStatus.RUNNING)


@pytest.mark.django_db
def test_a_job_of_no_known_worker_still_fails_after_its_silence_allowance():
    # A plain `db_worker` (no heartbeat) records no worker: the kind's silence allowance decides.
    orphan = running_job(None, silent_for=jobs.DEFAULT_SILENCE + timedelta(minutes=1))

    assert jobs.fail_silent_jobs() == 1

    orphan.refresh_from_db()
    assert orphan.message.startswith("The worker stopped reporting")


@pytest.mark.django_db
def test_a_worker_taken_for_lost_that_beats_again_is_alive_and_says_so(caplog):
    worker = worker_row("napping-worker", silent_for=timedelta(minutes=1))
    jobs.fail_silent_jobs()

    workers.beat(worker)

    worker.refresh_from_db()
    assert worker.swept_at is None and worker.lost_after > timezone.now()
    assert "taken for lost" in caplog.text


# --- the worker command in this process ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_worker_runs_a_job_and_records_itself_on_it(settings):
    settings.TASKS = DATABASE_QUEUE
    system = SystemFactory()
    TranslationFactory.create_batch(2, system=system)
    job = jobs.start_job("recount", recount_system_stats, system=system, total=2)
    queued = DBTaskResult.objects.get()
    assert Job.objects.get(pk=job.pk).task_id == str(queued.pk)

    call_command("run_worker", batch=True, no_startup_delay=True, reload=False, worker_id="worker-one", verbosity=0)

    job.refresh_from_db()
    assert (job.status, job.done, job.worker_id, job.task_id, job.attempt) == (
        JobStatus.DONE, 2, "worker-one", str(queued.pk), 1,
    )  # fmt: skip
    worker = Worker.objects.get()
    assert (worker.pk, worker.pid, worker.heartbeat_s) == ("worker-one", os.getpid(), settings.T2J_WORKER_HEARTBEAT_S)
    assert worker.stopped_at is not None  # a clean stop, and a job it finished is not failed by it
    assert jobs.fail_silent_jobs() == 0
    assert workers.current_claim() is None


# --- a real worker process, killed ---------------------------------------------------------------------------

HEARTBEAT_S = 1.0


@pytest.fixture
def worker_database(transactional_db, tmp_path):
    """The DATABASE_URL of a database this test and worker processes it starts share (committed writes).

    On PostgreSQL it is the test database. On SQLite the test database lives in memory, out of another
    process's reach: the default connection is swapped for a migrated file database for the test.
    """
    config = connections["default"].settings_dict
    if config["ENGINE"] == "django.db.backends.postgresql":
        yield (
            f"postgres://{config['USER']}:{config['PASSWORD']}@{config['HOST'] or '127.0.0.1'}:"
            f"{config['PORT'] or 5432}/{config['NAME']}"
        )
        return
    path = tmp_path / "db.sqlite3"
    original_settings = connections.settings["default"]
    connections.settings["default"] = {**original_settings, "NAME": str(path), "TEST": {}}
    swapped = connections.create_connection("default")
    connections.settings["default"] = original_settings
    # Kept, not closed: closing the test's in-memory database would destroy it for the tests after this one.
    in_memory = connections["default"]
    connections["default"] = swapped
    try:
        call_command("migrate", verbosity=0)
        yield f"sqlite:///{path}"
    finally:
        swapped.close()
        connections["default"] = in_memory


@pytest.fixture
def slow_llm(httpserver):
    """A local OpenAI-compatible endpoint that answers after `slow_llm.delay_s` (or when released)."""
    release, called = threading.Event(), threading.Event()

    def slowly(request):
        called.set()
        release.wait(slowly.delay_s)
        return Response(json.dumps(answer()), content_type="application/json")

    slowly.delay_s = 60.0
    slowly.called = called
    slowly.release = release  # set: every request, held or new, is answered at once
    httpserver.expect_request(CHAT_PATH).respond_with_handler(slowly)
    yield slowly
    release.set()  # a handler still waiting for a killed worker frees the server for the next test


@pytest.fixture
def start_worker(worker_database, slow_llm, httpserver, tmp_path, settings):
    """Start `manage.py run_worker` (heartbeat 1 s) against the shared database; stopped at the end."""
    settings.TASKS = DATABASE_QUEUE  # this process enqueues on the database queue the worker reads
    settings.OPENAI_BASE_URL = httpserver.url_for("/v1")
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_MODEL = "default-model"
    started = []

    def start(worker_id: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": worker_database,
            "T2J_DATA_DIR": str(tmp_path / "worker-data"),
            "T2J_TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "T2J_WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
            "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
            "OPENAI_API_KEY": "test-key",
            "OPENAI_MODEL": "default-model",
            "T2J_LLM_TIMEOUT_S": "120",
            "T2J_LLM_MAX_RETRIES": "0",
        }
        command = [sys.executable, "manage.py", "run_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2",
                   "--worker-id", worker_id]  # fmt: skip
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_for(condition, *, timeout_s: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the worker exited ({process.returncode}) before {what}:\n{process.communicate()[0]}")
        time.sleep(0.1)
    pytest.fail(f"not within {timeout_s} s: {what}")


def begun_draft_job(start_worker, worker_id: str) -> tuple[subprocess.Popen, Job]:
    """A drafting job of one sample, begun by a new worker process and waiting on the (slow) LLM."""
    system = SystemFactory(name="std", model="default-model")
    keyed_sample("e1")
    process = start_worker(worker_id)
    job = tasks.start_draft_job(system)

    def begun() -> bool:
        job.refresh_from_db()
        return job.status == JobStatus.RUNNING and job.worker_id == worker_id

    wait_for(begun, timeout_s=60, what="the worker began the job", process=process)
    return process, job


@pytest.mark.usefixtures("worker_database")
def test_a_worker_killed_mid_job_has_the_job_requeued_within_three_heartbeats_and_resumed_by_another(
    start_worker, slow_llm
):
    process, job = begun_draft_job(start_worker, "doomed-worker")
    wait_for(slow_llm.called.is_set, timeout_s=30, what="the job called the LLM")

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    killed_at = time.monotonic()
    row = DBTaskResult.objects.get(pk=job.task_id)
    assert row.status == TaskResultStatus.RUNNING  # what django-tasks-db leaves behind on its own
    assert jobs.fail_silent_jobs() == 0  # its last heartbeat is less than three heartbeats old

    def swept() -> bool:
        jobs.fail_silent_jobs()  # what every page listing jobs and every live worker's heartbeat does
        job.refresh_from_db()
        return job.status == JobStatus.QUEUED

    # Lost after three silent heartbeats; one more for the beat in flight when it died, and some slack.
    wait_for(swept, timeout_s=(Worker.LOST_AFTER_BEATS + 1) * HEARTBEAT_S + 3, what="the job was re-queued")
    assert time.monotonic() - killed_at >= (Worker.LOST_AFTER_BEATS - 1) * HEARTBEAT_S
    assert job.message.startswith("Worker lost: the worker doomed-worker (") and job.attempt == 2
    row.refresh_from_db()
    assert row.status == TaskResultStatus.READY

    slow_llm.release.set()
    second = start_worker("second-worker")

    def finished() -> bool:
        job.refresh_from_db()
        return job.status == JobStatus.DONE

    wait_for(finished, timeout_s=60, what="the second worker finished the job", process=second)
    assert (job.worker_id, job.attempt, job.done, job.failed) == ("second-worker", 2, 1, 0)
    assert job.params["worker_lost"][0].startswith("Worker lost: the worker doomed-worker (")
    row.refresh_from_db()
    assert row.status == TaskResultStatus.SUCCESSFUL and row.worker_ids == ["doomed-worker", "second-worker"]
    assert job.system.translations.get().draft_status == "ok"


@pytest.mark.usefixtures("worker_database")
def test_a_live_workers_long_job_is_never_taken_for_lost(start_worker, slow_llm):
    slow_llm.delay_s = 3 * Worker.LOST_AFTER_BEATS * HEARTBEAT_S  # the job outlives three heartbeats twice over
    process, job = begun_draft_job(start_worker, "steady-worker")

    def done() -> bool:
        assert jobs.fail_silent_jobs() == 0
        job.refresh_from_db()
        assert job.status != JobStatus.FAILED, job.message
        return job.status == JobStatus.DONE

    wait_for(done, timeout_s=slow_llm.delay_s + 30, what="the job finished", process=process)
    assert DBTaskResult.objects.get(pk=job.task_id).status == TaskResultStatus.SUCCESSFUL

    process.send_signal(signal.SIGTERM)  # a clean stop: the worker says so, and nothing is failed
    assert process.wait(timeout=30) == 0
    assert Worker.objects.get(pk="steady-worker").stopped_at is not None
    assert jobs.fail_silent_jobs() == 0
