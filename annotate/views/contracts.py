"""Admins write, generate and try samples' equivalence contracts, and check a whole system against them.

Views are glue: check access, call annotate.contracts (and the scaffold, the proposal job, the batch job), render.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate import contract_scaffold, contracts, jobs, llm
from annotate.contract_interface import PYTEST, NotAContract, contract_kind
from annotate.models import ContractVerdict, FixSession, Job, Sample, SessionStatus, System, Translation
from annotate.roles import ADMIN, role_required
from annotate.tasks import PROPOSAL_JOB, VERIFY_JOB, start_proposal_job, start_verify_job

EDIT = "annotate/contract_edit.html"
KIND_LABELS = {PYTEST: "pytest-style"}


@require_GET
@role_required(ADMIN)
def contract_list(request: HttpRequest) -> HttpResponse:
    """A page of samples with their contract's kind and version and stale verified sessions; which samples have none."""
    samples = Sample.objects.only(
        "key", "title", "contract", "has_contract", "contract_version", "import_position"
    ).order_by("import_position", "key")
    page = Paginator(samples, settings.T2J_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    # Counted for this page's samples only: counting before paginating would group every sample's sessions.
    stale = dict(
        FixSession.objects.filter(
            translation__sample__in=page.object_list, is_stale=True, status=SessionStatus.VERIFIED
        )
        .order_by()
        .values("translation__sample_id")
        .annotate(n=Count("pk"))
        .values_list("translation__sample_id", "n")
    )
    for sample in page.object_list:
        sample.stale = stale.get(sample.pk, 0)
        sample.kind_label = _kind_label(sample.contract)
    no_contract = Sample.objects.filter(has_contract=False).order_by("import_position", "key")
    without = list(no_contract.values_list("key", flat=True))
    context = {"samples": page, "page": page, "without": without, "n_samples": page.paginator.count}
    return render(request, "annotate/contract_list.html", context)


# A pure function of the text, parsed once per text and process: the list parses a whole page of contracts on
# every request otherwise (25 parses, most of the page's time).
@functools.lru_cache(maxsize=4096)
def _kind_label(text: str) -> str:
    if not text.strip():
        return ""
    try:
        return KIND_LABELS.get(contract_kind(text), "staged")
    except NotAContract:
        return "not a contract"


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def contract_edit(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    if request.method == "GET":
        proposal_job = _proposal_job(request, sample)
        if request.htmx and proposal_job is not None:
            return render(request, EDIT + "#contract-proposal", {"sample": sample, "proposal_job": proposal_job})
        text = sample.contract
        if proposal_job is not None and request.GET.get("load") and proposal_job.params.get("proposal"):
            text = proposal_job.params["proposal"]["text"]
        return _edit_page(request, sample, text, sample.contract_version, proposal_job=proposal_job)
    text = request.POST.get("contract", "")
    based_on = _int_or_none(request.POST.get("based_on"))
    if based_on is None:
        return _edit_page(request, sample, text, None, error="The form lacks the version you edited.", status=400)
    try:
        stale = contracts.change_contract(sample, text, based_on=based_on, user=request.user)
    except contracts.ContractProblem as problem:
        return _edit_page(request, sample, text, based_on, error=str(problem), status=400)
    if sample.contract_version == based_on:
        messages.info(request, "No change: the contract is the one already saved.")
    else:
        messages.success(
            request,
            f"Contract saved as version {sample.contract_version}"
            + (f"; {stale} verified session(s) marked stale." if stale else "."),
        )
    return redirect("contracts:contract_edit", key=sample.key)


@require_GET
@role_required(ADMIN)
def contract_scaffold_new(request: HttpRequest, key: str) -> HttpResponse:
    """The editor holding a scaffold generated from the PyTorch program (read, not run); nothing is saved."""
    sample = get_object_or_404(Sample, key=key)
    try:
        scaffold = contract_scaffold.scaffold(sample.key, sample.pytorch_code)
    except contract_scaffold.ScaffoldProblem as problem:
        return _edit_page(request, sample, sample.contract, sample.contract_version, error=str(problem), status=400)
    note = (
        f"A scaffold generated from the PyTorch program, not saved: finish its {len(scaffold.todos)} TODOs "
        "(or ask the LLM below), then save."
    )
    return _edit_page(request, sample, scaffold.text, sample.contract_version, scaffold_note=note, todos=scaffold.todos)


@require_POST
@role_required(ADMIN)
def contract_proposal_create(request: HttpRequest, key: str) -> HttpResponse:
    """Ask the LLM to finish the posted draft (the editor's text, else a fresh scaffold), in the background."""
    sample = get_object_or_404(Sample, key=key)
    draft = request.POST.get("contract", "").replace("\r\n", "\n")
    problem = llm.configuration_problem()
    if not problem and not draft.strip():
        try:
            draft = contract_scaffold.scaffold(sample.key, sample.pytorch_code).text
        except contract_scaffold.ScaffoldProblem as error:
            problem = str(error)
    if problem:
        return _edit_page(request, sample, draft or sample.contract, _int_or_none(request.POST.get("based_on")),
                          error=problem, status=400)  # fmt: skip
    job = start_proposal_job(sample, draft, user=request.user)
    url = reverse("contracts:contract_edit", args=[sample.key]) + f"?proposal={job.pk}#contract-proposal"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@role_required(ADMIN)
def contract_check(request: HttpRequest, key: str) -> HttpResponse:
    """Run the saved contract on one translation's code (its open or verified session's, else the draft)."""
    sample = get_object_or_404(Sample, key=key)
    translation_id = _int_or_none(request.POST.get("translation"))
    translation = Translation.objects.filter(sample=sample, pk=translation_id).select_related("system").first()
    if translation is None:
        return _check_response(request, sample, error="Choose a translation of this sample to check.", status=400)
    code, source, _ = contracts.code_to_verify(translation)
    try:
        # Not attached to the session: an admin's trial run is not part of the developer's work.
        result = contracts.run_contract(sample, code, user=request.user)
    except contracts.ContractProblem as problem:
        return _check_response(request, sample, error=str(problem), status=400)
    return _check_response(request, sample, result=result, checked=f"{translation.system.name} ({source} code)")


def _edit_page(
    request: HttpRequest,
    sample: Sample,
    text: str,
    based_on: int | None,
    *,
    error: str = "",
    status: int = 200,
    **extra,
) -> HttpResponse:
    context = {
        "sample": sample,
        "contract_text": text,
        "based_on": based_on,
        "error": error,
        "translations": sample.translations.select_related("system"),
        "llm_problem": llm.configuration_problem(),
        **extra,
    }
    return render(request, EDIT, context, status=status)


def _proposal_job(request: HttpRequest, sample: Sample) -> Job | None:
    """The proposal job the page was asked to show (?proposal=ID), when it is this sample's."""
    job_id = _int_or_none(request.GET.get("proposal"))
    if job_id is None:
        return None
    jobs.fail_silent_jobs()
    return Job.objects.filter(pk=job_id, kind=PROPOSAL_JOB, params__sample=sample.key).first()


def _check_response(request: HttpRequest, sample: Sample, *, status: int = 200, **context) -> HttpResponse:
    if request.htmx:
        return render(request, "annotate/contract_stages.html", {"sample": sample, **context}, status=status)
    return _edit_page(request, sample, sample.contract, sample.contract_version, status=status, check=context)


# --- a whole system -------------------------------------------------------------------------------------------


@require_GET
@role_required(ADMIN)
def system_verification(request: HttpRequest, name: str) -> HttpResponse:
    """The system's batch verification: its last job's progress and verdicts (the system page loads this)."""
    system = get_object_or_404(System, name=name)
    jobs.fail_silent_jobs()
    job = system.jobs.filter(kind=VERIFY_JOB).first()
    context = {"system": system, "verify_job": job, "summary": _summary(job)}
    template = "annotate/contract_system.html"
    if request.htmx:
        template += "#system-verification"
    return render(request, template, context)


@require_POST
@role_required(ADMIN)
def system_verify(request: HttpRequest, name: str) -> HttpResponse:
    """Check every translation of the system against its sample's contract, as a background job."""
    system = get_object_or_404(System, name=name)
    if system.jobs.filter(kind=VERIFY_JOB).active().exists():
        messages.info(request, "A verification of this system is already running.")
    else:
        start_verify_job(system, user=request.user)
    url = system.get_absolute_url() + "#system-verification"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _summary(job: Job | None) -> dict | None:
    """Counts and rows of a verification job's results: passed, failed, contract error, no contract."""
    if job is None:
        return None
    results = job.params.get("results") or []
    counts = {verdict: sum(1 for r in results if r.get("verdict") == verdict) for verdict in ContractVerdict}
    return {
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["contract-error"],
        "no_contract": job.params.get("no_contract") or [],
        "results": results,
    }


def _int_or_none(value: str | None) -> int | None:
    """A small non-negative integer, else None (huge numbers would overflow the database's integer)."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
