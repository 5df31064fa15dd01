"""Run rows: the one module that writes them, and the look-ups of a session's runs.

The sandbox runs a program and returns a RunResult; it knows nothing of the database. `run()` runs a
program through the sandbox and stores what came back as a Run (`result.run_id` names it);
`record_verdict()` adds a contract run's verdict and stages to its row once annotate.contracts has read them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from annotate import sandbox
from annotate.models import ContractVerdict, FixSession, Run, RunKind, RunStatus


def code_hash(code: str) -> str:
    """The hash stored as Run.code_hash (sha256 hex, 64 characters); whoever looks runs up by code hashes here."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def run(
    code: str,
    kind: str,
    user_key: str,
    files: dict[str, str | bytes] | None = None,
    limits: sandbox.Limits | dict[str, Any] | None = None,
    *,
    user: Any = None,
    session: FixSession | None = None,
) -> sandbox.RunResult:
    """Run `code` in the sandbox and store the Run. Raises sandbox.InvalidRunInput for bad input (nothing stored)."""
    result = sandbox.run(code, kind, user_key, files, limits)
    result.run_id = store(result, code, kind, user_key, user=user, session=session).pk
    return result


def store(
    result: sandbox.RunResult, code: str, kind: str, user_key: str, *, user: Any = None, session: Any = None
) -> Run:
    """The Run row of one sandbox result, as the sandbox reported it."""
    return Run.objects.create(
        kind=kind,
        code_hash=code_hash(code),
        code=code,
        user=user,
        user_key=user_key,
        session=session,
        status=result.status,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        exception_type=result.exception_type,
        exception_message=result.exception_message,
        traceback=result.traceback,
        duration_s=result.duration_s,
        peak_memory_bytes=result.peak_memory_bytes,
        isolation=result.isolation,
        started_warm=result.started_warm,
    )


def record_verdict(
    run_id: int | None,
    *,
    verdict: str,
    stages: list[dict[str, Any]],
    code: str,
    contract_version: int | None,
    error_message: str = "",
    report: dict[str, Any] | None = None,
) -> None:
    """Store a contract run's verdict, stages and report on its Run; its code becomes the candidate that was
    checked. A contract error keeps its message (and hint) as the Run's exception, type 'ContractError'.
    """
    if run_id is None:
        return
    changes: dict[str, Any] = {
        "verdict": verdict,
        "stages": stages,
        "contract_version": contract_version,
        "contract_report": report or {},
        "code": code,
        "code_hash": code_hash(code),
    }
    if verdict == ContractVerdict.CONTRACT_ERROR:
        changes["exception_type"] = "ContractError"
        changes["exception_message"] = error_message
    Run.objects.filter(pk=run_id).update(**changes)


# --- look-ups -----------------------------------------------------------------------------------------------


def last_run(session: FixSession, kind: str = RunKind.JAX) -> Run | None:
    return session.runs.filter(kind=kind).order_by("-created_at", "-pk").first()


def clean_run(session: FixSession) -> Run | None:
    """A successful JAX run of exactly the current code."""
    return (
        session.runs.filter(kind=RunKind.JAX, status=RunStatus.OK, code_hash=code_hash(session.current_code))
        .order_by("-created_at", "-pk")
        .first()
    )


def last_contract_run(session: FixSession) -> Run | None:
    """The latest contract run of this session that has a verdict (what the stage panel shows on reload)."""
    return session.runs.filter(kind=RunKind.CONTRACT).exclude(verdict="").order_by("-created_at", "-pk").first()


def failing_line(traceback: list[dict[str, Any]]) -> int | None:
    """The line of the program itself (main.py) where the error surfaced: its innermost frame."""
    for frame in reversed(traceback or []):
        if frame.get("file") == "main.py" and isinstance(frame.get("line"), int):
            return frame["line"]
    return None
