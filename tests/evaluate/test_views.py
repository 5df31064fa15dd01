from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from annotate.models import Job
from evaluate import dashboard, metrics
from evaluate.contexts import DASHBOARD_TABLES, DashboardContext
from evaluate.models import Comparison, DashboardSnapshot, FixCostRecord
from tests.annotate.llm_fakes import CHAT_PATH, completion

DASHBOARD = reverse("evaluate:dashboard")
EXPORT = reverse("evaluate:metrics_export")
COMPUTE = reverse("evaluate:metrics_compute")


def test_the_dashboard_shows_systems_charts_and_downloads(admin_client_role, stored_dashboard):
    html = admin_client_role.get(DASHBOARD).content.decode()
    assert "t2j" in html and "Bradley–Terry" in html and 'data-plot="plot-data-bradley-terry"' in html
    assert "table=systems&amp;format=csv" in html and "table=metrics&amp;format=json" in html
    # Each plot's data is beside it as CSV, and reaches the page as JSON data, never as a script to run.
    assert "table=plot-box-codebleu&amp;format=csv" in html
    assert '<script id="plot-data-box-codebleu" type="application/json">' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and 'src="/static/js/charts/plots.js" type="module"' in html


def test_a_plots_data_downloads_as_csv(admin_client_role, stored_dashboard):
    response = admin_client_role.get(EXPORT, {"table": "plot-box-codebleu", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["group"], row["n"], row["median"]) for row in rows] == [("base", "2", "0.2"), ("t2j", "2", "0.3")]
    assert admin_client_role.get(EXPORT, {"table": "plot-nope", "format": "csv"}).status_code == 400


def test_the_dashboard_reads_stored_metrics_in_few_queries(
    admin_client_role,
    evaluated,
    django_assert_max_num_queries,
):
    # 26: one of them checks for jobs whose worker died, so none shows as running forever.
    with django_assert_max_num_queries(26):
        assert admin_client_role.get(DASHBOARD, {"origin": "TorchLeet"}).status_code == 200


def test_reviewers_and_developers_cannot_open_the_dashboard(reviewer_client, db):
    assert reviewer_client.get(DASHBOARD).status_code == 403


