"""The experiment pages: list, report page (reads the stored report), starting steps, downloads."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from annotate.models import Job, JobStatus
from evaluate import experiment as experiments
from evaluate import experiment_report
from evaluate.models import Experiment

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(evaluated):
    found, _ = experiments.create(
        {
            "name": "evald",
            "description": "<script>alert(1)</script> two systems",
            "samples": ["e1", "h1"],
            "metrics": ["codebleu", "fixcost", "comparison"],
            "arms": [{"name": "base", "system": "base"}, {"name": "t2j", "system": "t2j"}],
        }
    )
    return found


def _url(name: str, experiment: Experiment) -> str:
    return reverse(f"evaluate:{name}", args=[experiment.name])


def test_the_list_names_each_experiment_with_its_arms_and_reference(admin_client_role, experiment):
    page = admin_client_role.get(reverse("evaluate:experiment_list")).content.decode()
    assert _url("experiment_detail", experiment) in page and "base" in page and "verified" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_the_report_page_shows_the_stored_report_and_says_when_there_is_none(admin_client_role, experiment):
    empty = admin_client_role.get(_url("experiment_detail", experiment)).content.decode()
    assert 'id="no-report"' in empty and "figure" not in empty
    experiment_report.store(experiment, resamples=99)
    page = admin_client_role.get(_url("experiment_detail", experiment)).content.decode()
    assert page.count('<figure class="plot"') >= 5
    assert "Reference: CodeBLEU against each sample&#x27;s verified code" in page
    assert "Clopper–Pearson" in page and "Wilcoxon" in page and "Bradley–Terry" in page
    assert "<script>alert(1)</script>" not in page


def test_the_page_never_builds_the_report(admin_client_role, experiment, django_assert_max_num_queries):
    experiment_report.store(experiment, resamples=99)
    with django_assert_max_num_queries(12):  # reading the experiment, its jobs, the session: no metric queries
        assert admin_client_role.get(_url("experiment_detail", experiment)).status_code == 200


def test_starting_a_step_queues_its_job_and_a_second_one_is_refused(admin_client_role, experiment, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyTaskBackend"}}  # stays queued
    response = admin_client_role.post(_url("experiment_step_start", experiment), {"step": "metrics"})
    assert response.status_code == 302
    job = Job.objects.get(kind="experiment-metrics")
    assert (job.status, job.params) == (JobStatus.QUEUED, {"experiment": "evald", "step": "metrics"})
    again = admin_client_role.post(_url("experiment_step_start", experiment), {"step": "run"}, follow=True)
    assert "is queued" in again.content.decode() and Job.objects.filter(kind__startswith="experiment-").count() == 1


def test_an_unknown_step_is_refused_with_a_message(admin_client_role, experiment):
    response = admin_client_role.post(_url("experiment_step_start", experiment), {"step": "launch"}, follow=True)
    assert "unknown step &#x27;launch&#x27;" in response.content.decode() and not Job.objects.exists()


def test_downloads_give_the_report_and_each_table(admin_client_role, experiment):
    url = _url("experiment_export", experiment)
    assert admin_client_role.get(url + "?format=json").status_code == 409  # nothing built yet
    experiment_report.store(experiment, resamples=99)
    report = json.loads(admin_client_role.get(url + "?format=json").content)
    assert report["experiment"] == "evald" and len(report["per_sample"]) == 4
    assert admin_client_role.get(url + "?format=md").content.decode().startswith("# Experiment evald")
    per_sample = admin_client_role.get(url + "?table=per-sample&format=csv").content.decode()
    assert len(list(csv.DictReader(io.StringIO(per_sample)))) == 4
    plot = admin_client_role.get(url + "?table=plot-box-codebleu&format=csv").content.decode()
    assert plot.splitlines()[0].startswith("group,n,min")
    assert admin_client_role.get(url + "?table=plot-nope&format=csv").status_code == 400
    assert admin_client_role.get(url + "?format=xml").status_code == 400


def test_rebuilding_the_report_stores_it(admin_client_role, experiment):
    assert admin_client_role.post(_url("experiment_report_rebuild", experiment)).status_code == 302
    experiment.refresh_from_db()
    assert experiment.report["experiment"] == "evald" and experiment.report_built_at is not None
