"""The catalog: the home page, samples (their data files and run settings), systems (their batch runs) and
their background jobs, a run's plots, and what the sandbox has."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate import batch_runs, job_kinds, jobs, sample_files, system_stats
from annotate.forms.catalog import SampleFileForm, SampleRunSettingsForm
from annotate.models import Difficulty, Job, Run, RunPlot, Sample, SampleFile, SessionStatus, System, Translation
from annotate.roles import ADMIN, DEVELOPER, REVIEWER, is_admin, role_required, user_roles
from annotate.sandbox import Limits, runtime_info
from annotate.tasks import start_batch_run_job, start_recount_job

ANY_ROLE = (DEVELOPER, REVIEWER, ADMIN)
# What the sample list shows: no program or contract text is read for it.
SAMPLE_COLUMNS = ("key", "title", "origin", "difficulty", "import_position")


@require_GET
@role_required(*ANY_ROLE)
def home(request: HttpRequest) -> HttpResponse:
    roles = user_roles(request.user)
    context = {"sample_count": Sample.objects.count()}
    if DEVELOPER in roles:
        context["my_open_sessions"] = (
            request.user.fix_sessions.filter(status=SessionStatus.OPEN)
            .select_related("translation__sample")
            .order_by("-last_activity_at")[:10]
        )
    if ADMIN in roles:
        context["systems"] = System.objects.annotate(n_translations=Count("translations"))
        context["active_jobs"] = jobs.for_dashboard().select_related("system")[:10]
    return render(request, "annotate/home.html", context)


@require_GET
@role_required(*ANY_ROLE)
def sample_list(request: HttpRequest) -> HttpResponse:
    # Only these named filters are read from the query string: no free-form ORM lookups (case 27).
    filters = {
        "origin": request.GET.get("origin", "").strip(),
        "difficulty": request.GET.get("difficulty", "").strip(),
        "search": request.GET.get("q", "").strip()[:100],
    }
    if filters["difficulty"] not in Difficulty.values:
        filters["difficulty"] = ""
    samples = Sample.objects.filtered(**filters).only(*SAMPLE_COLUMNS).order_by("import_position", "key")
    page = Paginator(samples, settings.T2J_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_counts(list(page.object_list))
    context = {
        "page": page,
        "filters": filters,
        "origins": Sample.objects.exclude(origin="").values_list("origin", flat=True).distinct().order_by("origin"),
        "difficulties": Difficulty.values,
        "query_without_page": _query_without_page(request),
    }
    template = "annotate/sample_list.html"
    if request.htmx:
        template += "#sample-table"
    return render(request, template, context)


def _with_counts(samples: list[Sample]) -> list[Sample]:
    """Each sample of a page with `n_translations` and `n_verified`, counted for that page only (one query):
    counting before paginating would group every sample's translations on every request."""
    counts = {
        row["sample_id"]: row
        for row in Translation.objects.filter(sample__in=samples)
        .order_by()
        .values("sample_id")
        .annotate(
            n=Count("pk", distinct=True),
            verified=Count("fix_sessions", filter=Q(fix_sessions__status=SessionStatus.VERIFIED), distinct=True),
        )
    }
    for sample in samples:
        row = counts.get(sample.pk, {})
        sample.n_translations, sample.n_verified = row.get("n", 0), row.get("verified", 0)
    return samples


