"""The sandbox: the one chokepoint through which every program runs (see DESIGN.md "Sandbox").

    from annotate import sandbox
    result = sandbox.run(code, "jax", cache_key="")  # "": no compile cache; annotate.runs derives the keys

Tries the runners of T2J_RUNNER_URLS (warm pool); when none answers, starts a cold box here and says so
in `result.note`. The package imports nothing of the project but settings: it returns a RunResult and
stores nothing; annotate.runs stores the Run rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from annotate.sandbox import cancel, inputs
from annotate.sandbox.cancel import STOPPED_MESSAGE
from annotate.sandbox.client import cancel_remote, run_remote
from annotate.sandbox.executor import execute
from annotate.sandbox.inputs import InvalidRunInput, Job
from annotate.sandbox.limits import Limits
from annotate.sandbox.outputs import PNG_MAGIC
from annotate.sandbox.result import RunResult

__all__ = ["PNG_MAGIC", "STOPPED_MESSAGE", "InvalidRunInput", "Limits", "RunResult", "run", "stop"]


def run(
    code: str,
    kind: str,
    cache_key: str,
    files: dict[str, str | bytes] | None = None,
    limits: Limits | dict[str, Any] | None = None,
    *,
    readonly_files: dict[str, bytes] | None = None,
    standins: dict[str, int] | None = None,
    cancel_key: str = "",
) -> RunResult:
    """Run `code` in the sandbox; nothing is stored. Raises InvalidRunInput for bad input (nothing run).

    `cache_key` names the JAX compile cache the run reads and adds to: "" for none, else the opaque key
    annotate.runs.cache_key derives (a user name is refused, see inputs.check_cache_key).

    `files` are written into the box's working folder beside main.py (writable); `readonly_files` (a
    sample's data files) appear there too but cannot be changed; `limits` may tighten any limit and raise
    the time limits up to the operator maxima; `standins` sets the stand-in datasets' example counts
    ({"train_examples": N, "test_examples": N}). `cancel_key` ("" or opaque like `cache_key`) lets stop() end the
    run early: it then comes back as status "killed" with STOPPED_MESSAGE.
    """
    job = inputs.make_job(
        code,
        kind,
        cache_key,
        files=inputs.encode_files(files),
        readonly_files=inputs.encode_files(readonly_files, inputs.MAX_READONLY_BYTES),
        limits=limits,
        standins=standins,
        cancel_key=cancel_key,
    )
    return _run_somewhere(job)


def stop(cancel_key: str) -> int:
    """Stop the runs of `cancel_key`, here and on every runner; how many were running. Raises InvalidRunInput."""
    key = inputs.check_cancel_key(cancel_key)
    if not key:
        return 0
    return cancel.stop(key) + cancel_remote(list(settings.T2J_RUNNER_URLS), key)


def _run_somewhere(job: Job) -> RunResult:
    urls = list(settings.T2J_RUNNER_URLS)
    failures: list[str] = []
    if urls:
        result, failures = run_remote(urls, job.as_payload(), job.limits.wall_s)
        if result is not None:
            return result
    result = execute(job)
    if result.status != "refused":
        why = "; ".join(failures) if failures else "no runner configured"
        result.note = f"cold start: no runner answered ({why})"
    return result
