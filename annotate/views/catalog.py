"""The catalog: the home page, samples, systems and their background jobs."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate import jobs
from annotate.models import Difficulty, Job, Sample, SessionStatus, System
from annotate.roles import ADMIN, DEVELOPER, REVIEWER, role_required, user_roles
from annotate.tasks import recount_system_stats

ANY_ROLE = (DEVELOPER, REVIEWER, ADMIN)


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
    samples = Sample.objects.filtered(**filters).annotate(
        n_translations=Count("translations", distinct=True),
        n_verified=Count(
            "translations__fix_sessions",
            filter=Q(translations__fix_sessions__status=SessionStatus.VERIFIED),
            distinct=True,
        ),
    ).order_by("import_position", "key")
    page = Paginator(samples, settings.T2J_PAGE_SIZE).get_page(request.GET.get("page"))
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


@require_GET
@role_required(DEVELOPER, ADMIN)  # names systems: never for reviewers
def sample_detail(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    translations = sample.translations.select_related("system").prefetch_related("fix_sessions__owner")
    return render(request, "annotate/sample_detail.html", {"sample": sample, "translations": translations})


@require_GET
@role_required(ADMIN)
def system_list(request: HttpRequest) -> HttpResponse:
    systems = System.objects.annotate(n_translations=Count("translations"))
    return render(request, "annotate/system_list.html", {"systems": systems})


@require_GET
@role_required(ADMIN)
def system_detail(request: HttpRequest, name: str) -> HttpResponse:
    system = get_object_or_404(System, name=name)
    jobs.fail_silent_jobs()
    job = system.jobs.filter(kind="recount").first()
    return render(request, "annotate/system_detail.html", {"system": system, "job": job})


@require_POST
@role_required(ADMIN)
def system_recount(request: HttpRequest, name: str) -> HttpResponse:
    system = get_object_or_404(System, name=name)
    jobs.start_job(
        "recount", recount_system_stats, system=system, user=request.user, total=system.translations.count()
    )
    if request.htmx:
        return HttpResponseClientRedirect(system.get_absolute_url())
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
    return redirect(job.system or "home")


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