@require_GET
@role_required(DEVELOPER, ADMIN)  # names systems: never for reviewers
def sample_detail(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    return _sample_page(request, sample)


def _sample_page(request: HttpRequest, sample: Sample, status: int = 200, **forms) -> HttpResponse:
    translations = sample.translations.select_related("system").prefetch_related("fix_sessions__owner")
    context = {
        "sample": sample,
        "translations": translations,
        "files": sample.files.defer("content"),
        "limits": Limits.resolve(sample.run_limits()),
        "default_limits": Limits.from_settings(),
    }
    if is_admin(request.user):
        context["settings_form"] = forms.get("settings_form") or SampleRunSettingsForm(instance=sample)
        context["file_form"] = forms.get("file_form") or SampleFileForm()
    return render(request, "annotate/sample_detail.html", context, status=status)


@require_POST
@role_required(ADMIN)
def sample_settings_update(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    form = SampleRunSettingsForm(request.POST, instance=sample)
    if not form.is_valid():
        sample.refresh_from_db()
        return _sample_page(request, sample, 400, settings_form=form)
    form.save()
    messages.success(request, f"Run settings of {sample.key} saved; its next runs use them.")
    return redirect(sample)


@require_POST
@role_required(ADMIN)
def sample_file_create(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    form = SampleFileForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attached = sample_files.attach(
                sample, form.chosen_name(), form.cleaned_data["file"].read(), user=request.user
            )
        except sample_files.SampleFileProblem as problem:
            form.add_error(None, str(problem))
        else:
            messages.success(request, f"Attached {attached.name} ({attached.size} bytes).")
            return redirect(sample)
    return _sample_page(request, sample, 400, file_form=form)


@require_POST
@role_required(ADMIN)
def sample_file_delete(request: HttpRequest, key: str, file_id: int) -> HttpResponse:
    attached = get_object_or_404(SampleFile.objects.defer("content"), sample__key=key, pk=file_id)
    sample_files.remove(attached.sample, attached.name)
    messages.success(request, f"Removed {attached.name}.")
    return redirect(attached.sample)


@require_GET
@role_required(DEVELOPER, ADMIN)
def sample_file_download(request: HttpRequest, key: str, file_id: int) -> HttpResponse:
    attached = get_object_or_404(SampleFile, sample__key=key, pk=file_id)
    # Never rendered by the browser on our origin (RELIABILITY.md case 31): a download, whatever its name says.
    response = HttpResponse(bytes(attached.content), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, attached.name.rsplit("/", 1)[-1])
    return response


@require_GET
@role_required(ADMIN)
def system_list(request: HttpRequest) -> HttpResponse:
    systems = System.objects.annotate(n_translations=Count("translations"))
    return render(request, "annotate/system_list.html", {"systems": systems})


def _stats_context(system: System) -> dict:
    return {
        "system": system,
        "stats": system_stats.rows(system),
        "job": system.jobs.filter(kind="recount").first(),
    }


@require_GET
@role_required(ADMIN)
def system_detail(request: HttpRequest, name: str) -> HttpResponse:
    system = get_object_or_404(System, name=name)
    jobs.fail_silent_jobs()
    context = {
        **_stats_context(system),
        "batch_job": system.jobs.filter(kind=batch_runs.JOB_KIND).first(),
        "batch_summaries": batch_runs.summary(system),
    }
    return render(request, "annotate/system_detail.html", context)


@require_GET
@role_required(ADMIN)
def system_stats_hx(request: HttpRequest, name: str) -> HttpResponse:
    """The statistics block of a system's page: polled while a recount runs, so the counts replace themselves."""
    system = get_object_or_404(System, name=name)
    jobs.fail_silent_jobs()
    return render(request, "annotate/system_detail.html#stats", _stats_context(system))


@require_POST
@role_required(ADMIN)
def system_runs_start(request: HttpRequest, name: str) -> HttpResponse:
    """Run every translation of the system (kind jax) or its samples' PyTorch programs, as a background job."""
    system = get_object_or_404(System, name=name)
    kind = request.POST.get("kind", "")
    if system.jobs.filter(kind=batch_runs.JOB_KIND).active().exists():
        messages.error(request, "A batch run of this system is already going; wait for it or cancel it.")
    elif kind not in batch_runs.KINDS:
        return HttpResponse(f"Unknown kind {kind!r}: choose jax or pytorch.", status=400, content_type="text/plain")
    else:
        start_batch_run_job(system, kind, user=request.user)
    if request.htmx:
        return HttpResponseClientRedirect(system.get_absolute_url())
    return redirect(system)


@require_POST
@role_required(ADMIN)
def system_recount(request: HttpRequest, name: str) -> HttpResponse:
    system = get_object_or_404(System, name=name)
    if not system.jobs.filter(kind="recount").active().exists():
        start_recount_job(system, request.user)
    if request.htmx:
        system.refresh_from_db()  # an inline (test) task has counted already
        return render(request, "annotate/system_detail.html#stats", _stats_context(system))
    return redirect(system)


@require_GET
@role_required(ADMIN)
def job_progress_hx(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=pk)
    if job.is_active and jobs.fail_silent_jobs():
        job.refresh_from_db()  # a watched job whose worker died turns failed without a page reload
    return render(request, "annotate/_job_progress.html", {"job": job})


@require_POST
@role_required(ADMIN)
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=pk)
    jobs.request_cancel(job)
    if request.htmx:
        return render(request, "annotate/_job_progress.html", {"job": job})
    if request.POST.get("next") == "jobs":
        return redirect("annotate:job_list")
    return redirect(job.system or "home")


@require_GET
@role_required(ADMIN)
def job_list(request: HttpRequest) -> HttpResponse:
    """Every background job, newest first, paginated; the table refreshes itself while any shown is active."""
    jobs.fail_silent_jobs()
    page = Paginator(Job.objects.select_related("system", "created_by"), settings.T2J_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(job, job_kinds.label(job.kind), job_kinds.can_retry(job)) for job in page]
    context = {"page": page, "rows": rows, "any_active": any(job.is_active for job in page)}
    template = "annotate/job_list.html"
    if request.htmx:
        template += "#job-rows"
    return render(request, template, context)


@require_POST
@role_required(ADMIN)
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a finished, failed or cancelled job again with the same settings, as a new job."""
    job = get_object_or_404(Job, pk=pk)
    try:
        new = job_kinds.retry(job, request.user)
    except ValueError as problem:
        messages.error(request, str(problem))
    else:
        messages.success(request, f"{job_kinds.label(job.kind)} started again as job {new.pk}.")
    return redirect("annotate:job_list")


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- runs and the sandbox ------------------------------------------------------------------------------------


@require_GET
@role_required(DEVELOPER, ADMIN)
def run_plot(request: HttpRequest, run_id: int, position: int) -> HttpResponse:
    """A plot a run drew: a PNG the host re-encoded, for whoever may see the run."""
    run = get_object_or_404(Run.objects.visible_to(request.user).only("pk"), pk=run_id)
    plot = get_object_or_404(RunPlot, run=run, position=position)
    response = HttpResponse(bytes(plot.png), content_type="image/png")
    response["Content-Disposition"] = content_disposition_header(False, f"run-{run.pk}-plot-{plot.position}.png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
@role_required(*ANY_ROLE)
def sandbox_contents(request: HttpRequest) -> HttpResponse:
    """What programs can use in the sandbox: the runtime's packages with versions, stand-ins, limits."""
    context = {
        "runtime": runtime_info.contents(),
        "limits": Limits.from_settings(),
        "ceiling": Limits.ceiling(),
        "standin_counts": (settings.T2J_STANDIN_TRAIN_EXAMPLES, settings.T2J_STANDIN_TEST_EXAMPLES),
        "plot_caps": (settings.T2J_PLOTS_MAX_COUNT, settings.T2J_PLOTS_MAX_BYTES),
        "file_caps": (settings.T2J_SAMPLE_FILES_MAX_COUNT, settings.T2J_SAMPLE_FILES_MAX_BYTES),
    }
    return render(request, "annotate/sandbox_contents.html", context)
