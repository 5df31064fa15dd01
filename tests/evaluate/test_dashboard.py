"""The stored dashboard: a GET only reads; votes, scores and imports mark it stale and queue one refresh."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib import auth
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from annotate import fixlog
from annotate.dataset import import_dataset
from annotate.dataset.drafts import import_samples
from annotate.models import FixSession, Job, JobStatus, RunStatus, Sample
from annotate.signals import fix_session_changed
from evaluate import blinding, dashboard, metrics, ranking
from evaluate.contexts import DashboardContext
from evaluate.demo import load_demo
from evaluate.metrics import fixcost
from evaluate.models import BlindPurpose, DashboardGeneration, DashboardSnapshot, FixCostRecord
from evaluate.tasks import refresh_dashboard_task
from tests.annotate.factories import RunFactory
from tests.annotate.fix_sessions import open_session
from tests.evaluate.factories import ComparisonFactory

DASHBOARD = reverse("evaluate:dashboard")
EXPORT = reverse("evaluate:metrics_export")
REFRESH = reverse("evaluate:dashboard_refresh")


def _refresh_jobs():
    return Job.objects.filter(kind=dashboard.REFRESH_JOB)


def _refuse(*args, **kwargs):
    raise AssertionError("the dashboard was built, fitted or computed")


@pytest.fixture
def nothing_is_built(monkeypatch):
    """Any Bradley–Terry fit, dashboard build, metric computation or read of metric values fails the test."""
    monkeypatch.setattr(ranking, "_fit", _refuse)
    monkeypatch.setattr(DashboardContext, "from_database", _refuse)
    for metric in metrics.all_metrics():
        monkeypatch.setitem(metrics._METRICS, metric.name, dataclasses.replace(metric, compute=_refuse, values=_refuse))


@pytest.fixture
def builds(monkeypatch):
    """Counts how often a dashboard context is built from the database."""
    built = []
    original = DashboardContext.from_database.__func__

    def counting(cls, *args, **kwargs):
        built.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(DashboardContext, "from_database", classmethod(counting))
    return built


# --- a GET only reads -----------------------------------------------------------------------------------


def test_a_dashboard_get_shows_the_stored_context_without_fitting_or_computing(
    admin_client_role, stored_dashboard, nothing_is_built, django_assert_max_num_queries
):
    # Login (3), silent jobs (1), the snapshot and the generation (2), the job list (1), the system names (1).
    with django_assert_max_num_queries(8):
        html = admin_client_role.get(DASHBOARD).content.decode()
    assert "t2j" in html and "Bradley–Terry" in html and 'data-plot="plot-data-mean-codebleu"' in html
    assert 'id="computed-at"' in html and 'class="stale"' not in html


def test_computed_at_names_its_time_zone(admin_client_role, stored_dashboard, nothing_is_built, settings):
    settings.TIME_ZONE = "Europe/Paris"
    html = admin_client_role.get(DASHBOARD).content.decode()
    local = timezone.localtime(stored_dashboard.computed_at, ZoneInfo("Europe/Paris"))
    assert f'<time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M:%S} {local.tzname()}</time>' in html


def test_before_anything_is_stored_the_dashboard_offers_to_compute_now(admin_client_role, evaluated, nothing_is_built):
    html = admin_client_role.get(DASHBOARD).content.decode()
    assert 'id="not-computed"' in html and f'action="{REFRESH}"' in html
    assert "Bradley–Terry ranking" not in html


def test_compute_now_queues_a_refresh_that_stores_the_dashboard(
    admin_client_role, evaluated, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client_role.post(REFRESH).status_code == 302
    assert _refresh_jobs().get().status == JobStatus.DONE
    assert DashboardSnapshot.objects.get().generation == dashboard.generation()
    html = admin_client_role.get(DASHBOARD).content.decode()
    assert "Bradley–Terry ranking" in html and 'class="stale"' not in html


# --- what marks it stale --------------------------------------------------------------------------------


def _assert_stale_with_one_refresh_queued(client, snapshot: DashboardSnapshot) -> None:
    assert dashboard.generation() > snapshot.generation
    assert [job.status for job in _refresh_jobs()] == [JobStatus.QUEUED]
    assert 'class="stale"' in client.get(DASHBOARD).content.decode()


def test_a_vote_marks_the_dashboard_stale_and_queues_one_refresh(admin_client_role, stored_dashboard):
    lo, hi = sorted(Sample.objects.get(key="e1").translations.values_list("pk", flat=True))
    user = auth.get_user(admin_client_role)
    vote = {"pair": blinding.issue(user, BlindPurpose.PAIR, lo, hi), "verdict": "tie", "reason": "same"}
    assert admin_client_role.post(reverse("evaluate:comparison_vote"), vote).status_code == 302
    _assert_stale_with_one_refresh_queued(admin_client_role, stored_dashboard)


def test_a_score_marks_the_dashboard_stale_and_queues_one_refresh(admin_client_role, stored_dashboard):
    html = admin_client_role.get(reverse("evaluate:score_translation")).content.decode()
    item = re.search(r'name="item" value="([^"]+)"', html).group(1)
    scores = {"item": item, "usefulness": "3", "functional-correctness": "2"}
    assert admin_client_role.post(reverse("evaluate:judgement_create"), scores).status_code == 302
    _assert_stale_with_one_refresh_queued(admin_client_role, stored_dashboard)


def test_an_import_marks_the_dashboard_stale_and_a_dry_run_does_not(admin_client_role, stored_dashboard, tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"key": "new1", "pytorch_code": "import torch\n"}) + "\n")
    import_samples(samples, dry_run=True)
    assert dashboard.generation() == stored_dashboard.generation and not _refresh_jobs().exists()
    import_samples(samples)
    _assert_stale_with_one_refresh_queued(admin_client_role, stored_dashboard)


def test_a_dataset_import_marks_the_dashboard_stale(stored_dashboard):
    example = {
        "Example_id": "imported-1",
        "Input_Code": "import torch\n",
        "LLM_weak_output": "import jax\n",
        "LLM_fix_output": "import jax  # fixed\n",
        "Errors": [],
    }
    import_dataset(json.dumps({"Pytorch_to_JAX_Examples": [example]}).encode(), name="t2j.json")
    assert dashboard.generation() > stored_dashboard.generation and _refresh_jobs().count() == 1


def test_a_failed_import_changes_nothing(stored_dashboard, tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("not json\n")
    with pytest.raises(Exception, match="JSON"):
        import_samples(samples)
    assert dashboard.generation() == stored_dashboard.generation and not _refresh_jobs().exists()


def test_a_verified_or_reopened_session_marks_it_stale_when_annotate_says_so(stored_dashboard):
    fix_session_changed.send(sender=FixSession, session=FixSession.objects.first())
    assert dashboard.generation() > stored_dashboard.generation and _refresh_jobs().count() == 1


def test_verifying_a_session_in_the_workspace_marks_it_stale(stored_dashboard, developer):
    session = open_session(developer)
    RunFactory(session=session, code=session.current_code, status=RunStatus.OK)
    fixlog.verify(session, developer, confirmed=True)
    assert dashboard.generation() > stored_dashboard.generation and _refresh_jobs().count() == 1
    # Its FixCost is stored at once, so the refresh shows it without a metrics job.
    assert FixCostRecord.objects.get(translation=session.translation, source="human").steps == 0


def test_reopening_drops_the_sessions_fixcost(stored_dashboard, admin_user):
    session = FixSession.objects.filter(status="verified").first()
    fixcost.compute_human([session.translation])
    fixlog.reopen(session, admin_user)
    assert not FixCostRecord.objects.filter(translation=session.translation, source="human").exists()


def test_reopening_a_verified_session_marks_it_stale(stored_dashboard, admin_user):
    fixlog.reopen(FixSession.objects.filter(status="verified").first(), admin_user)
    assert dashboard.generation() > stored_dashboard.generation and _refresh_jobs().count() == 1


def test_loading_the_demo_marks_it_stale_and_loading_it_again_does_not(stored_dashboard):
    load_demo()
    after_first = dashboard.generation()
    assert after_first > stored_dashboard.generation
    load_demo()
    assert dashboard.generation() == after_first


# --- at most one refresh --------------------------------------------------------------------------------


def test_at_most_one_refresh_is_queued_or_running_at_a_time(db):
    for _ in range(3):
        dashboard.mark_stale()
    job = _refresh_jobs().get()
    job.status = JobStatus.RUNNING
    job.save()
    assert dashboard.mark_stale() is None and _refresh_jobs().count() == 1
    job.finish(JobStatus.DONE)
    assert dashboard.mark_stale() is not None
    assert [j.status for j in _refresh_jobs().order_by("pk")] == [JobStatus.DONE, JobStatus.QUEUED]


def test_a_refresh_another_process_queued_meanwhile_is_not_queued_twice(db, monkeypatch):
    theirs = dashboard.queue_refresh()
    # This process read the row before theirs was claimed: it saw the slot free.
    monkeypatch.setattr(dashboard, "_refresh_job_held", lambda: None)
    assert dashboard.queue_refresh() is None
    assert list(_refresh_jobs()) == [theirs]
    assert DashboardGeneration.objects.get().refresh_job == theirs


def test_changes_during_a_refresh_leave_it_stale_and_queue_the_next(evaluated, monkeypatch):
    original = DashboardContext.from_database.__func__

    def build_while_a_vote_comes_in(cls, *args, **kwargs):
        dashboard.mark_stale()  # the running refresh holds the slot: nothing new is queued now
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(DashboardContext, "from_database", classmethod(build_while_a_vote_comes_in))
    first = dashboard.queue_refresh()
    refresh_dashboard_task.call(first.pk)
    first.refresh_from_db()
    assert first.status == JobStatus.DONE and _refresh_jobs().count() == 2
    assert DashboardSnapshot.objects.get().generation < dashboard.generation()
    assert _refresh_jobs().exclude(pk=first.pk).get().status == JobStatus.QUEUED


def test_a_failed_refresh_frees_the_slot(evaluated, monkeypatch):
    monkeypatch.setattr(DashboardContext, "from_database", _refuse)
    job = dashboard.queue_refresh()
    with pytest.raises(AssertionError):
        refresh_dashboard_task.call(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "refresh failed" in job.message
    assert dashboard.mark_stale() is not None


def test_an_older_build_never_replaces_a_newer_snapshot(evaluated, monkeypatch):
    newer = dashboard.refresh(changed=True)
    monkeypatch.setattr(dashboard, "generation", lambda: newer.generation - 1)  # a build that started earlier
    dashboard.refresh()
    assert DashboardSnapshot.objects.get().generation == newer.generation


# --- filtered views and downloads -----------------------------------------------------------------------


def test_filtered_views_are_built_once_per_generation_in_the_shared_database_cache(
    admin_client_role, stored_dashboard, builds
):
    assert "t2j_cache" in connection.introspection.table_names()  # the test database has the cache table
    for _ in range(2):
        html = admin_client_role.get(DASHBOARD, {"origin": "TorchLeet"}).content.decode()
        assert "TorchLeet" in html and 'class="stale"' not in html
    admin_client_role.get(EXPORT, {"table": "pairs", "origin": "TorchLeet"})
    assert len(builds) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM t2j_cache")
        assert cursor.fetchone()[0] == 1
    dashboard.mark_stale()
    admin_client_role.get(DASHBOARD, {"origin": "TorchLeet"})
    assert len(builds) == 2
    admin_client_role.get(DASHBOARD)  # the unfiltered view is read as stored, stale or not
    assert len(builds) == 2


def test_a_table_download_reads_the_stored_context(admin_client_role, stored_dashboard, nothing_is_built):
    [stored] = json.loads(stored_dashboard.payload)["pair_scores"]
    sample = Sample.objects.get(key="e1")
    base, t2j = sample.translations.order_by("system__name")
    ComparisonFactory(sample=sample, left=base, right=t2j, verdict="left")  # stored without marking anything
    [row] = csv.DictReader(io.StringIO(admin_client_role.get(EXPORT, {"table": "pairs"}).content.decode()))
    assert (row["a"], row["b"], int(row["n"])) == (stored["a"], stored["b"], stored["n"]) == ("base", "t2j", 4)


def test_dashboard_downloads_before_anything_is_stored_say_so(admin_client_role, evaluated):
    response = admin_client_role.get(EXPORT, {"table": "systems"})
    assert response.status_code == 409 and "not been computed" in response.content.decode()
    assert admin_client_role.get(EXPORT, {"table": "metrics"}).status_code == 200
