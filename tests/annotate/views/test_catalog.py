"""The minimal pages: home per role, sample list with filters and pagination, sample page, system jobs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Job, JobStatus
from annotate.tasks import recount_system_stats
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

pytestmark = pytest.mark.django_db


def test_home_shows_a_developer_their_open_sessions(developer_client, developer):
    FixSessionFactory(owner=developer, translation__sample__title="Tiny regression")
    response = developer_client.get(reverse("home"))
    assert b"Your open fix sessions" in response.content
    assert b"Tiny regression" in response.content
    assert b"Systems" not in response.content


def test_home_shows_an_admin_the_systems(admin_client_role):
    SystemFactory(name="weak-llm")
    response = admin_client_role.get(reverse("home"))
    assert b"weak-llm" in response.content


def test_sample_list_filters_by_origin_and_difficulty(developer_client):
    SampleFactory(key="a1", origin="TorchLeet", difficulty="easy")
    SampleFactory(key="b2", origin="TorchLeet", difficulty="hard")
    SampleFactory(key="c3", origin="demo", difficulty="hard")
    response = developer_client.get(reverse("annotate:sample_list"), {"origin": "TorchLeet", "difficulty": "hard"})
    keys = [sample.key for sample in response.context["page"]]
    assert keys == ["b2"]


def test_sample_list_ignores_unknown_filters_and_bad_values(developer_client):
    SampleFactory(key="a1")
    response = developer_client.get(
        reverse("annotate:sample_list"),
        {"difficulty": "impossible", "filter": "created_by__password__startswith=a", "ordering": "-secret"},
    )
    assert response.status_code == 200
    assert [sample.key for sample in response.context["page"]] == ["a1"]


def test_sample_list_paginates(developer_client, settings):
    settings.T2J_PAGE_SIZE = 2
    for n in range(5):
        SampleFactory(key=f"k{n}")
    response = developer_client.get(reverse("annotate:sample_list"), {"page": 3})
    assert [sample.key for sample in response.context["page"]] == ["k4"]
    assert b"Page 3 of 3" in response.content


def test_sample_list_htmx_request_gets_only_the_table(developer_client):
    SampleFactory(key="a1")
    full = developer_client.get(reverse("annotate:sample_list"))
    fragment = developer_client.get(reverse("annotate:sample_list"), HTTP_HX_REQUEST="true")
    assert b"<html" in full.content and b'id="sample-table"' in full.content
    assert b"<html" not in fragment.content and fragment.content.lstrip().startswith(b'<div id="sample-table"')


def test_sample_page_lists_translations_with_their_systems(developer_client):
    translation = TranslationFactory(system__name="t2j-llm")
    response = developer_client.get(translation.sample.get_absolute_url())
    assert b"t2j-llm" in response.content
    assert b'data-monaco="python"' in response.content


def test_recount_runs_as_a_task_and_shows_progress(admin_client_role, django_capture_on_commit_callbacks):
    system = SystemFactory()
    TranslationFactory.create_batch(3, system=system)
    FixSessionFactory(translation=system.translations.first(), status="verified")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(reverse("annotate:system_recount", args=[system.name]))
    assert response.status_code == 302
    job = Job.objects.get(system=system, kind="recount")
    assert (job.status, job.done, job.total, job.percent) == (JobStatus.DONE, 3, 3, 100)
    system.refresh_from_db()
    assert system.stats["translations"] == 3 and system.stats["sessions_verified"] == 1
    progress = admin_client_role.get(reverse("annotate:job_progress_hx", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert b"3 of 3 done" in progress.content and b"hx-trigger" not in progress.content


def test_active_job_progress_keeps_polling_and_can_be_cancelled(admin_client_role):
    job = Job.objects.create(kind="recount", system=SystemFactory(), total=10, status=JobStatus.RUNNING)
    progress = admin_client_role.get(reverse("annotate:job_progress_hx", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in progress.content
    admin_client_role.post(reverse("annotate:job_cancel", args=[job.pk]), HTTP_HX_REQUEST="true")
    job.refresh_from_db()
    assert job.cancel_requested


def test_recount_by_htmx_swaps_the_statistics_block_which_polls_until_counted(admin_client_role):
    """Issue 18: Recount updates the block it reports on, in words rather than field names."""
    system = SystemFactory()
    TranslationFactory.create_batch(2, system=system)
    stats_url = reverse("annotate:system_stats_hx", args=[system.name])

    response = admin_client_role.post(reverse("annotate:system_recount", args=[system.name]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.startswith('\n<section id="system-stats" hx-get="' + stats_url) and "Not counted yet." in html
    assert "Recount statistics" in html and "queued" in html

    recount_system_stats.call(Job.objects.get(system=system).pk)  # the worker's turn
    html = admin_client_role.get(stats_url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in html  # counted: the block stops polling
    assert "<th>Translations</th><td class=\"num\">2</td>" in html and "<th>Fix sessions verified</th>" in html
    assert "sessions_verified" not in html and "2 of 2 done" in html


def test_the_jobs_page_keeps_saying_a_re_queued_job_lost_its_worker(admin_client_role):
    # The next run's progress replaces the job's message; the loss stays on the page from the job's params.
    note = "Worker lost: the worker lab-worker-a running this job went silent."
    Job.objects.create(
        kind="recount", system=SystemFactory(), status=JobStatus.RUNNING, attempt=2, message="3 of 9 done",
        params={"worker_lost": [note]},
    )  # fmt: skip

    html = admin_client_role.get(reverse("annotate:job_list")).content.decode()

    assert note in html and "Now attempt 2." in html


def test_a_second_recount_while_one_is_active_starts_no_other_job(admin_client_role):
    system = SystemFactory()
    admin_client_role.post(reverse("annotate:system_recount", args=[system.name]))
    admin_client_role.post(reverse("annotate:system_recount", args=[system.name]))
    assert Job.objects.filter(system=system, kind="recount").count() == 1


def test_recount_rejects_get(admin_client_role):
    system = SystemFactory()
    assert admin_client_role.get(reverse("annotate:system_recount", args=[system.name])).status_code == 405


def test_a_jobs_messages_are_read_only_in_the_django_admin(client, django_user_model):
    admin_client = client  # the Django admin is for superusers (`createsuperuser`)
    admin_client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "unused-pass"))
    job = Job.objects.create(kind="recount", status=JobStatus.FAILED, message="Stopped: <b>disk full</b>")
    url = reverse("admin:annotate_job_change", args=[job.pk])
    response = admin_client.get(url)
    assert response.status_code == 200, response
    html = response.content.decode()
    assert "Stopped: &lt;b&gt;disk full&lt;/b&gt;" in html and 'name="message"' not in html
    assert 'name="cancel_requested"' in html  # asking it to stop is all that is left to edit
    admin_client.post(url, {"message": "rewritten", "status": "done", "cancel_requested": "on"})
    job.refresh_from_db()
    assert (job.message, job.status, job.cancel_requested) == ("Stopped: <b>disk full</b>", "failed", True)


def test_an_experiment_job_names_its_experiment_on_the_jobs_page_and_in_the_django_admin(client, django_user_model):
    # An experiment's jobs have no system: without this a list of them says only "experiment step".
    params = {"experiment": "ablation-k", "step": "draft"}
    Job.objects.create(kind="experiment-draft", status=JobStatus.RUNNING, params=params)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "unused-pass"))

    for url in (reverse("annotate:job_list"), reverse("admin:annotate_job_changelist")):
        assert "experiment ablation-k, step draft" in client.get(url).content.decode()
