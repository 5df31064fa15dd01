"""The developer queue and the fix workspace. Views are glue: check access, call annotate.fixlog, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from annotate import contract_interface, contracts, fixlog, prefill, runs, sandbox
from annotate.forms.workspace import (
    CodeForm,
    QueueFilterForm,
    ReassignForm,
    RestoreForm,
    RetractForm,
    RunForm,
    StepForm,
    VerifyForm,
)
from annotate.models import Difficulty, FixSession, FixStep, Run, RunKind, Sample, System, Translation
from annotate.roles import ADMIN, DEVELOPER, is_admin, role_required

WORKSPACE = "annotate/workspace.html"
VERIFY_RESULT = "#verify-result"  # where Verify's answer goes: beside its button


# --- access ----------------------------------------------------------------------------------------------------


def _get_session_for_user(request: HttpRequest, session_id: int) -> FixSession:
    """The session if this user may see it (owner, admin, or verified), else 404."""
    sessions = FixSession.objects.visible_to(request.user).select_related(
        "translation__sample", "translation__system", "owner"
    )
    return get_object_or_404(sessions, pk=session_id)


def _get_step_for_user(request: HttpRequest, step_id: int, steps: QuerySet | None = None) -> FixStep:
    """The step if this user may see its session (owner, admin, or verified), else 404. `steps` says what to read
    with it (by default the step, its session, translation, sample, author and run, whole)."""
    if steps is None:
        steps = FixStep.objects.select_related("session__translation__sample", "author", "run")
    return get_object_or_404(steps.visible_to(request.user), pk=step_id)


# --- queue -----------------------------------------------------------------------------------------------------


MY_SESSION_COLUMNS = (
    "version", "last_activity_at", "translation__sample__key", "translation__system__name",
)  # fmt: skip
QUEUE_COLUMNS = (
    "sample__key", "sample__title", "sample__origin", "sample__difficulty", "sample__import_position",
    "system__name",
)  # fmt: skip


@require_GET
@role_required(DEVELOPER, ADMIN)
def queue(request: HttpRequest) -> HttpResponse:
    fixlog.expire_stale_claims()
    form = QueueFilterForm(request.GET)
    filters = form.filters()
    # The page shows names, not programs: the drafts' code stays unread.
    rows = fixlog.queue(**filters).only(*QUEUE_COLUMNS)
    page = Paginator(rows, settings.T2J_PAGE_SIZE).get_page(request.GET.get("page"))
    open_sessions = fixlog.open_sessions_by_translation([t.pk for t in page.object_list])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": [(t, open_sessions.get(t.pk)) for t in page.object_list],
        "filters": filters,
        "systems": System.objects.values_list("name", flat=True),
        "origins": Sample.objects.exclude(origin="").values_list("origin", flat=True).distinct().order_by("origin"),
        "difficulties": Difficulty.values,
        "query_without_page": query.urlencode(),
        # Names and versions, not the programs (the session's code, the draft, the PyTorch source).
        "my_sessions": FixSession.objects.filter(owner=request.user, status="open")
        .select_related("translation__sample", "translation__system")
        .only(*MY_SESSION_COLUMNS),
    }
    template = "annotate/queue.html"
    if request.htmx:
        template += "#queue-table"
    return render(request, template, context)


@require_POST
@role_required(DEVELOPER, ADMIN)
def translation_claim(request: HttpRequest, translation_id: int) -> HttpResponse:
    translation = get_object_or_404(Translation, pk=translation_id)
    try:
        session = fixlog.claim(translation, request.user)
    except fixlog.WorkspaceError as error:
        messages.error(request, str(error))
        url = reverse("workspace:queue")
    else:
        url = reverse("workspace:session_detail", args=[session.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- the workspace page ----------------------------------------------------------------------------------------


def _workspace_context(request: HttpRequest, session: FixSession, **extra) -> dict:
    steps = list(session.steps.select_related("author", "retracts").order_by("index"))
    retracted_ids = {s.retracts_id for s in steps if s.retracts_id}
    counted = [s for s in steps if not s.retracts_id and s.pk not in retracted_ids]
    jax_run = runs.last_run(session, RunKind.JAX)
    jax_stale = _is_stale(session, jax_run)
    context = {
        "session": session,
        "sample": session.translation.sample,
        "translation": session.translation,
        "can_edit": fixlog.can_edit(session, request.user),
        "is_admin": is_admin(request.user),
        "steps": steps,
        "retracted_ids": retracted_ids,
        "counted_steps": len(counted),
        "flagged_steps": sum(1 for s in counted if s.flags),
        "unflagged_steps": sum(1 for s in counted if not s.flags),
        "snapshot": fixlog.last_snapshot(session),
        "jax_run": jax_run,
        "jax_run_stale": jax_stale,
        # The marker points into the code that ran: once the code changed it would point at the wrong line.
        "jax_failing_line": runs.failing_line(jax_run.traceback) if jax_run and not jax_stale else None,
        "pytorch_run": runs.last_run(session, RunKind.PYTORCH),
        "summary": fixlog.summary(session) if session.status == "verified" else None,
        "has_contract": bool(session.translation.sample.contract.strip()),
        "badge": fixlog.verification_badge(session),
        "verify_form": VerifyForm(),
        "events": session.events.select_related("actor"),
    }
    if context["is_admin"] and session.status == "open":
        context["reassign_form"] = ReassignForm()
    context.update(_contract_panel(session, runs.last_contract_run(session)))
    context.update(extra)
    return context


def _is_stale(session: FixSession, run: Run | None) -> bool:
    """Whether `run` ran other code than the session's current code (its output is from an earlier version)."""
    return run is not None and run.code_hash != runs.code_hash(session.current_code)


