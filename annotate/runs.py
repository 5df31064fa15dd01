"""Run rows: the one module that writes them, and the look-ups of a session's runs.

The sandbox runs a program and returns a RunResult; it knows nothing of the database. `run()` runs a
program through the sandbox and stores what came back as a Run (`result.run_id` names it), with the
plots it drew and the stand-ins it used; `record_verdict()` adds a contract run's verdict and stages to
its row once annotate.contracts has read them. A run of a sample's program (through its session, its
translation, or named) gets the sample's data files read-only and the sample's limits and stand-in counts.
The sandbox never sees a user name: each run's JAX compile cache is named by `cache_key()`, an HMAC of the
user's id (or of a fixed purpose when no user runs it). A run of a session can be stopped by the person who started
it (`stop()`): its sandbox job carries `cancel_key()`, an HMAC of the session and the user.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.crypto import salted_hmac

from annotate import sample_files, sandbox
from annotate.models import ContractVerdict, FixSession, Run, RunKind, RunPlot, RunStatus, Sample, Translation
from annotate.sandbox.result import clean_text, clean_tree


def code_hash(code: str) -> str:
    """The hash stored as Run.code_hash (sha256 hex, 64 characters); whoever looks runs up by code hashes here."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


CACHE_KEY_SALT = "annotate.runs.cache_key"


def cache_key(user: Any = None, purpose: str = "") -> str:
    """The opaque compile-cache key the sandbox gets (64 hex digits), or "" (no cache) without user or purpose.

    HMAC-SHA256 under SECRET_KEY (Django's salted_hmac) of "user:<id>" for a user, else of
    "purpose:<purpose>" for runs nobody in particular makes (a CLI, a system's batch): a purpose never
    reaches a user's cache, even one named like it, and nobody can compute a key without SECRET_KEY.
    """
    if user is not None and user.pk is not None:
        owner = f"user:{user.pk}"
    elif purpose:
        owner = f"purpose:{purpose}"
    else:
        return ""
    return salted_hmac(CACHE_KEY_SALT, owner, algorithm="sha256").hexdigest()


CANCEL_KEY_SALT = "annotate.runs.cancel_key"


def cancel_key(session: FixSession | None, user: Any) -> str:
    """The opaque key (64 hex digits) that stops `user`'s runs of `session` (see stop()), or "" without either."""
    if session is None or user is None or user.pk is None:
        return ""
    return salted_hmac(CANCEL_KEY_SALT, f"session:{session.pk}:user:{user.pk}", algorithm="sha256").hexdigest()


def stop(session: FixSession, user: Any) -> int:
    """Stop the runs `user` has running for `session` (in this process and on every runner); how many there were.

    A stopped run ends with status killed and sandbox.STOPPED_MESSAGE and is stored by the run() that started it.
    """
    return sandbox.stop(cancel_key(session, user))


def was_stopped(run: Run | sandbox.RunResult) -> bool:
    """Whether the run ended because someone stopped it (not a limit, not the program)."""
    return run.status == RunStatus.KILLED and run.exception_message == sandbox.STOPPED_MESSAGE


def run(
    code: str,
    kind: str,
    user_key: str,
    files: dict[str, str | bytes] | None = None,
    limits: sandbox.Limits | dict[str, Any] | None = None,
    *,
    user: Any = None,
    session: FixSession | None = None,
    sample: Sample | None = None,
    translation: Translation | None = None,
) -> sandbox.RunResult:
    """Run `code` in the sandbox and store the Run. Raises sandbox.InvalidRunInput for bad input (nothing stored).

    `user_key` labels whose compile cache the run uses (stored on the Run): with `user`, that user's cache;
    without, the cache of the purpose `user_key` names (see cache_key). The sample is `sample`, else the
    session's or the translation's: its files, limits and stand-in counts apply (explicit `limits` on top).
    `translation` is also stored on the Run (batch runs). With a session and a user, the run can be stopped (stop()).
    """
    result = sandbox.run(
        code,
        kind,
        cache_key(user, user_key),
        files,
        **sample_run_options(_sample_of(sample, session, translation), limits),
        cancel_key=cancel_key(session, user),
    )
    result.run_id = store(result, code, kind, user_key, user=user, session=session, translation=translation).pk
    return result


def sample_run_options(sample: Sample | None, limits: sandbox.Limits | dict[str, Any] | None = None) -> dict[str, Any]:
    """sandbox.run's keyword arguments for a program of `sample`: its read-only files, its limits with
    `limits` applied on top, its stand-in counts. Without a sample, just `limits`."""
    if sample is None:
        return {"limits": limits}
    return {
        "limits": limits_for(sample, limits),
        "readonly_files": sample_files.contents(sample),
        "standins": sample.standin_counts(),
    }


