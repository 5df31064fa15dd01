"""The sandbox: the one chokepoint through which every program runs (see DESIGN.md "Sandbox").

    from annotate import sandbox
    result = sandbox.run(code, "jax", user_key="dev")

Tries the runners of T2J_RUNNER_URLS (warm pool); when none answers, starts a cold box here and says so
in `result.note`. Every run is stored as a Run row after the timed part; `result.run_id` names it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings

from annotate.sandbox import inputs
from annotate.sandbox.client import run_remote
from annotate.sandbox.executor import execute
from annotate.sandbox.inputs import InvalidRunInput
from annotate.sandbox.limits import Limits
from annotate.sandbox.result import RunResult

__all__ = ["InvalidRunInput", "Limits", "RunResult", "code_hash", "run"]


def code_hash(code: str) -> str:
    """The hash stored as Run.code_hash; whoever looks runs up by code must hash the same way."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def run(
    code: str,
    kind: str,
    user_key: str,
    files: dict[str, str | bytes] | None = None,
    limits: Limits | dict[str, Any] | None = None,
    *,
    user: Any = None,
    session: Any = None,
    store: bool = True,
) -> RunResult:
    """Run `code` in the sandbox and store the Run. Raises InvalidRunInput for bad input (nothing stored)."""
    code = inputs.check_code(code)
    kind = inputs.check_kind(kind)
    if not isinstance(user_key, str):
        raise InvalidRunInput("user_key must be text")
    encoded = inputs.encode_files(files)
    try:
        resolved = Limits.resolve(limits)
    except (TypeError, ValueError) as exc:
        raise InvalidRunInput(str(exc)) from exc
    result = _run_somewhere(code, kind, user_key, encoded, resolved)
    if store:
        result.run_id = _store(result, code, kind, user_key, user, session).pk
    return result


def _run_somewhere(code: str, kind: str, user_key: str, files: dict[str, str], limits: Limits) -> RunResult:
    urls = list(settings.T2J_RUNNER_URLS)
    failures: list[str] = []
    if urls:
        payload = {"code": code, "kind": kind, "user_key": user_key, "files": files, "limits": limits.as_dict()}
        result, failures = run_remote(urls, payload, limits.wall_s)
        if result is not None:
            return result
    result = execute(code, kind, user_key, files, limits)
    if result.status != "refused":
        why = "; ".join(failures) if failures else "no runner configured"
        result.note = f"cold start: no runner answered ({why})"
    return result


def _store(result: RunResult, code: str, kind: str, user_key: str, user: Any, session: Any):
    from annotate.models import Run

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