def _run_note(note: str) -> str:
    """How a run was served, for the page: without the runner's internal address (annotate.sandbox's note has it)."""
    if note.startswith("cold start: no runner answered"):
        return "cold start: no warm sandbox runner answered"
    if note.startswith("runner "):
        return note.partition("; ")[2]
    return note


def _contract_panel(session: FixSession, run: Run | None) -> dict:
    """The contract tab's context: what the contract expects (read from its source), and the last contract
    run's result with what it checked (this code? this contract?)."""
    sample = session.translation.sample
    context = {
        "contract_result": None,
        "contract_checked": "",
        "contract_run": run,
        "contract_stale": _is_stale(session, run),
        **_contract_reading(sample),
    }
    if run is None:
        return context
    if run.session_version:
        # By its number: "the current code" would read wrong once the editor moves on (stale.js greys the panel).
        code = f"version {run.session_version} of the code"
    elif run.code_hash == runs.code_hash(session.current_code):
        code = "the current code"
    else:
        code = "an earlier version of the code"
    contract = f"contract v{run.contract_version}" if run.contract_version is not None else "the contract"
    if run.contract_version is not None and run.contract_version != sample.contract_version:
        contract += f" (now v{sample.contract_version})"
    return {**context, "contract_result": contracts.result_of(run), "contract_checked": f"{code} against {contract}"}


def _contract_reading(sample: Sample) -> dict:
    """The contract's description for the tab, or why it cannot be read (the sandbox would say the same)."""
    if not sample.contract.strip():
        return {"contract_description": None, "contract_unreadable": ""}
    try:
        return {"contract_description": contract_interface.describe(sample.contract), "contract_unreadable": ""}
    except contract_interface.NotAContract as problem:
        return {"contract_description": None, "contract_unreadable": str(problem)}


def _render_workspace(request: HttpRequest, session: FixSession, status: int = 200, **extra) -> HttpResponse:
    return render(request, WORKSPACE, _workspace_context(request, session, **extra), status=status)


def _refuse(
    request: HttpRequest,
    session: FixSession,
    error: Exception,
    status: int | None = None,
    target: str = "#workspace-messages",
) -> HttpResponse:
    """A refused action: a message fragment for htmx (into `target`), else the workspace page with the message."""
    status = status or (403 if isinstance(error, fixlog.NotAllowed) else 400)
    if request.htmx:
        # Into a message area, whatever the triggering element targets (never over the step log).
        response = render(request, "annotate/_workspace_message.html", {"message": str(error)}, status=status)
        return reswap(retarget(response, target), "innerHTML")
    messages.error(request, str(error))
    return _render_workspace(request, session, status=status)


@require_GET
@role_required(DEVELOPER, ADMIN)
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    return _render_workspace(request, _get_session_for_user(request, session_id))