@pytest.mark.parametrize(
    "table",
    [
        "metrics",
        "comparisons",
        "judgements",
        "systems",
        "pairs",
        "ranking",
        "correlations",
        "agreement",
        "fixcost-distribution",
        "error-categories",
    ],
)
def test_every_table_downloads_as_csv_and_json(admin_client_role, stored_dashboard, table):
    response = admin_client_role.get(EXPORT, {"table": table, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"t2j-{table}.csv" in response["Content-Disposition"]
    csv_rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    json_rows = json.loads(_body(admin_client_role.get(EXPORT, {"table": table, "format": "json"})))
    assert len(csv_rows) == len(json_rows)


def _body(response) -> bytes:
    """The raw tables stream (they can be large); the dashboard's small tables come whole."""
    return response.getvalue() if response.streaming else response.content


def test_the_metrics_download_has_one_row_per_translation(admin_client_role, evaluated):
    response = admin_client_role.get(EXPORT)
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert len(rows) == 4 and {r["fixcost_steps"] for r in rows} == {"1", "3"}


def test_unknown_tables_or_formats_are_refused(admin_client_role, db):
    assert admin_client_role.get(EXPORT, {"table": "auth_user"}).status_code == 400
    assert admin_client_role.get(EXPORT, {"format": "xml"}).status_code == 400


def test_compute_starts_a_metrics_job(admin_client_role, evaluated, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(COMPUTE, {"metrics": ["fixcost"]})
    assert response.status_code == 302
    job = Job.objects.get(kind="metrics")
    assert (job.status, job.done, job.total) == ("done", 1, 1)
    [outcome] = job.params["outcomes"]
    assert (outcome["label"], outcome["status"]) == ("FixCost", "done")
    assert "4 verified translations" in outcome["detail"]


def test_each_ticked_metric_ends_with_its_own_outcome(
    admin_client_role, evaluated, no_llm_endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(COMPUTE, {"metrics": ["codetrans", "fixcost"]})
    job = Job.objects.get(kind="metrics")
    outcomes = {o["metric"]: (o["status"], o["detail"]) for o in job.params["outcomes"]}
    assert outcomes["fixcost"][0] == "done"
    assert outcomes["codetrans"][0] == "skipped" and "No LLM endpoint is configured" in outcomes["codetrans"][1]
    html = admin_client_role.get(DASHBOARD).content.decode()
    assert '<span class="status-skipped">skipped</span> — No LLM endpoint is configured' in html


def test_a_failing_metric_is_reported_and_the_others_still_run(
    admin_client_role, evaluated, django_capture_on_commit_callbacks
):
    def broken(translations, report, options):
        raise RuntimeError("tokenizer missing")

    metrics.register(metrics.Metric("broken", "Broken", (), compute=broken, values=lambda ids: {}))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client_role.post(COMPUTE, {"metrics": ["broken", "fixcost"]})
    finally:
        metrics.unregister("broken")
    job = Job.objects.get(kind="metrics")
    assert job.status == "done" and (job.done, job.failed) == (1, 1)
    outcomes = {o["metric"]: (o["status"], o["detail"]) for o in job.params["outcomes"]}
    assert outcomes == {"broken": ("failed", "RuntimeError: tokenizer missing"), "fixcost": outcomes["fixcost"]}
    assert outcomes["fixcost"][0] == "done" and FixCostRecord.objects.count() == 4


def test_a_cancelled_compute_job_stops_before_the_next_metric(
    admin_client_role, evaluated, django_capture_on_commit_callbacks
):
    computed = []

    def cancel_meanwhile(translations, report, options):
        computed.append("first")
        Job.objects.filter(kind="metrics").update(cancel_requested=True)  # Cancel pressed during this metric

    metrics.register(metrics.Metric("first", "First", (), compute=cancel_meanwhile, values=lambda ids: {}))
    metrics.register(
        metrics.Metric("second", "Second", (), compute=lambda *a: computed.append("second"), values=lambda ids: {})
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client_role.post(COMPUTE, {"metrics": ["first", "second"]})
    finally:
        metrics.unregister("first"), metrics.unregister("second")
    job = Job.objects.get(kind="metrics")
    assert job.status == "cancelled" and computed == ["first"]
    assert [o["metric"] for o in job.params["outcomes"]] == ["first"]


def test_compute_with_no_metric_ticked_starts_nothing(admin_client_role, evaluated):
    response = admin_client_role.post(COMPUTE, {"system": ""}, follow=True)
    assert "Choose at least one metric." in response.content.decode()
    assert not Job.objects.exists()


def test_the_compute_job_stores_the_dashboard_it_changed(
    admin_client_role, stored_dashboard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(COMPUTE, {"metrics": ["fixcost"]})
    snapshot = DashboardSnapshot.objects.get()
    assert snapshot.generation == dashboard.generation() > stored_dashboard.generation
    assert 'class="stale"' not in admin_client_role.get(DASHBOARD).content.decode()


def test_compute_with_bad_arguments_starts_nothing(admin_client_role, db):
    response = admin_client_role.post(COMPUTE, {"metrics": ["codebleu"], "reference_system": "ghost"}, follow=True)
    assert "No system named" in response.content.decode()
    assert not Job.objects.exists()


def test_an_llm_comparison_job_runs_for_two_systems(
    admin_client_role,
    evaluated,
    llm_endpoint,
    django_capture_on_commit_callbacks,
):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Verdict: tie"))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(
            reverse("evaluate:llm_compare_start"), {"system_a": "base", "system_b": "t2j"}
        )
    assert response.status_code == 302
    job = Job.objects.get(kind="llm-compare")
    assert (job.status, job.done) == ("done", 2)
    assert Comparison.objects.filter(judge_model="served-model").count() == 4


@pytest.mark.parametrize("data", [{"system_a": "base", "system_b": "base"}, {"system_a": "base", "system_b": "x"}, {}])
def test_an_llm_comparison_needs_two_existing_systems(admin_client_role, evaluated, data):
    response = admin_client_role.post(reverse("evaluate:llm_compare_start"), data)
    assert response.status_code == 302 and not Job.objects.exists()


def test_llm_fixcost_estimates_show_beside_the_human_figure(
    admin_client_role,
    evaluated,
    llm_endpoint,
    django_capture_on_commit_callbacks,
):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Steps: 4"))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(reverse("evaluate:fixcost_estimate_start"), {"system": "t2j", "all": "1"})
    assert Job.objects.get(kind="fixcost-estimate").done == 2
    ctx = DashboardContext.from_database(bootstrap=10)
    t2j = next(row for row in ctx.systems if row.name == "t2j")
    assert (t2j.means["fixcost_steps"].estimate, t2j.means["fixcost_llm_steps"].estimate) == (1, 4)
    assert Job.objects.get(kind=dashboard.REFRESH_JOB).status == "done"  # the estimates marked the dashboard stale


def test_a_fixcost_estimate_needs_a_system(admin_client_role, db):
    assert admin_client_role.post(reverse("evaluate:fixcost_estimate_start"), {}).status_code == 302
    assert not Job.objects.exists()


def test_compute_can_be_limited_to_one_system(admin_client_role, evaluated, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(COMPUTE, {"metrics": ["fixcost"], "system": "t2j"})
    job = Job.objects.get(kind="metrics")
    assert job.system.name == "t2j" and "2 verified translations" in job.params["outcomes"][0]["detail"]


def test_an_unknown_baseline_is_an_error_not_a_silently_dropped_filter(admin_client_role, stored_dashboard):
    response = admin_client_role.get(DASHBOARD, {"baseline": "ghost"})
    assert response.status_code == 400
    assert "No system named &#x27;ghost&#x27;" in response.content.decode()
    assert admin_client_role.get(EXPORT, {"table": "systems", "baseline": "ghost"}).status_code == 400


def test_systems_are_chosen_from_a_list_on_the_dashboard(admin_client_role, stored_dashboard):
    html = admin_client_role.get(DASHBOARD, {"baseline": "t2j"}).content.decode()
    assert '<select name="baseline"><option value="">none</option><option value="base">base</option>' in html
    assert '<option value="t2j" selected>t2j</option>' in html
    assert '<select name="system_a" required>' in html and 'input name="system' not in html


@pytest.mark.parametrize("table", [*DASHBOARD_TABLES, "metrics", "comparisons", "judgements"])
def test_every_csv_has_its_header_row_even_with_no_rows(admin_client_role, db, table):
    dashboard.refresh()  # nothing imported yet: every table is empty
    text = _body(admin_client_role.get(EXPORT, {"table": table, "format": "csv"})).decode()
    header = text.splitlines()[0].split(",")
    assert header[0] in ("sample", "system", "id", "a", "rank", "metric", "what"), header
    assert len(header) >= 3  # never the empty line a header-less empty table gave
