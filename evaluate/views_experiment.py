"""Experiment pages (admins): the list, and each experiment's report with its plots, steps and downloads.

The report page reads the report the last step (or a rebuild) stored on the experiment; it never builds it.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate import jobs
from annotate.roles import ADMIN, role_required
from evaluate import experiment as experiments
from evaluate import experiment_report
from evaluate.experiment_tasks import start_step
from evaluate.exports import to_csv, to_json
from evaluate.models import Experiment

UNKNOWN_TABLE = "Unknown table or format."
NOT_BUILT = "This experiment has no report yet: run a step or rebuild the report."


@require_GET
@role_required(ADMIN)  # names systems and models
def experiment_list(request: HttpRequest) -> HttpResponse:
    rows = Experiment.objects.prefetch_related("arms__system").order_by("-created_at", "-pk")
    return render(request, "evaluate/experiment_list.html", {"experiments": rows})


@require_GET
@role_required(ADMIN)
def experiment_detail(request: HttpRequest, experiment_name: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, name=experiment_name)
    jobs.fail_silent_jobs()  # a dead worker's step must not show as running
    report = experiment.report or None
    context = {
        "experiment": experiment,
        "report": report,
        "page": experiment_report.page(report) if report else None,
        "steps": experiments.STEPS,
        "jobs": experiments.jobs_of(experiment)[:10],
        "formats": experiment_report.FORMATS,
    }
    return render(request, "evaluate/experiment_detail.html", context)


@require_POST
@role_required(ADMIN)
def experiment_step_start(request: HttpRequest, experiment_name: str) -> HttpResponse:
    experiment = get_object_or_404(Experiment, name=experiment_name)
    step = request.POST.get("step", "")
    try:
        start_step(experiment, step, request.user)
    except experiments.ExperimentError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Step {step} queued; its progress shows below.")
    return redirect("evaluate:experiment_detail", experiment_name=experiment_name)


@require_POST
@role_required(ADMIN)
def experiment_report_rebuild(request: HttpRequest, experiment_name: str) -> HttpResponse:
    """Rebuild the stored report now (votes or fixes may have come in since the last step)."""
    experiment_report.store(get_object_or_404(Experiment, name=experiment_name))
    messages.success(request, "Report rebuilt.")
    return redirect("evaluate:experiment_detail", experiment_name=experiment_name)


@require_GET
@role_required(ADMIN)
def experiment_export(request: HttpRequest, experiment_name: str) -> HttpResponse:
    """?format=md|csv|json: the whole stored report; with ?table=per-sample|plot-<id>: that table as csv|json."""
    experiment = get_object_or_404(Experiment, name=experiment_name)
    fmt, table = request.GET.get("format", "json"), request.GET.get("table", "")
    if not experiment.report:
        return HttpResponse(NOT_BUILT, status=409, content_type="text/plain")
    if table:
        rows, columns = _table(experiment.report, table)
        if rows is None or fmt not in ("csv", "json"):
            return HttpResponse(UNKNOWN_TABLE, status=400, content_type="text/plain")
        body, filename = (to_csv(rows, columns) if fmt == "csv" else to_json(rows)), f"{experiment_name}-{table}.{fmt}"
    elif fmt in experiment_report.FORMATS:
        body, filename = experiment_report.render(experiment.report, fmt), f"{experiment_name}-report.{fmt}"
    else:
        return HttpResponse(UNKNOWN_TABLE, status=400, content_type="text/plain")
    content_type = {"csv": "text/csv; charset=utf-8", "json": "application/json", "md": "text/markdown; charset=utf-8"}
    response = HttpResponse(body, content_type=content_type[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _table(report: dict, table: str) -> tuple[list | None, list]:
    if table == "per-sample":
        return report["per_sample"], experiment_report.per_sample_columns(report)
    plot = next((p for p in experiment_report.plots_of(report) if p.table == table), None)
    return (plot.rows, plot.columns) if plot else (None, [])