# --- saving and running ----------------------------------------------------------------------------------------


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@role_required(DEVELOPER, ADMIN)
def code_save(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _save_answer(request, session, 400, message=_form_message(form))
    try:
        fixlog.save_code(session, form.cleaned_data["code"], form.cleaned_data["version"], request.user)
    except fixlog.VersionConflict as conflict:
        return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    except fixlog.WorkspaceError as error:
        return _save_answer(request, session, 403 if isinstance(error, fixlog.NotAllowed) else 400, message=str(error))
    if not (request.htmx or _wants_json(request)):
        messages.success(request, f"Saved (version {session.version}).")
        return redirect("workspace:session_detail", session_id=session.pk)
    return _save_answer(request, session, 200, message=f"Saved (version {session.version}).")


def _save_answer(
    request: HttpRequest, session: FixSession, status: int, *, message: str, conflict=None
) -> HttpResponse:
    """JSON for the editor's autosave, a fragment for htmx, the page otherwise."""
    if _wants_json(request):
        data = {"ok": status == 200, "message": message, "version": session.version}
        if conflict is not None:
            data.update(current_code=conflict.current_code, diff=conflict.diff)
        return JsonResponse(data, status=status)
    context = {"message": message, "session": session, "conflict": conflict, "ok": status == 200}
    if request.htmx:
        response = render(request, "annotate/_workspace_save_status.html", context, status=status)
        response = reswap(retarget(response, "#save-status"), "innerHTML")
        if status != 200:
            # A refused save must not move the page to the new version: only an explicit choice does.
            return response
        return trigger_client_event(response, "t2j:version", {"version": session.version})
    messages.error(request, message)
    return _render_workspace(request, session, status=status, conflict=conflict)


@require_POST
@role_required(DEVELOPER, ADMIN)
def run_create(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    form = RunForm(request.POST)
    if not form.is_valid():
        return _refuse(request, session, fixlog.WorkspaceError(_form_message(form)))
    try:
        # The editor content is saved first so the run, the steps and verification see the same code.
        fixlog.save_code(session, form.cleaned_data["code"], form.cleaned_data["version"], request.user)
        result = fixlog.run_code(session, request.user, form.cleaned_data["kind"])
    except fixlog.VersionConflict as conflict:
        return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    except (fixlog.WorkspaceError, sandbox.InvalidRunInput) as error:
        return _refuse(request, session, error)
    if not request.htmx:
        return redirect("workspace:session_detail", session_id=session.pk)
    run = Run.objects.get(pk=result.run_id)
    context = {
        "run": run,
        "note": _run_note(result.note),
        "failing_line": runs.failing_line(run.traceback) if run.kind == "jax" else None,
    }
    response = render(request, "annotate/_workspace_run.html", context)
    return trigger_client_event(response, "t2j:version", {"version": session.version})


@require_POST
@role_required(DEVELOPER, ADMIN)
def run_cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    """Stop what this user has running for the session (Run, Run PyTorch, the contract, Verify's contract run).

    The request that started the run answers with the stopped Run; this one only says how many were stopped.
    """
    session = _get_session_for_user(request, session_id)
    try:
        stopped = fixlog.stop_runs(session, request.user)
    except fixlog.WorkspaceError as error:
        if _wants_json(request):
            status = 403 if isinstance(error, fixlog.NotAllowed) else 400
            return JsonResponse({"stopped": 0, "message": str(error)}, status=status)
        return _refuse(request, session, error)
    message = f"Stopped {stopped} run{'s' if stopped != 1 else ''}." if stopped else "Nothing of yours was running."
    if _wants_json(request):
        return JsonResponse({"stopped": stopped, "message": message})
    messages.info(request, message)
    return _back_to(request, session)


# --- steps -----------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(DEVELOPER, ADMIN)
def fix_step_new(request: HttpRequest, session_id: int) -> HttpResponse:
    """The record-step form, pre-filled; a POST carries the editor content, which is saved first."""
    session = _get_session_for_user(request, session_id)
    try:
        fixlog.check_editable(session, request.user)
    except fixlog.WorkspaceError as error:
        if request.method == "GET" and not request.htmx:
            # A link to record a step on a closed session: back to the session page, saying why.
            messages.error(request, str(error))
            return redirect("workspace:session_detail", session_id=session.pk)
        return _refuse(request, session, error)
    if request.method == "POST":
        code_form = CodeForm(request.POST)
        if not code_form.is_valid():
            return _refuse(request, session, fixlog.WorkspaceError(_form_message(code_form)))
        try:
            fixlog.save_code(session, code_form.cleaned_data["code"], code_form.cleaned_data["version"], request.user)
        except fixlog.VersionConflict as conflict:
            return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    step_prefill = prefill.prefill_step(session)
    form = StepForm(
        initial={
            "error": step_prefill.error,
            "error_code": step_prefill.error_code,
            "fixed_code": step_prefill.fixed_code,
            "category": step_prefill.category,
            "suggested": step_prefill.category,
            "run": step_prefill.run_id,
        }
    )
    return _render_step_form(request, session, form, step_prefill)


def _render_step_form(
    request: HttpRequest, session: FixSession, form: StepForm, step_prefill: prefill.StepPrefill, status: int = 200
) -> HttpResponse:
    context = {"step_form": form, "prefill": step_prefill}
    if request.htmx:
        context["session"] = session
        response = render(request, "annotate/_workspace_step_form.html", context, status=status)
        response = trigger_client_event(response, "t2j:version", {"version": session.version})
        return reswap(retarget(response, "#step-form-slot"), "innerHTML") if status != 200 else response
    return _render_workspace(request, session, status=status, **context)


@require_POST
@role_required(DEVELOPER, ADMIN)
def fix_step_create(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    form = StepForm(request.POST)
    if not form.is_valid():
        try:
            fixlog.check_editable(session, request.user)
        except fixlog.WorkspaceError as error:
            return _refuse(request, session, error)
        return _refused_step_form(request, session, form)
    names = ("error", "error_code", "fixed_code", "fix_info", "category", "no_error")
    fields = {name: form.cleaned_data[name] for name in names}
    if fields["category"] == form.cleaned_data["suggested"]:
        fields["category"] = ""  # not the person's choice: suggest from what the form holds now
    run_id = form.cleaned_data["run"]
    run = session.runs.filter(pk=run_id).first() if run_id else None
    if run is not None and not fields["error"].strip():
        fields["error"] = prefill.error_text(run)  # a picked run whose text the page did not fill in (no script)
    try:
        if run_id and run is None:
            raise fixlog.WorkspaceError("The run must be a JAX or contract run of this session.")
        step = fixlog.record_step(session, request.user, run=run, **fields)
    except fixlog.NotAllowed as error:
        return _refuse(request, session, error)
    except fixlog.WorkspaceError as error:
        return _refused_step_form(request, session, form, str(error))
    if request.htmx:
        return _render_step_log(request, session, cleared_form=True)
    return redirect(reverse("workspace:session_detail", args=[session.pk]) + f"#step-{step.pk}")


def _refused_step_form(
    request: HttpRequest, session: FixSession, form: StepForm, message: str | None = None
) -> HttpResponse:
    """The record-step form sent back (400) as the person left it: their run (or "no run"), their category if
    they picked one, the suggestion for what they sent, and `message` beside the Record button."""
    data = form.cleaned_data
    suggestion = _suggestion_for(session, data)
    step_prefill = prefill.prefill_step(session, run_id=data.get("run"), pick_default=False, suggestion=suggestion)
    sent = form.data.copy()
    if sent.get("category", "") == sent.get("suggested", ""):
        sent["category"] = suggestion.category  # not the person's choice: it follows the suggestion
    form = StepForm(sent)
    form.is_valid()
    if message:
        form.add_error(None, message)
    return _render_step_form(request, session, form, step_prefill, status=400)


def _suggestion_for(session: FixSession, data: dict) -> prefill.Suggestion:
    """The suggestion for a record-step form's (cleaned) fields: a picked run stands for an empty error."""
    error = "" if data.get("no_error") else data.get("error", "")
    if data.get("run") and not error.strip() and (run := session.runs.filter(pk=data["run"]).first()):
        error = prefill.error_text(run)
    return prefill.suggest(session, error, data.get("error_code", ""), data.get("fixed_code", ""))


@require_POST
@role_required(DEVELOPER, ADMIN)
def fix_step_suggest(request: HttpRequest, session_id: int) -> HttpResponse:
    """The record-step form's suggestion (category, why, similar fixes) for what the form holds now (htmx)."""
    session = _get_session_for_user(request, session_id)
    form = StepForm(request.POST)
    form.is_valid()  # a half-written form is normal here: suggest from the fields that are valid
    suggestion = _suggestion_for(session, form.cleaned_data)
    context = {"session": session, "category": suggestion.category, "reason": suggestion.reason}
    return render(request, "annotate/_workspace_step_suggestion.html", {**context, "similar": suggestion.similar})


def _render_step_log(request: HttpRequest, session: FixSession, *, cleared_form: bool = False) -> HttpResponse:
    context = _workspace_context(request, session, cleared_form=cleared_form, oob=True)
    return render(request, WORKSPACE + "#step-log", context)


@require_POST
@role_required(DEVELOPER, ADMIN)
def fix_step_retract(request: HttpRequest, step_id: int) -> HttpResponse:
    step = _get_step_for_user(request, step_id)
    session = step.session
    form = RetractForm(request.POST)
    try:
        if not form.is_valid():
            raise fixlog.WorkspaceError(_form_message(form))
        fixlog.retract(step, request.user, form.cleaned_data["reason"])
    except fixlog.WorkspaceError as error:
        return _refuse(request, session, error)
    if request.htmx:
        return _render_step_log(request, session)
    return redirect(reverse("workspace:session_detail", args=[session.pk]) + f"#step-{step.pk}")


# What the step page shows: the step's own texts and its sample's key, not the programs around it.
STEP_DETAIL_FIELDS = (
    "index", "error_code", "error", "fix_info", "fixed_code", "category", "category_reason", "error_source", "flags",
    "run", "time_spent_s", "edit_size", "retracts", "created_at", "author__username",
    "session__translation__sample__key",
)  # fmt: skip


@require_GET
@role_required(DEVELOPER, ADMIN)
def fix_step_detail(request: HttpRequest, step_id: int) -> HttpResponse:
    shown = FixStep.objects.select_related("session__translation__sample", "author").only(*STEP_DETAIL_FIELDS)
    step = _get_step_for_user(request, step_id, shown)
    template = "annotate/workspace_step.html"
    if request.htmx:
        template += "#step-detail"
    return render(request, template, {"step": step, "sample": step.session.translation.sample})


# --- closing a session -----------------------------------------------------------------------------------------


@require_POST
@role_required(DEVELOPER, ADMIN)
def session_verify(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    form = VerifyForm(request.POST)
    form.is_valid()  # a lone optional checkbox: always valid
    saved = False
    try:
        # The editor content (when posted) is saved first: verification checks what the developer sees.
        saved = _save_posted_code(request, session)
        outcome = fixlog.verify(session, request.user, confirmed=form.cleaned_data.get("confirmed", False))
    except fixlog.VersionConflict as conflict:
        return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    except fixlog.WorkspaceError as error:
        return _with_version(request, session, _refuse(request, session, error, target=VERIFY_RESULT), saved)
    if not outcome.passed:
        return _with_version(request, session, _refuse_with_panel(request, session, outcome), saved)
    messages.success(request, f"Verified with {session.fixcost} fix step{'s' if session.fixcost != 1 else ''}.")
    url = reverse("workspace:session_detail", args=[session.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refuse_with_panel(
    request: HttpRequest, session: FixSession, outcome: contracts.VerificationOutcome
) -> HttpResponse:
    """A failed verification: the message beside the Verify button, and the contract run's stage panel updated in
    place (400). A verification stopped by its Stop button says so instead of blaming the contract."""
    run = Run.objects.filter(pk=outcome.run_id).first() if outcome.run_id else None
    stopped = run is not None and runs.was_stopped(run)
    message = "Stopped: nothing was verified; the session stays open." if stopped else outcome.message
    response = _refuse(request, session, fixlog.WorkspaceError(message), status=400, target=VERIFY_RESULT)
    if request.htmx and outcome.run_id:
        # Out of band beside the message; the full page (no htmx) shows the latest contract run anyway.
        panel = render(request, WORKSPACE + "#contract-panel", _workspace_context(request, session, oob=True))
        response.content += panel.content
    return response


@require_POST
@role_required(DEVELOPER, ADMIN)
def contract_run_create(request: HttpRequest, session_id: int) -> HttpResponse:
    """Run the sample's contract on the current code without verifying: the stage panel shows where it fails."""
    session = _get_session_for_user(request, session_id)
    saved = False
    try:
        saved = _save_posted_code(request, session)
        fixlog.check_contract(session, request.user)
    except fixlog.VersionConflict as conflict:
        return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    except (fixlog.WorkspaceError, sandbox.InvalidRunInput, contracts.ContractProblem) as error:
        return _with_version(request, session, _refuse(request, session, error), saved)
    if not request.htmx:
        return redirect(reverse("workspace:session_detail", args=[session.pk]) + "#contract-panel")
    response = render(request, WORKSPACE + "#contract-panel", _workspace_context(request, session))
    return _with_version(request, session, response, saved)


def _with_version(request: HttpRequest, session: FixSession, response: HttpResponse, saved: bool) -> HttpResponse:
    """Tell the editor the version its posted code was saved as, also when what followed was refused."""
    if saved and request.htmx:
        return trigger_client_event(response, "t2j:version", {"version": session.version})
    return response


def _save_posted_code(request: HttpRequest, session: FixSession) -> bool:
    """Save the editor content when the request carries it (code and version); raises like fixlog.save_code."""
    if "code" not in request.POST:
        return False
    form = CodeForm(request.POST)
    if not form.is_valid():
        raise fixlog.WorkspaceError(_form_message(form))
    fixlog.save_code(session, form.cleaned_data["code"], form.cleaned_data["version"], request.user)
    return True


@require_POST
@role_required(DEVELOPER, ADMIN)
def session_restore(request: HttpRequest, session_id: int) -> HttpResponse:
    """Set the code back to the draft, or to the code after step `?step=ID`, as a new saved version (confirmed)."""
    session = _get_session_for_user(request, session_id)
    form = RestoreForm({**request.GET.dict(), **request.POST.dict()})
    saved = False
    try:
        if not form.is_valid():
            raise fixlog.WorkspaceError(f"Not restored: {_form_message(form)}")
        if not form.cleaned_data["confirm"]:
            raise fixlog.WorkspaceError("Not restored: confirm that the code should be replaced (as a new version).")
        step = _restorable_step(session, form.cleaned_data["step"])
        version = form.cleaned_data["version"]
        saved = _save_posted_code(request, session)  # the editor's text first: it stays in history as a version
        fixlog.restore_code(session, request.user, session.version if saved else version, step=step)
    except fixlog.VersionConflict as conflict:
        return _save_answer(request, session, 409, message=str(conflict), conflict=conflict)
    except fixlog.WorkspaceError as error:
        return _with_version(request, session, _refuse(request, session, error), saved)
    what = f"the code after step {step.index}" if step else "the draft"
    messages.success(request, f"Restored {what} as version {session.version}; earlier versions stay in the history.")
    return _back_to(request, session)


def _restorable_step(session: FixSession, step_id: int | None) -> FixStep | None:
    if step_id is None:
        return None
    step = session.steps.filter(pk=step_id).first()
    if step is None:
        raise fixlog.WorkspaceError("Not restored: that step is not part of this session.")
    return step


@require_POST
@role_required(DEVELOPER, ADMIN)
def session_abandon(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    try:
        if request.POST.get("confirm") != "yes":
            # The page's button asks first (and saves the editor content); anything else must say it means it.
            raise fixlog.WorkspaceError("Not abandoned: confirm that the session should go back to the queue.")
        fixlog.abandon(session, request.user)
    except fixlog.WorkspaceError as error:
        return _refuse(request, session, error)
    messages.success(request, f"{session.translation} is back in the queue.")
    url = reverse("workspace:queue")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@role_required(ADMIN)
def session_reassign(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    form = ReassignForm(request.POST)
    try:
        if not form.is_valid():
            raise fixlog.WorkspaceError(_form_message(form))
        fixlog.reassign(session, form.cleaned_data["owner"], request.user)
    except fixlog.WorkspaceError as error:
        return _refuse(request, session, error)
    messages.success(request, f"Reassigned to {session.owner.get_username()}.")
    return _back_to(request, session)


@require_POST
@role_required(ADMIN)
def session_reopen(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _get_session_for_user(request, session_id)
    try:
        fixlog.reopen(session, request.user)
    except fixlog.WorkspaceError as error:
        return _refuse(request, session, error)
    messages.success(request, "Reopened: the session is open again for its owner.")
    return _back_to(request, session)


def _back_to(request: HttpRequest, session: FixSession) -> HttpResponse:
    url = reverse("workspace:session_detail", args=[session.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _form_message(form) -> str:
    return "; ".join(
        f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors) for name, errors in form.errors.items()
    )
