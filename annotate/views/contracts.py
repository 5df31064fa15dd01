"""Admins write and try samples' equivalence contracts. Views are glue: check access, call contracts, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate import contracts
from annotate.models import FixSession, Sample, SessionStatus, Translation
from annotate.roles import ADMIN, role_required

EDIT = "annotate/contract_edit.html"


@require_GET
@role_required(ADMIN)
def contract_list(request: HttpRequest) -> HttpResponse:
    """A page of samples with their contract's version and stale verified sessions (names and counts only)."""
    samples = (
        Sample.objects.only("key", "title", "contract_version", "import_position")
        .annotate(has_contract=~Q(contract=""))
        .order_by("import_position", "key")
    )
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
    return render(request, "annotate/contract_list.html", {"samples": page, "page": page})


@require_http_methods(["GET", "POST"])
@role_required(ADMIN)
def contract_edit(request: HttpRequest, key: str) -> HttpResponse:
    sample = get_object_or_404(Sample, key=key)
    if request.method == "GET":
        return _edit_page(request, sample, sample.contract, sample.contract_version)
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
    request: HttpRequest, sample: Sample, text: str, based_on: int | None, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "sample": sample,
        "contract_text": text,
        "based_on": based_on,
        "error": error,
        "translations": sample.translations.select_related("system"),
    }
    return render(request, EDIT, context, status=status)


def _check_response(request: HttpRequest, sample: Sample, *, status: int = 200, **context) -> HttpResponse:
    if request.htmx:
        return render(request, "annotate/contract_stages.html", {"sample": sample, **context}, status=status)
    page = {
        "sample": sample,
        "contract_text": sample.contract,
        "based_on": sample.contract_version,
        "translations": sample.translations.select_related("system"),
        "check": context,
    }
    return render(request, EDIT, page, status=status)


def _int_or_none(value: str | None) -> int | None:
    """A small non-negative integer, else None (huge numbers would overflow the database's integer)."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
