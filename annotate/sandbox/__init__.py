"""The sandbox: the one chokepoint through which every program runs (see DESIGN.md "Sandbox").

    from annotate import sandbox
    result = sandbox.run(code, "jax", user_key="dev")

Tries the runners of T2J_RUNNER_URLS (warm pool); when none answers, starts a cold box here and says so
in `result.note`. The package imports nothing of the project but settings: it returns a RunResult and
stores nothing; annotate.runs stores the Run rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from annotate.sandbox import inputs
from annotate.sandbox.client import run_remote
from annotate.sandbox.executor import execute
from annotate.sandbox.inputs import InvalidRunInput
from annotate.sandbox.limits import Limits
from annotate.sandbox.result import RunResult

__all__ = ["InvalidRunInput", "Limits", "RunResult", "run"]


def run(
    code: str,
    kind: str,
    user_key: str,
    files: dict[str, str | bytes] | None = None,
    limits: Limits | dict[str, Any] | None = None,
) -> RunResult:
    """Run `code` in the sandbox; nothing is stored. Raises InvalidRunInput for bad input (nothing run)."""
    code = inputs.check_code(code)
    kind = inputs.check_kind(kind)
    if not isinstance(user_key, str):
        raise InvalidRunInput("user_key must be text")
    encoded = inputs.encode_files(files)
    try:
        resolved = Limits.resolve(limits)
    except (TypeError, ValueError) as exc:
        raise InvalidRunInput(str(exc)) from exc
    return _run_somewhere(code, kind, user_key, encoded, resolved)


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
