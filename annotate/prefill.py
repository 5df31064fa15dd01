"""The step prefill: what the record-step form starts with, so a developer only checks and completes it.

The error comes from the latest failing JAX run since the last step, the erroneous and corrected code from
the change between the last counted snapshot and the saved code, the category from the taxonomy's
suggestion, and beside it the most similar shared steps of other sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotate import diffs, fixlog, similarity
from annotate.models import FixSession, FixStep, Run, RunKind, RunStatus
from annotate.taxonomy import suggest_category


@dataclass
class StepPrefill:
    """What the record-step form is pre-filled with."""

    error: str
    error_code: str
    fixed_code: str
    category: str
    run_id: int | None
    code_before: str
    code_after: str
    similar: list[FixStep] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return self.code_before != self.code_after


def prefill_step(session: FixSession) -> StepPrefill:
    before, after = fixlog.last_snapshot(session), session.current_code
    run = last_failing_run(session)
    error = error_text(run)
    error_code, fixed_code = diffs.changed_region(before, after)
    return StepPrefill(
        error=error,
        error_code=error_code,
        fixed_code=fixed_code,
        category=suggest_category(error, error_code, fixed_code),
        run_id=run.pk if run else None,
        code_before=before,
        code_after=after,
        similar=similar_fixes(session, error, error_code),
    )


def last_failing_run(session: FixSession) -> Run | None:
    """The latest failed JAX run since the last step: the error the next step fixes (an older one was fixed)."""
    runs = session.runs.filter(kind=RunKind.JAX).exclude(status=RunStatus.OK)
    last_step = session.steps.order_by("-created_at").values_list("created_at", flat=True).first()
    if last_step is not None:
        runs = runs.filter(created_at__gt=last_step)
    return runs.order_by("-created_at", "-pk").first()


def error_text(run: Run | None) -> str:
    """The error message a step is pre-filled with: the exception line, else the end of stderr."""
    if run is None:
        return ""
    if run.exception_type:
        return f"{run.exception_type}: {run.exception_message}".strip()
    tail = [line for line in run.stderr.strip().splitlines() if line.strip()][-3:]
    return "\n".join(tail) or f"run ended with status {run.status}"


def similar_fixes(session: FixSession, error: str, code: str = "", limit: int = 5) -> list[FixStep]:
    """Most similar shared steps for the current error (never this session's own)."""
    if not error.strip() and not code.strip():
        return []
    found = similarity.similar_steps(error, code, limit=limit + 10)
    return [step for step in found if step.session_id != session.pk][:limit]
