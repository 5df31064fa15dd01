"""Pages of the evaluate app: dashboard and downloads (admins), blind review and scoring (reviewers).

Review and scoring pages render only what evaluate.review / evaluate.scoring hand them: no system name,
model or provenance ever reaches a reviewer's HTML before (or after) a vote.
"""

from __future__ import annotations

from dataclasses import asdict

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotate import jobs
from annotate.models import Job, System
from annotate.roles import ADMIN, REVIEWER, role_required
from evaluate import dashboard as stored_dashboard
from evaluate import metrics, review, scoring
from evaluate.compute import ComputeError, metrics_for, model_named, system_named
from evaluate.contexts import DASHBOARD_TABLES, Filters, dashboard_table
from evaluate.exports import TABLES, stream_table, to_csv, to_json
from evaluate.tasks import start_compute_job, start_fixcost_estimate_job, start_llm_compare_job

EVALUATE_JOB_KINDS = ("metrics", "llm-compare", "fixcost-estimate", stored_dashboard.REFRESH_JOB)
UNKNOWN_TABLE = "Unknown table or format."
NOT_COMPUTED = "The dashboard has not been computed yet: start a refresh on the dashboard page."


def _shown(request: HttpRequest) -> stored_dashboard.Shown:
    """The stored (or, when filtered, cached) dashboard context for this request's filters; ComputeError when
    the baseline names no system."""
    baseline = request.GET.get("baseline", "").strip()[:100]
    system_named(baseline)
    return stored_dashboard.shown(Filters.from_query(request.GET), baseline)


@require_GET
@role_required(ADMIN)  # names systems
def dashboard(request: HttpRequest) -> HttpResponse:
    """Shows what the refresh job stored (never builds it), with its age and a stale mark."""
    jobs.fail_silent_jobs()  # a dead worker's job must not show as running
    error, status = "", 200
    try:
        shown = _shown(request)
    except ComputeError as problem:  # an unknown choice is an error, not a filter silently dropped
        error, status = f"{problem} The unfiltered dashboard is shown.", 400
        shown = stored_dashboard.stored()
    context = (shown.context or {}) | {
        "stored": shown.context is not None,
        "computed_at": shown.computed_at,
        "stale": shown.stale,
        "error": error,
        "query": request.GET.urlencode() if not error else "",
        "tables": DASHBOARD_TABLES,
        "metrics": metrics.all_metrics(),
        "system_names": list(System.objects.order_by("name").values_list("name", flat=True)),
        "jobs": Job.objects.filter(kind__in=EVALUATE_JOB_KINDS).select_related("system")[:5],
    }
    if error:
        context["baseline"] = ""
    return render(request, "evaluate/dashboard.html", context, status=status)


@require_POST
@role_required(ADMIN)
def dashboard_refresh(request: HttpRequest) -> HttpResponse:
    if stored_dashboard.queue_refresh(request.user) is None:
        messages.info(request, "A dashboard refresh is already queued or running.")
    else:
        messages.success(request, "Computing the dashboard in the background.")
    return redirect("evaluate:dashboard")