def limits_for(sample: Sample, limits: sandbox.Limits | dict[str, Any] | None = None) -> dict[str, Any]:
    """The sample's own limits (Sample.run_limits) with `limits` given by the caller on top."""
    given = limits.as_dict() if isinstance(limits, sandbox.Limits) else dict(limits or {})
    return {**sample.run_limits(), **given}


def _sample_of(sample: Sample | None, session: FixSession | None, translation: Translation | None) -> Sample | None:
    if sample is not None:
        return sample
    if session is not None:
        return session.translation.sample
    return translation.sample if translation is not None else None


def store(
    result: sandbox.RunResult,
    code: str,
    kind: str,
    user_key: str,
    *,
    user: Any = None,
    session: Any = None,
    translation: Translation | None = None,
) -> Run:
    """The Run row of one sandbox result, as the sandbox reported it, with its plots."""
    result.cleaned()  # the sandbox cleans its texts; a result built elsewhere is made storable here too
    with transaction.atomic():
        stored = Run.objects.create(
            kind=kind,
            code_hash=code_hash(code),
            code=code,
            user=user,
            user_key=user_key,
            session=session,
            translation=translation,
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
            standins=result.standins,
            limits=result.limits,
            session_version=_version_run(session, code),
        )
        RunPlot.objects.bulk_create(
            RunPlot(run=stored, position=position, source=clean_text(plot.get("source", ""))[:10], png=png)
            for position, plot in enumerate(result.plots, start=1)
            if (png := _png(plot))
        )
    return stored


def _version_run(session: Any, code: str) -> int | None:
    """The session's version whose code ran (its saved code at run time), else None (PyTorch, a contract driver)."""
    if isinstance(session, FixSession) and code == session.current_code:
        return session.version
    return None


def _png(plot: dict[str, Any]) -> bytes | None:
    """The PNG of a plot the sandbox checked and re-encoded (annotate.sandbox.outputs); None when malformed."""
    try:
        data = base64.b64decode(plot.get("png") or "", validate=True)
    except (TypeError, ValueError):
        return None
    return data if data.startswith(sandbox.PNG_MAGIC) else None


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
        "session_version": _version_run(FixSession.objects.filter(runs=run_id).first(), code),
        "stages": clean_tree(stages),
        "contract_version": contract_version,
        "contract_report": report or {},
        "code": code,
        "code_hash": code_hash(code),
    }
    if verdict == ContractVerdict.CONTRACT_ERROR:
        changes["exception_type"] = "ContractError"
        changes["exception_message"] = clean_text(error_message)
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


# --- several at once ----------------------------------------------------------------------------------------


@dataclass
class RunRequest:
    """One program of a batch: what runs.run() takes, and the Run row's links (`user_key`: a purpose)."""

    code: str
    kind: str
    user_key: str
    translation: Translation | None = None
    sample: Sample | None = None


def run_many(
    requests: Iterable[RunRequest], *, concurrency: int, should_stop: Callable[[], bool] | None = None
) -> Iterator[tuple[RunRequest, sandbox.RunResult]]:
    """Run the programs `concurrency` at a time (through the runner's warm pools when one answers) and
    store each Run as it ends; yields (request, result) in the order they end.

    The sandbox calls run in worker threads; the database is read and written in the caller's thread
    only. `should_stop()` is asked before each new program starts; the ones running are waited for. A
    program the sandbox will not take (invalid input) is stored as refused, with the reason.
    """
    pending = iter(requests)
    running: dict[Future, tuple[RunRequest, dict[str, Any]]] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch-run") as pool:
        while True:
            while len(running) < concurrency and not (should_stop and should_stop()):
                request = next(pending, None)
                if request is None:
                    break
                sample = _sample_of(request.sample, None, request.translation)
                options = sample_run_options(sample)
                key = cache_key(purpose=request.user_key)
                future = pool.submit(sandbox.run, request.code, request.kind, key, None, **options)
                running[future] = (request, options)
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                request, options = running.pop(future)
                try:
                    result = future.result()
                except sandbox.InvalidRunInput as error:
                    result = sandbox.RunResult.refused(f"not run: {error}", isolation="not run")
                    result.limits = sandbox.Limits.from_settings().as_dict()
                result.run_id = store(
                    result, request.code, request.kind, request.user_key, translation=request.translation
                ).pk
                yield request, result
