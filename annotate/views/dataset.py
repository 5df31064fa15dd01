"""Admin pages to move the bug-fix dataset in and out: upload, preview what will change, confirm; downloads."""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotate.dataset import DatasetError, Provenance, import_dataset, preview_dataset, staging, write_export
from annotate.dataset.exporting import (
    JSONL_CONTENT_TYPE,
    T2J_CONTENT_TYPE,
    T2J_FILENAME,
    ZIP_CONTENT_TYPE,
    exported_system_names,
    write_t2j_zip,
)
from annotate.dataset.importing import CONFLICT, NEW, SAME
from annotate.forms.dataset import DatasetExportForm, DatasetUploadForm
from annotate.models import ImportRecord, System
from annotate.roles import ADMIN, role_required

SESSION_KEY = "dataset_import"
RECENT_IMPORTS = 10
TEXT = "; charset=utf-8"
EXPORT_FILES = {
    "t2j": (T2J_CONTENT_TYPE + TEXT, T2J_FILENAME),
    "jsonl": (JSONL_CONTENT_TYPE + TEXT, "fix_sessions.jsonl"),
    "zip": (ZIP_CONTENT_TYPE, "fix_bugs_dataset-by-system.zip"),
}
DOWNLOAD_BLOCK_BYTES = 1 << 16


def _home(request: HttpRequest, *, upload_form=None, errors=(), status: int = 200) -> HttpResponse:
    context = {
        "upload_form": upload_form or DatasetUploadForm(),
        "systems": exported_system_names(),
        "known_systems": System.objects.order_by("name").values_list("name", flat=True),
        "errors": list(errors),
        "imports": ImportRecord.objects.select_related("actor")[:RECENT_IMPORTS],
    }
    return render(request, "annotate/dataset_home.html", context, status=status)


@require_GET
@role_required(ADMIN)
def dataset_home(request: HttpRequest) -> HttpResponse:
    return _home(request)


@require_POST
@role_required(ADMIN)
def import_preview(request: HttpRequest) -> HttpResponse:
    form = DatasetUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _home(request, upload_form=form, status=400)
    upload, options = form.cleaned_data["file"], _options(form.cleaned_data)
    data = upload.read()
    try:
        plan = preview_dataset(data, name=upload.name, **_arguments(options))
    except DatasetError as exc:
        return _home(request, upload_form=form, errors=exc.problems, status=400)
    staging.discard(request.session.get(SESSION_KEY, {}).get("token", ""))
    token = staging.stage(data)
    request.session[SESSION_KEY] = {"token": token, "name": upload.name, **options}
    context = {
        "token": token,
        "plan": plan,
        "name": upload.name,
        "counts": plan.counts(),
        "columns": (NEW, SAME, CONFLICT),
        "can_confirm": plan.changes_anything and (plan.replace or not plan.conflicts),
        "model": options["provenance"]["model"],
    }
    return render(request, "annotate/dataset_preview.html", context)


def _options(cleaned: dict) -> dict:
    """The upload's choices as kept in the session until the confirm (plain values: the session is JSON)."""
    return {
        "system": cleaned["system"] or None, "replace": cleaned["replace"], "fmt": cleaned["format"],
        "provenance": {key: cleaned[key].strip() for key in ("origin", "difficulty", "model")},
    }  # fmt: skip


def _arguments(options: dict) -> dict:
    return {**options, "provenance": Provenance(**options["provenance"])}


@require_POST
@role_required(ADMIN)
def import_confirm(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(SESSION_KEY) or {}
    data = staging.load(pending.get("token", ""))
    if data is None or request.POST.get("token") != pending.get("token"):
        return _home(
            request, errors=["That upload is no longer waiting for confirmation; upload it again."], status=400
        )
    kept = {key: pending[key] for key in ("system", "replace", "fmt")}
    options = _arguments({**kept, "provenance": pending.get("provenance", {})})
    try:
        import_dataset(
            data, name=pending["name"], actor=request.user, model_confirmed=request.POST.get("model_ok") == "1",
            **options,
        )  # fmt: skip
    except DatasetError as exc:
        # The data changed since the preview (e.g. someone else imported): nothing was written.
        return _home(request, errors=exc.problems, status=409)
    staging.discard(pending["token"])
    del request.session[SESSION_KEY]
    messages.success(request, f"Imported {pending['name']}.")
    return redirect("dataset:home")


@require_GET
@role_required(ADMIN)
def export_download(request: HttpRequest) -> HttpResponse:
    """The export, written line by line into a temporary file, then streamed from it: one system's T2J JSON
    or JSONL; for all systems JSONL, or (T2J having no system field) a zip holding one T2J file per system once
    several systems have verified sessions.

    Memory stays flat at any size, and an export that fails (a stored NaN) fails before the first byte is sent.
    """
    form = DatasetExportForm(request.GET)
    if not form.is_valid():
        return _home(request, errors=["Choose an export format: T2J JSON or JSONL."], status=400)
    fmt, system = form.cleaned_data["format"], form.cleaned_data["system"] or None
    by_system = fmt == "t2j" and not system and len(systems := exported_system_names()) > 1
    spool = tempfile.TemporaryFile()  # unlinked already; closed by the response
    try:
        if by_system:
            write_t2j_zip(spool, systems)
        else:
            write_export(spool, fmt, system)
    except DatasetError as exc:
        spool.close()
        return _home(request, errors=exc.problems, status=400)
    content_type, filename = EXPORT_FILES["zip" if by_system else fmt]
    spool.seek(0)
    response = FileResponse(
        spool, as_attachment=True, filename=f"{system}-{filename}" if system else filename, content_type=content_type
    )
    response.block_size = DOWNLOAD_BLOCK_BYTES
    return response