@require_GET
@role_required(ADMIN)
def metrics_export(request: HttpRequest) -> HttpResponse:
    """?table=metrics|comparisons|judgements|<dashboard table>|plot-<id>&format=csv|json (dashboard tables and
    plot data keep filters)."""
    table = request.GET.get("table", "metrics")
    fmt = request.GET.get("format", "csv")
    known = table in TABLES or table in DASHBOARD_TABLES or table.startswith("plot-")
    if fmt not in ("csv", "json") or not known:
        return HttpResponse(UNKNOWN_TABLE, status=400, content_type="text/plain")
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    if table in TABLES:
        # Streamed as it is read (tens of thousands of votes): the web process never holds the whole file.
        response = StreamingHttpResponse(stream_table(table, fmt), content_type=content_type)
    else:
        try:
            shown = _shown(request)  # the same stored context the page shows, not a fresh build
        except ComputeError as error:
            return HttpResponse(str(error), status=400, content_type="text/plain")
        if shown.context is None:
            return HttpResponse(NOT_COMPUTED, status=409, content_type="text/plain")
        try:
            rows, columns = dashboard_table(shown.context, table)
        except ValueError:  # a plot the stored dashboard does not have
            return HttpResponse(UNKNOWN_TABLE, status=400, content_type="text/plain")
        response = HttpResponse(to_csv(rows, columns) if fmt == "csv" else to_json(rows), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="t2j-{table}.{fmt}"'
    return response


@require_POST
@role_required(ADMIN)
def metrics_compute(request: HttpRequest) -> HttpResponse:
    """Compute the ticked metrics (?metrics=name, repeated) as a job with one progress step per metric."""
    options = {key: request.POST.get(key, "").strip()[:200] for key in ("reference_system", "baseline_system", "model")}
    try:
        chosen = metrics_for(request.POST.getlist("metrics"))
        system_named(options["reference_system"]), system_named(options["baseline_system"])
        model_named(options["model"])
        only = system_named(request.POST.get("system", "").strip()[:100])
    except ComputeError as error:
        messages.error(request, str(error))
        return redirect("evaluate:dashboard")
    start_compute_job(chosen, request.user, system=only, **options)
    labels = ", ".join(metrics.get(name).label for name in chosen)
    messages.success(request, f"Computing {labels} in the background; progress below.")
    return redirect("evaluate:dashboard")


@require_POST
@role_required(ADMIN)
def llm_compare_start(request: HttpRequest) -> HttpResponse:
    """LLM-as-judge comparison of two systems on their common samples, in both orders."""
    a, b = (request.POST.get(key, "").strip()[:100] for key in ("system_a", "system_b"))
    try:
        if not a or not b or a == b:
            raise ComputeError("Choose two different systems to compare.")
        system_named(a), system_named(b)
        model = model_named(request.POST.get("model", "").strip()[:200])
    except ComputeError as error:
        messages.error(request, str(error))
        return redirect("evaluate:dashboard")
    start_llm_compare_job(a, b, request.user, model=model)
    messages.success(request, f"LLM comparison of {a} and {b} started.")
    return redirect("evaluate:dashboard")


@require_POST
@role_required(ADMIN)
def fixcost_estimate_start(request: HttpRequest) -> HttpResponse:
    """LLM FixCost estimates for one system (unfixed translations, or all to compare with the human figure)."""
    try:
        system = system_named(request.POST.get("system", "").strip()[:100])
        if system is None:
            raise ComputeError("Choose the system whose translations to estimate.")
        model = model_named(request.POST.get("model", "").strip()[:200])
    except ComputeError as error:
        messages.error(request, str(error))
        return redirect("evaluate:dashboard")
    start_fixcost_estimate_job(system, request.user, model=model, every=request.POST.get("all") == "1")
    messages.success(request, f"FixCost estimates for {system.name} started.")
    return redirect("evaluate:dashboard")


# The pairs and items a reviewer skipped stay in their (server-side) session: ids never reach the page.
REVIEW_SKIPPED = "t2j_review_skipped"
SCORE_SKIPPED = "t2j_score_skipped"
SKIPS_KEPT = 500


def _skipped(request: HttpRequest, key: str) -> list[tuple]:
    return [tuple(item) for item in request.session.get(key, [])]


def _skip(request: HttpRequest, key: str, item: tuple) -> None:
    kept = [list(old) for old in request.session.get(key, []) if tuple(old) != item]
    request.session[key] = (kept + [list(item)])[-SKIPS_KEPT:]


def _back(request: HttpRequest) -> int:
    try:
        return max(0, int(request.GET.get("back", "0")))
    except ValueError:
        return 0


def _again(name: str, original: bool) -> str:
    return reverse(name) + ("?original=1" if original else "")


@require_GET
@role_required(REVIEWER, ADMIN)
def review_compare(request: HttpRequest) -> HttpResponse:
    """The next blind pair (or the one named by ?pair=, or with ?back=n the n-th most recent pair voted on),
    sides as this reviewer sees them; ?original=1 keeps comments and docstrings (names still redacted)."""
    original, back = request.GET.get("original") == "1", _back(request)
    first, waiting = review.next_pair(request.user, skipped=_skipped(request, REVIEW_SKIPPED))
    progress = review.progress(request.user, waiting)
    try:
        if back:
            pair = review.show_previous(request.user, back, original=original, progress=progress)
        elif request.GET.get("pair"):
            pair = review.show_again(request.user, request.GET["pair"], original=original, progress=progress)
        elif first:
            _, lo, hi = first
            pair = review.show_pair(request.user, lo, hi, original=original, progress=progress)
        else:
            return render(request, "evaluate/review_compare.html", {"pair": None, "progress": progress})
    except review.ReviewError as error:
        messages.error(request, str(error))
        return redirect("evaluate:review_compare")
    return render(request, "evaluate/review_compare.html", _pair_context(pair))


def _pair_context(pair: review.BlindPair, **extra) -> dict:
    return {"pair": asdict(pair), "voted_words": review.VERDICT_WORDS.get(pair.voted, ""), **extra}


@require_POST
@role_required(REVIEWER, ADMIN)
def comparison_vote(request: HttpRequest) -> HttpResponse:
    token, original = request.POST.get("pair", ""), request.POST.get("original") == "1"
    try:
        review.read_pair(request.user, token)
    except review.ReviewError as error:
        messages.error(request, str(error))
        return redirect("evaluate:review_compare")
    try:
        review.record_vote(
            request.user,
            token,
            verdict=request.POST.get("verdict", ""),
            reason=request.POST.get("reason", ""),
            original=original,
        )
    except review.ReviewError as error:
        # Show the same pair again (same handle: the clock keeps running from the first showing) with what the
        # reviewer typed, and say what is missing; nothing was stored.
        _, waiting = review.next_pair(request.user, skipped=_skipped(request, REVIEW_SKIPPED))
        progress = review.progress(request.user, waiting)
        pair = review.show_again(request.user, token, original=original, progress=progress)
        context = _pair_context(pair, error=str(error), reason=request.POST.get("reason", ""))
        return render(request, "evaluate/review_compare.html", context, status=400)
    messages.success(request, "Vote recorded. To change it, go back with Previous (P).")
    return redirect(_again("evaluate:review_compare", original))


@require_POST
@role_required(REVIEWER, ADMIN)
def comparison_skip(request: HttpRequest) -> HttpResponse:
    """Put the pair shown at the end of this reviewer's queue (for as long as they stay logged in)."""
    original = request.POST.get("original") == "1"
    try:
        handle = review.read_pair(request.user, request.POST.get("pair", ""))
    except review.ReviewError as error:
        messages.error(request, str(error))
    else:
        _skip(request, REVIEW_SKIPPED, (handle.first_id, handle.second_id))
        messages.info(request, "Skipped; that pair comes back after the others.")
    return redirect(_again("evaluate:review_compare", original))


@require_GET
@role_required(REVIEWER, ADMIN)
def score_translation(request: HttpRequest) -> HttpResponse:
    """The next item to score (or the one named by ?item=, or with ?back=n the n-th most recent scored)."""
    original, back = request.GET.get("original") == "1", _back(request)
    try:
        if back:
            item = scoring.previous_item(request.user, back, original=original)
        elif request.GET.get("item"):
            item = scoring.item_from_token(request.user, request.GET["item"], original=original)
        else:
            item = scoring.next_item(request.user, original=original, skipped=_skipped(request, SCORE_SKIPPED))
    except (review.ReviewError, scoring.Translation.DoesNotExist) as error:
        messages.error(request, str(error) if back else "This scoring link is not valid; here is the next translation.")
        return redirect("evaluate:score_translation")
    context = {"item": asdict(item) if item else None, "scores": SCORES}
    if item is None:
        context["progress"] = scoring.progress(request.user)
    return render(request, "evaluate/score_translation.html", context)


SCORES = ("0", "1", "2", "3", "4")


@require_POST
@role_required(REVIEWER, ADMIN)
def judgement_create(request: HttpRequest) -> HttpResponse:
    token, original = request.POST.get("item", ""), request.POST.get("original") == "1"
    try:
        scoring.record_scores(request.user, token, request.POST)
    except review.ReviewError as error:
        messages.error(request, str(error))
        url = reverse("evaluate:score_translation")
        return redirect(f"{url}?item={token}" if token else url)
    messages.success(request, "Scores recorded. To change them, go back with Previous (P).")
    return redirect(_again("evaluate:score_translation", original))


@require_POST
@role_required(REVIEWER, ADMIN)
def judgement_skip(request: HttpRequest) -> HttpResponse:
    """Put the item shown at the end of this reviewer's score queue (for as long as they stay logged in)."""
    original = request.POST.get("original") == "1"
    try:
        item = scoring.skipped_item(request.user, request.POST.get("item", ""))
    except review.ReviewError as error:
        messages.error(request, str(error))
    else:
        _skip(request, SCORE_SKIPPED, item)
        messages.info(request, "Skipped; that translation comes back after the others.")
    return redirect(_again("evaluate:score_translation", original))
