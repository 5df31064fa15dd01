"""The step prefill: what the record-step form starts with, so a developer only checks and completes it.

A step spans the snapshot it starts from (the code as of the last counted step, or the draft) to the saved
code, and answers the error of that starting snapshot. So its error comes from the latest failing run whose
code is exactly the snapshot; when nothing ran on it, from the first failing run after it. A failing run is a
JAX run that did not end ok (a sandbox refusal is no failure of the program) or a contract run whose verdict
is `failed`; a contract's error is its first mismatch (stage, check, expected against got). The developer
may pick another of the runs since the snapshot (`choices`). The erroneous and corrected code come from the
change between the snapshot and the saved code, the category from annotate.taxonomy with its reason, and
beside them the most similar shared steps of other sessions with why they matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from annotate import diffs, fixlog, runs, similarity
from annotate.models import ContractVerdict, ErrorSource, FixSession, Run, RunKind, RunStatus
from annotate.taxonomy import classify

MAX_CHOICES = 20


@dataclass(frozen=True)
class ErrorChoice:
    """A run a step's error may come from, as the run picker shows it."""

    run: Run
    error: str
    on_snapshot: bool  # the run's code is exactly the step's starting snapshot

    @property
    def source(self) -> str:
        return ErrorSource.CONTRACT if self.run.kind == RunKind.CONTRACT else ErrorSource.RUN

    @property
    def first_line(self) -> str:
        return next((line for line in self.error.splitlines() if line.strip()), "")

    @property
    def outcome(self) -> str:
        return f"contract {self.run.verdict}" if self.run.kind == RunKind.CONTRACT else self.run.status


@dataclass
class StepPrefill:
    """What the record-step form is pre-filled with."""

    error: str
    error_code: str
    fixed_code: str
    category: str
    category_reason: str
    code_before: str
    code_after: str
    chosen: ErrorChoice | None = None
    choices: list[ErrorChoice] = field(default_factory=list)
    similar: list[similarity.SimilarStep] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return self.code_before != self.code_after

    @property
    def run_id(self) -> int | None:
        return self.chosen.run.pk if self.chosen else None


def prefill_step(
    session: FixSession,
    run_id: int | None = None,
    *,
    pick_default: bool = True,
    suggestion: Suggestion | None = None,
) -> StepPrefill:
    """The form's starting values; `run_id` picks one of the choices instead of the default, and without
    `pick_default` no run is chosen unless `run_id` names one (a form sent back keeps "no run"). `suggestion`
    stands for the one of the pre-filled error (a form sent back shows the one for what was sent)."""
    before, after = fixlog.last_snapshot(session), session.current_code
    failing = failing_runs_since(session, before)
    picked = failing.filter(pk=run_id).first() if run_id else None
    chosen_run = picked or (default_run(failing, before) if pick_default else None)
    runs_shown = list(failing.order_by("-created_at", "-pk")[:MAX_CHOICES])
    if chosen_run is not None and chosen_run not in runs_shown:
        runs_shown.append(chosen_run)
    snapshot_hash = runs.code_hash(before)
    choices = [ErrorChoice(run, error_text(run), run.code_hash == snapshot_hash) for run in runs_shown]
    chosen = next((choice for choice in choices if choice.run == chosen_run), None)
    error = chosen.error if chosen else ""
    error_code, fixed_code = diffs.changed_region(before, after)
    suggestion = suggestion or suggest(session, error, error_code, fixed_code)
    return StepPrefill(
        error=error,
        error_code=error_code,
        fixed_code=fixed_code,
        category=suggestion.category,
        category_reason=suggestion.reason,
        code_before=before,
        code_after=after,
        chosen=chosen,
        choices=choices,
        similar=suggestion.similar,
    )


@dataclass(frozen=True)
class Suggestion:
    """The suggested category of a step, why, and the shared steps that fixed a similar error."""

    category: str
    reason: str
    similar: list[similarity.SimilarStep]


def suggest(session: FixSession, error: str, error_code: str, fixed_code: str) -> Suggestion:
    """What the record-step form suggests for a step of `session` with this error and code change."""
    found = classify(error, error_code, fixed_code)
    return Suggestion(found.category, found.reason, similar_fixes(session, error, error_code))


def failing_runs_since(session: FixSession, snapshot: str) -> QuerySet[Run]:
    """The session's failing runs since the step's starting snapshot: those that ran after it was recorded,
    and any that ran on exactly its code (also before it became a step)."""
    failing = (Q(kind=RunKind.JAX) & ~Q(status__in=(RunStatus.OK, RunStatus.REFUSED))) | Q(
        kind=RunKind.CONTRACT, verdict=ContractVerdict.FAILED
    )
    since = Q(created_at__gt=_snapshot_time(session)) | Q(code_hash=runs.code_hash(snapshot))
    return session.runs.filter(failing & since)


def default_run(failing: QuerySet[Run], snapshot: str) -> Run | None:
    """The latest failing run on the snapshot itself; else the first failing run after it."""
    on_snapshot = failing.filter(code_hash=runs.code_hash(snapshot)).order_by("-created_at", "-pk").first()
    return on_snapshot or failing.order_by("created_at", "pk").first()


def error_text(run: Run | None) -> str:
    """The error a run showed: a contract's first mismatch, the exception line, else the end of stderr."""
    if run is None:
        return ""
    if run.kind == RunKind.CONTRACT:
        return contract_mismatch(run.stages)
    if run.exception_type:
        return f"{run.exception_type}: {run.exception_message}".strip()
    tail = [line for line in run.stderr.strip().splitlines() if line.strip()][-3:]
    return "\n".join(tail) or f"run ended with status {run.status}"


def contract_mismatch(stages: list[dict[str, Any]]) -> str:
    """'Contract mismatch at the numeric stage, check forward: <message>' and, when the contract reported them,
    'expected <value>, got <value>' on a second line."""
    failed = next((stage for stage in stages or [] if stage.get("status") == "failed"), None)
    if failed is None:
        return ""
    mismatch = failed.get("mismatch") or {}
    message = str(mismatch.get("message") or "").strip()
    lines = [f"Contract mismatch at the {failed.get('name')} stage, check {mismatch.get('check', '?')}: {message}"]
    for expected, got in (("expected", "actual"), ("expected_shape", "shape")):
        if expected in mismatch and got in mismatch:
            lines.append(f"expected {mismatch[expected]}, got {mismatch[got]}")
            break
    return "\n".join(lines)


def similar_fixes(session: FixSession, error: str, code: str = "", limit: int = 5) -> list[similarity.SimilarStep]:
    """Most similar shared steps for the error (never this session's own), each with why it matched."""
    if not error.strip() and not code.strip():
        return []
    return similarity.similar_steps(error, code, limit=limit, exclude_session=session.pk)


def _snapshot_time(session: FixSession) -> datetime:
    step = session.steps.counted().order_by("-index").values_list("created_at", flat=True).first()
    return step or session.claimed_at or session.created_at
