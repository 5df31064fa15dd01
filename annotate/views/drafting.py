"""Admin pages for LLM drafting: define a system, draft all samples with it, retry failures, preview prompts."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate import drafting, llm, prompting, tasks
from annotate.forms.drafting import LLMSystemForm
from annotate.models import Sample, System
from annotate.roles import ADMIN, role_required


def _get_llm_system(name: str) -> System:
    """The drafting system named `name`, or 404 (human and imported systems have no drafting page)."""
    return get_object_or_404(System, name=name, mode__in=drafting.LLM_MODES)


@require_GET
@role_required(ADMIN)
def system_list(request: HttpRequest) -> HttpResponse:
    systems = list(System.objects.filter(mode__in=drafting.LLM_MODES))
    totals = drafting.token_totals_of(systems)
    rows = [(system, totals[system.pk]) for system in systems]
    return render(request, "annotate/drafting_system_list.html", {"rows": rows, "problem": llm.configuration_problem()})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def system_create(request: HttpRequest) -> HttpResponse:
    form = LLMSystemForm(request.POST or None)
    if form.is_valid():
        system = form.save()
        messages.success(request, f"System {system.name} defined.")
        return redirect("drafting:system_detail", name=system.name)
    return render(request, "annotate/drafting_system_form.html", {"form": form})


@require_GET
@role_required(ADMIN)
def system_detail(request: HttpRequest, name: str) -> HttpResponse:
    system = _get_llm_system(name)
    context = {
        "system": system,
        "totals": drafting.token_totals(system),
        "job": drafting.latest_draft_job(system),
        "problem": llm.configuration_problem(system.model),
        "model": llm.resolve_model(system.model),
        "budget": prompting.budget_for(system),
        "samples": _sample_suggestions(),
    }
    return render(request, "annotate/drafting_system_detail.html", context)


@require_POST
@role_required(ADMIN)
def draft_start(request: HttpRequest, name: str) -> HttpResponse:
    return _start(request, _get_llm_system(name), retry_failed=False)


@require_POST
@role_required(ADMIN)
def draft_retry(request: HttpRequest, name: str) -> HttpResponse:
    return _start(request, _get_llm_system(name), retry_failed=True)


def _start(request: HttpRequest, system: System, *, retry_failed: bool) -> HttpResponse:
    try:
        job = tasks.start_draft_job(system, request.user, retry_failed=retry_failed)
    except drafting.DraftingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Drafting {job.total} samples in the background.")
    url = reverse("drafting:system_detail", args=[system.name])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@role_required(ADMIN)
def prompt_preview(request: HttpRequest, name: str) -> HttpResponse:
    system = _get_llm_system(name)
    key = request.GET.get("sample", "").strip()
    sample = _sample_named(key) if key else Sample.objects.first()
    context = {"system": system, "sample": sample, "asked": key, "sample_keys": _sample_suggestions()}
    if key and sample is None:
        # Said on the page with the field to correct it, not as the site's bare 404.
        context["error"] = f"There is no sample {key!r}: type a sample's key (the list suggests them)."
        return render(request, "annotate/drafting_preview.html", context, status=404)
    if sample is not None:
        try:
            context["prompt"] = prompting.build_prompt(system, sample)
        except prompting.PromptTooLarge as error:
            context["error"] = str(error)
    return render(request, "annotate/drafting_preview.html", context)


def _sample_suggestions():
    """(key, title) of every sample, for the sample field's suggestion list."""
    return Sample.objects.values_list("key", "title")


def _sample_named(text: str) -> Sample | None:
    """The sample whose key is `text`; else the one whose key differs only in case, or whose title it is."""
    samples = Sample.objects.only("pk", "key", "title", "pytorch_code")
    return (
        samples.filter(key=text).first()
        or samples.filter(key__iexact=text).order_by("key").first()
        or samples.filter(title=text).order_by("key").first()
    )
