"""The fix log: claiming a draft, editing it safely, running it, recording fix steps, and verifying it.

The state changes of a FixSession live here as functions taking the session, in the order a developer meets
them: claim → save/run → record steps (and retract mistakes) → verify. Every refusal raises a WorkspaceError
subclass whose message is meant for the person; nothing is changed when one is raised. What the step form is
pre-filled with is annotate.prefill; runs are stored and looked up by annotate.runs; the contract gate is
annotate.contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate import contracts, hygiene, runs, sandbox
from annotate.contracts import VerificationOutcome
from annotate.diffs import edit_size, line_diff
from annotate.models import (
    ErrorSource,
    FixSession,
    FixStep,
    Run,
    RunKind,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    StepCategory,
    Translation,
)
from annotate.roles import is_admin
from annotate.signals import fix_session_changed
from annotate.taxonomy import classify


class WorkspaceError(Exception):
    """A request the fix-log rules refuse; the message is shown to the person as is."""


class NotAllowed(WorkspaceError):
    """The person may see the session but not change it this way (not its owner, not an admin)."""


class VersionConflict(WorkspaceError):
    """A save based on an old version: someone (or another tab) saved in between."""

    def __init__(self, session: FixSession, submitted_code: str, based_on: int | None):
        self.current_version = session.version
        self.current_code = session.current_code
        self.diff = line_diff(session.current_code, submitted_code)
        super().__init__(
            f"Not saved: this session was saved elsewhere (now version {session.version}"
            f"{'' if based_on is None else f', you edited version {based_on}'}). "
            "Nothing was overwritten; below is what differs between the saved code and yours."
        )


# --- claims ---------------------------------------------------------------------------------------------------


def expiry_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(hours=settings.T2J_CLAIM_EXPIRY_HOURS)


def expire_stale_claims(now: datetime | None = None) -> int:
    """Return to the queue every open session idle longer than T2J_CLAIM_EXPIRY_HOURS; how many were expired."""
    cutoff = expiry_cutoff(now)
    stale = _idle_since(FixSession.objects.filter(status=SessionStatus.OPEN), cutoff)
    expired = 0
    for pk, last_activity in stale.values_list("pk", "idle_since"):
        with transaction.atomic():
            # Conditional update: a save that touched the session meanwhile keeps it open.
            still_idle = _idle_since(FixSession.objects.filter(pk=pk, status=SessionStatus.OPEN), cutoff)
            if FixSession.objects.filter(pk__in=still_idle.values("pk")).update(status=SessionStatus.ABANDONED):
                SessionEvent.objects.create(
                    session_id=pk,
                    kind=SessionEventKind.EXPIRED,
                    detail={
                        "last_activity_at": last_activity.isoformat(),
                        "expiry_hours": settings.T2J_CLAIM_EXPIRY_HOURS,
                    },
                )
                expired += 1
    return expired


def _idle_since(sessions: QuerySet[FixSession], cutoff: datetime) -> QuerySet[FixSession]:
    # Sessions written by imports may have no activity time: their claim (or creation) time counts then.
    return sessions.annotate(idle_since=Coalesce("last_activity_at", "claimed_at", "created_at")).filter(
        idle_since__lt=cutoff
    )


def queue(*, system: str = "", origin: str = "", difficulty: str = "") -> QuerySet[Translation]:
    """Drafts a developer may work on: not verified yet; those with an open session show as taken."""
    translations = (
        Translation.objects.filter(draft_status="ok")
        .exclude(fix_sessions__status=SessionStatus.VERIFIED)
        .select_related("sample", "system")
        .order_by("sample__import_position", "sample__key", "system__name")
    )
    if system:
        translations = translations.filter(system__name=system)
    if origin:
        translations = translations.filter(sample__origin=origin)
    if difficulty:
        translations = translations.filter(sample__difficulty=difficulty)
    return translations


def open_sessions_by_translation(translation_ids: list[int]) -> dict[int, FixSession]:
    sessions = FixSession.objects.filter(translation_id__in=translation_ids, status=SessionStatus.OPEN)
    return {session.translation_id: session for session in sessions.select_related("owner")}


def claim(translation: Translation, user) -> FixSession:
    """Open a session on `translation` for `user`; their own open session is returned as it is."""
    expire_stale_claims()
    live = translation.fix_sessions.exclude(status=SessionStatus.ABANDONED).first()
    if live is not None:
        if live.status == SessionStatus.OPEN and live.owner_id == user.pk:
            return live
        if live.status == SessionStatus.VERIFIED:
            raise WorkspaceError("This translation is already verified.")
        raise WorkspaceError("Someone else is fixing this translation.")
    if translation.draft_status != "ok":
        raise WorkspaceError("This draft failed; there is no code to fix.")
    now = timezone.now()
    try:
        with transaction.atomic():
            session = FixSession.objects.create(
                translation=translation,
                owner=user,
                claimed_at=now,
                last_activity_at=now,
                current_code=translation.code,
            )
            SessionEvent.objects.create(session=session, kind=SessionEventKind.CLAIMED, actor=user)
    except IntegrityError as error:
        # The unique constraint on live sessions: another claim won the race.
        raise WorkspaceError("Someone else claimed this translation a moment ago.") from error
    return session


def abandon(session: FixSession, user) -> None:
    """Give the translation back to the queue; the steps stay in the log, attached to this session."""
    _require_open(session)
    _require_owner_or_admin(session, user)
    with transaction.atomic():
        session.status = SessionStatus.ABANDONED
        session.save(update_fields=["status"])
        SessionEvent.objects.create(session=session, kind=SessionEventKind.ABANDONED, actor=user)


def reassign(session: FixSession, new_owner, actor) -> None:
    """Admin: hand an open session to another developer (recorded)."""
    _require_admin(actor)
    _require_open(session)
    if new_owner is None or new_owner.pk == session.owner_id:
        raise WorkspaceError("Choose a different developer to reassign the session to.")
    with transaction.atomic():
        previous = session.owner
        session.owner = new_owner
        session.last_activity_at = timezone.now()  # the new owner gets a full expiry period
        session.save(update_fields=["owner", "last_activity_at"])
        SessionEvent.objects.create(
            session=session,
            kind=SessionEventKind.REASSIGNED,
            actor=actor,
            detail={"from": previous.get_username() if previous else None, "to": new_owner.get_username()},
        )


def reopen(session: FixSession, actor) -> None:
    """Admin: reopen a verified session for more fixing; the old verification is kept in the event."""
    _require_admin(actor)
    if session.status != SessionStatus.VERIFIED:
        raise WorkspaceError("Only a verified session can be reopened.")
    with transaction.atomic():
        detail = {
            "verification": session.verification,
            "verified_at": session.verified_at.isoformat() if session.verified_at else None,
            "verified_run": session.verified_run_id,
        }
        session.status = SessionStatus.OPEN
        session.verified_at = None
        session.verification = {}
        session.verified_run = None
        session.last_activity_at = timezone.now()
        session.save(update_fields=["status", "verified_at", "verification", "verified_run", "last_activity_at"])
        SessionEvent.objects.create(session=session, kind=SessionEventKind.REOPENED, actor=actor, detail=detail)
        fix_session_changed.send(sender=FixSession, session=session)


# --- editing and running ----------------------------------------------------------------------------------------


def save_code(session: FixSession, code: str, version: int | None, user) -> FixSession:
    """Store the editor content if `version` is the current one; same code is a no-op. Raises VersionConflict."""
    _require_editor(session, user)
    if not isinstance(code, str) or "\x00" in code:
        raise WorkspaceError("The code must be text without NUL characters.")
    if code == session.current_code:
        return session
    now = timezone.now()
    # One conditional UPDATE: two saves of the same version cannot both win (no read-then-write race).
    updated = FixSession.objects.filter(pk=session.pk, status=SessionStatus.OPEN, version=version).update(
        current_code=code, version=F("version") + 1, last_activity_at=now
    )
    session.refresh_from_db()
    if not updated:
        if session.status != SessionStatus.OPEN:
            raise WorkspaceError(
                f"This session is {session.status} now (claims expire after {settings.T2J_CLAIM_EXPIRY_HOURS} h "
                "without activity); nothing was saved. Copy your code before leaving the page."
            )
        raise VersionConflict(session, code, version)
    return session


def touch(session: FixSession) -> None:
    now = timezone.now()
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=now)
    session.last_activity_at = now


def run_code(session: FixSession, user, kind: str) -> sandbox.RunResult:
    """Run the session's saved JAX code, or the sample's PyTorch source, in the sandbox; the Run is stored."""
    _require_editor(session, user)
    if kind == RunKind.JAX:
        code = session.current_code
    elif kind == RunKind.PYTORCH:
        code = session.translation.sample.pytorch_code
    else:
        raise WorkspaceError(f"Unknown run kind {kind!r}: choose jax or pytorch.")
    result = runs.run(code, kind, user_key=user.get_username(), user=user, session=session)
    touch(session)
    return result


def stop_runs(session: FixSession, user) -> int:
    """Stop what `user` has running for this session (runs, contract runs, a verification's contract run); how many.

    Who may run here may stop: its owner while it is open, an admin on any session (check_contract's rule); each
    stops only their own runs. The stopped Run is stored as killed by the request that started it.
    """
    if not is_admin(user):
        _require_editor(session, user)
    return runs.stop(session, user)


def restore_code(session: FixSession, user, version: int | None, *, step: FixStep | None = None) -> FixSession:
    """Set the code back to the draft (no `step`) or to the code after a counted `step`, as a new saved version.

    Nothing is rewritten: the versions in between stay in the steps and runs that saw them, and a "restored" event
    records what was restored over which version. Raises VersionConflict when `version` is not the current one,
    WorkspaceError when the step is not a counted step of this session or the code is that already.
    """
    _require_editor(session, user)
    if step is None:
        code, detail = session.translation.code, {"from": "draft"}
    else:
        if step.session_id != session.pk or not session.steps.counted().filter(pk=step.pk).exists():
            raise WorkspaceError("Only the code after a counted (not retracted) step of this session can be restored.")
        code, detail = step.code_after, {"from": "step", "step": step.index}
    if code == session.current_code:
        raise WorkspaceError("The code is that already: nothing to restore.")
    before = session.version
    with transaction.atomic():
        save_code(session, code, version, user)
        SessionEvent.objects.create(
            session=session,
            kind=SessionEventKind.RESTORED,
            actor=user,
            detail={**detail, "over_version": before, "version": session.version},
        )
    return session


# --- steps -----------------------------------------------------------------------------------------------------


def last_snapshot(session: FixSession) -> str:
    """The code as of the last counted step (retracted steps count nowhere), else the original draft."""
    step = session.steps.counted().order_by("-index").first()
    return step.code_after if step else session.translation.code


# Caps on a step's free texts (the paper's longest: 673 and 869 characters; an exception message from a run is
# cut at 10,000): a step is read in prompts and exports, so a pasted log or file must be refused, not stored.
MAX_FIX_INFO_CHARS = 10_000
MAX_ERROR_CHARS = 20_000


def check_step_texts(fix_info: str, error: str) -> None:
    """Refuse step texts over their caps (WorkspaceError names the field, its length and the cap)."""
    for label, text, cap, hint in (
        ("fix description", fix_info, MAX_FIX_INFO_CHARS, "describe the fix in a few sentences"),
        ("error message", error, MAX_ERROR_CHARS, "keep the lines that show the error"),
    ):
        if len(text) > cap:
            raise WorkspaceError(
                f"The {label} is too long: {len(text):,} characters, at most {cap:,}; {hint}. Nothing was saved."
            )


def record_step(
    session: FixSession,
    user,
    *,
    fix_info: str,
    error: str = "",
    error_code: str = "",
    fixed_code: str = "",
    category: str = "",
    run: Run | None = None,
    no_error: bool = False,
) -> FixStep:
    """Append a fix step from the last recorded snapshot to the saved code, with its time and edit size.

    The step answers an error: the one `run` showed (a JAX run or a contract run of this session; `error` is
    its text as the developer kept or edited it), one the developer wrote without a run, or none at all,
    which must be said (`no_error`: a behaviour change). A category left empty is suggested; either way the
    reason is stored. Hygiene flags name an earlier counted step it repeats.
    """
    _require_editor(session, user)
    if not fix_info.strip():
        raise WorkspaceError("Describe the fix: the fix description is required.")
    check_step_texts(fix_info, error)
    if category and category not in StepCategory.values:
        raise WorkspaceError(f"Unknown category {category!r}.")
    error_source = _error_source(session, error, run, no_error)
    category, category_reason = _category_with_reason(category, error, error_code, fixed_code)
    before, after = last_snapshot(session), session.current_code
    now = timezone.now()
    with transaction.atomic():
        earlier = [_hygiene_text(step) for step in session.steps.counted().order_by("index")]
        index = _next_index(session)
        step = FixStep.objects.create(
            session=session,
            index=index,
            error_code=error_code,
            error=error,
            fix_info=fix_info.strip(),
            fixed_code=fixed_code,
            category=category,
            category_reason=category_reason,
            error_source=error_source,
            flags=hygiene.flags_for(hygiene.StepText(index, error, error_code, fix_info.strip(), fixed_code), earlier),
            code_before=before,
            code_after=after,
            run=run,
            time_spent_s=round((now - _last_mark(session)).total_seconds(), 1),
            edit_size=edit_size(before, after),
            author=user,
            created_at=now,
        )
        touch(session)
    return step


def _error_source(session: FixSession, error: str, run: Run | None, no_error: bool) -> str:
    """Where the step's error comes from; refuses a step that names no error and does not say it has none."""
    if run is not None:
        if run.session_id != session.pk or run.kind not in (RunKind.JAX, RunKind.CONTRACT):
            raise WorkspaceError("The run must be a JAX or contract run of this session.")
        if no_error:
            raise WorkspaceError("A step with “no error: behaviour change” cannot also name a run; choose one.")
        return ErrorSource.CONTRACT if run.kind == RunKind.CONTRACT else ErrorSource.RUN
    if no_error:
        if error.strip():
            raise WorkspaceError("You chose “no error: behaviour change” but also wrote an error; keep one of them.")
        return ErrorSource.NO_ERROR
    if not error.strip():
        raise WorkspaceError(
            "Which error does this step answer? Choose a run, write the error, or choose “no error: behaviour "
            "change” for a fix of behaviour that raised nothing."
        )
    return ErrorSource.WRITTEN


def _category_with_reason(category: str, error: str, error_code: str, fixed_code: str) -> tuple[str, str]:
    suggestion = classify(error, error_code, fixed_code)
    if not category or category == suggestion.category:
        return suggestion.category, f"suggested: {suggestion.reason}"
    return category, f"chosen by the developer (suggested {suggestion.category}: {suggestion.reason})"


def _hygiene_text(step: FixStep) -> hygiene.StepText:
    return hygiene.StepText(step.index, step.error, step.error_code, step.fix_info, step.fixed_code)


def retract(step: FixStep, user, reason: str = "") -> FixStep:
    """Its author marks a mistaken step as retracted by appending a retraction row."""
    session = step.session
    _require_open(session)
    if step.author_id != user.pk:
        raise NotAllowed("Only the author of a step can retract it.")
    if step.retracts_id:
        raise WorkspaceError("A retraction cannot itself be retracted.")
    if FixStep.objects.filter(retracts=step).exists():
        raise WorkspaceError("This step is already retracted.")
    try:
        with transaction.atomic():
            retraction = FixStep.objects.create(
                session=session,
                index=_next_index(session),
                fix_info=reason.strip() or f"Retracts step {step.index}",
                code_before=session.current_code,
                code_after=session.current_code,
                author=user,
                retracts=step,
            )
            touch(session)
    except IntegrityError as error:
        raise WorkspaceError("This step is already retracted.") from error
    return retraction


def _next_index(session: FixSession) -> int:
    return (session.steps.aggregate(top=Max("index"))["top"] or 0) + 1


def _last_mark(session: FixSession) -> datetime:
    """When the work on the next step started: the last step, else the claim."""
    latest = session.steps.order_by("-created_at").values_list("created_at", flat=True).first()
    return latest or session.claimed_at or session.created_at


# --- verification ----------------------------------------------------------------------------------------------


def verify(session: FixSession, user, *, confirmed: bool) -> VerificationOutcome:
    """Close the session as verified: by its contract when it has one, else by a clean run plus confirmation."""
    _require_editor(session, user)
    if session.translation.sample.contract.strip():
        outcome = _verify_by_contract(session)
    else:
        outcome = _verify_by_clean_run(session, confirmed)
    if outcome.passed:
        _mark_verified(session, user, outcome)
    return outcome


def _verify_by_contract(session: FixSession) -> VerificationOutcome:
    outcome = contracts.check(session)
    if not outcome.passed and not outcome.message:
        outcome.message = "The contract did not pass; the session stays open."
    return outcome


def _verify_by_clean_run(session: FixSession, confirmed: bool) -> VerificationOutcome:
    run = runs.clean_run(session)
    if run is None:
        raise WorkspaceError("Run the current code first: verifying needs a clean run (status ok) of this exact code.")
    if not confirmed:
        raise WorkspaceError("Confirm that the output matches the PyTorch program to verify.")
    return VerificationOutcome(passed=True, run_id=run.pk, method="clean-run")


def _mark_verified(session: FixSession, user, outcome: VerificationOutcome) -> None:
    now = timezone.now()
    if outcome.method == "clean-run":
        verification = {"method": "clean-run", "run": outcome.run_id, "confirmed": True}
    else:
        verification = {
            "method": "contract",
            "stages": outcome.stages,
            "run": outcome.run_id,
            "contract_version": session.translation.sample.contract_version,
        }
    with transaction.atomic():
        updated = FixSession.objects.filter(pk=session.pk, status=SessionStatus.OPEN).update(
            status=SessionStatus.VERIFIED,
            verified_at=now,
            verification=verification,
            verified_run_id=outcome.run_id,
            contract_version=verification.get("contract_version"),
            last_activity_at=now,
        )
        if not updated:
            raise WorkspaceError("This session is no longer open.")
        SessionEvent.objects.create(session=session, kind=SessionEventKind.VERIFIED, actor=user, detail=verification)
        fix_session_changed.send(sender=FixSession, session=session)
    session.refresh_from_db()


def check_contract(session: FixSession, user) -> contracts.ContractResult:
    """Run the sample's contract on the session's saved code without verifying: to see where it fails.

    Its owner may while the session is open; an admin may on any session (e.g. to re-check a stale one).
    The Run is stored with the session.
    """
    if not is_admin(user):
        _require_editor(session, user)
    sample = session.translation.sample
    if not sample.contract.strip():
        raise WorkspaceError("This sample has no contract to run.")
    result = contracts.run_contract(sample, session.current_code, user=user, session=session)
    if session.status == SessionStatus.OPEN and session.owner_id == user.pk:
        touch(session)
    return result


STAGE_MARKS = {"passed": "✓", "failed": "✗", "not-reached": "–"}


def verification_badge(session: FixSession) -> str:
    """How a verified session was verified, naming the stages that ran: 'verified by contract v2: spec ✓ ...'."""
    verification = session.verification or {}
    if session.status != SessionStatus.VERIFIED:
        return ""
    if verification.get("method") == "clean-run":
        return "verified by a clean run (output confirmed by the developer)"
    if verification.get("method") == "contract":
        stages = " ".join(
            f"{stage.get('name')} {STAGE_MARKS.get(stage.get('status'), '?')}"
            for stage in verification.get("stages") or []
        )
        version = verification.get("contract_version", session.contract_version)
        return f"verified by contract v{version}: {stages or 'no stages'}"
    # Sessions written by imports or the demo loader carry no record of a check made here.
    method = verification.get("method")
    return f"verified ({method}; no check recorded here)" if method else "verified (imported; no verification record)"


@dataclass
class SessionSummary:
    fixcost: int
    steps_time_s: float
    elapsed_s: float | None
    runs: int
    flagged: int = 0  # counted steps that step hygiene flagged (still in fixcost)

    @property
    def fixcost_without_flagged(self) -> int:
        return self.fixcost - self.flagged


def summary(session: FixSession) -> SessionSummary:
    """FixCost (non-retracted steps, flagged ones among them), time logged in steps, claim to verification, runs."""
    counted = session.steps.counted()
    steps_time = sum(t or 0.0 for t in counted.values_list("time_spent_s", flat=True))
    elapsed = None
    if session.claimed_at and session.verified_at:
        elapsed = (session.verified_at - session.claimed_at).total_seconds()
    return SessionSummary(
        fixcost=counted.count(),
        steps_time_s=steps_time,
        elapsed_s=elapsed,
        runs=session.runs.count(),
        flagged=counted.exclude(flags=[]).count(),
    )


# --- who may do what -------------------------------------------------------------------------------------------


def can_edit(session: FixSession, user) -> bool:
    return session.status == SessionStatus.OPEN and session.owner_id == user.pk


def _require_open(session: FixSession) -> None:
    if session.status != SessionStatus.OPEN:
        raise WorkspaceError(f"This session is {session.status}; it can no longer be changed.")


def check_editable(session: FixSession, user) -> None:
    """Raise unless `user` may change this session now: it is open (else 400) and theirs (else 403)."""
    _require_editor(session, user)


def _require_editor(session: FixSession, user) -> None:
    _require_open(session)
    if session.owner_id != user.pk:
        raise NotAllowed("Only the developer who claimed this session can change it; an admin can reassign it.")


def _require_owner_or_admin(session: FixSession, user) -> None:
    if session.owner_id != user.pk and not is_admin(user):
        raise NotAllowed("Only the owner or an admin can do this.")


def _require_admin(user) -> None:
    if not is_admin(user):
        raise NotAllowed("Only an admin can do this.")
