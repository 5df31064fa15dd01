"""Exporting verified fix sessions: the paper's T2J JSON (byte-compatible) and our richer JSONL."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from annotate.dataset.errors import DatasetError
from annotate.dataset.records import TOP_KEY, join_extra
from annotate.models import FixSession, FixStep, System

T2J_CONTENT_TYPE = "application/json"
JSONL_CONTENT_TYPE = "application/x-ndjson"
ZIP_CONTENT_TYPE = "application/zip"
T2J_FILENAME = "fix_bugs_dataset.json"
INDENT = " " * 4
# Sessions whose steps are read in one query: ~300 steps with the programs before and after each, a few MB.
CHUNK_SESSIONS = 20


def verified_sessions(system: str | None = None) -> QuerySet[FixSession]:
    """Verified sessions in export order: the samples' import order, then key, then system name."""
    sessions = FixSession.objects.verified().select_related("translation__sample", "translation__system", "owner")
    if system:
        if not System.objects.filter(name=system).exists():
            raise DatasetError(f"there is no system named {system!r}")
        sessions = sessions.filter(translation__system__name=system)
    return sessions.order_by(
        F("translation__sample__import_position").asc(nulls_last=True),
        "translation__sample__key",
        "translation__system__name",
    )


def export_t2j(system: str | None = None) -> str:
    """The whole T2J file as one string (small exports and tests; files and downloads use write_t2j)."""
    out = io.StringIO()
    write_t2j(out, system)
    return out.getvalue()


def write_t2j(out: TextIO, system: str | None = None) -> None:
    """The paper's format, written as the paper wrote it, one example at a time.

    Byte for byte what json.dumps({TOP_KEY: examples}, indent=4) gives (ASCII escapes, no trailing newline):
    each example is dumped with indent=4 and shifted two levels in. Raises DatasetError before writing
    anything when several systems hold the same sample; a stored NaN raises midway (write to a temporary file).
    """
    sessions = verified_sessions(system)
    _require_one_system_per_sample(sessions)
    out.write("{\n" + INDENT + json.dumps(TOP_KEY) + ": [")
    first = True
    # The paper's format has no programs before and after each step: they are not read.
    steps = Prefetch("steps", queryset=FixStep.objects.defer("code_before", "code_after"))
    for session in _with_steps(sessions, steps):
        example = _strict_dumps(_t2j_example(session), session, indent=4)
        out.write(("\n" if first else ",\n") + textwrap.indent(example, INDENT * 2))
        first = False
    out.write("]\n}" if first else "\n" + INDENT + "]\n}")


def _with_steps(sessions: QuerySet[FixSession], *prefetch: str | Prefetch) -> Iterator[FixSession]:
    """The sessions in order, their steps read a chunk of sessions at a time: memory stays flat at any size."""
    return sessions.prefetch_related(*prefetch).iterator(chunk_size=CHUNK_SESSIONS)


def exported_system_names() -> list[str]:
    """Names of the systems with at least one verified session, alphabetical: what an export can hold."""
    # EXISTS stops at a system's first verified session; a join would read every one of them.
    verified = FixSession.objects.verified().filter(translation__system=OuterRef("pk"))
    return list(System.objects.filter(Exists(verified)).order_by("name").values_list("name", flat=True))


def write_t2j_zip(out: BinaryIO, systems: list[str]) -> None:
    """A zip of one T2J file per system, `<system>-fix_bugs_dataset.json`, each as write_t2j writes it: T2J
    has no system field, so several systems' sessions of one sample cannot share a file. Raises DatasetError
    (possibly midway, as write_export)."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in systems:
            with archive.open(f"{name}-{T2J_FILENAME}", "w") as member:
                text = io.TextIOWrapper(member, encoding="utf-8", newline="")
                write_t2j(text, name)
                text.flush()
                text.detach()  # the member is closed by its own `with`


def _strict_dumps(value: dict, session: FixSession, **options) -> str:
    """JSON with no NaN or Infinity (they are not JSON): rows stored before imports refused them say so here."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        raise DatasetError(
            f"verified session {session.pk} ({session.translation.sample.key} by {session.translation.system.name}) "
            "holds NaN or Infinity (imported before such numbers were refused), which JSON cannot carry; "
            "nothing was exported"
        ) from None


def _require_one_system_per_sample(sessions: QuerySet[FixSession]) -> None:
    systems_by_sample: dict[str, set[str]] = {}
    pairs = sessions.order_by().values_list("translation__sample__key", "translation__system__name").distinct()
    for key, name in pairs:
        systems_by_sample.setdefault(key, set()).add(name)
    shared = {key: names for key, names in systems_by_sample.items() if len(names) > 1}
    if shared:
        names = sorted(set().union(*shared.values()))
        keys = ", ".join(sorted(shared)[:5]) + (" ..." if len(shared) > 5 else "")
        raise DatasetError(
            f"samples {keys} have verified sessions from several systems ({', '.join(names)}): choose one system"
        )


def _counted(session: FixSession) -> list[FixStep]:
    """Steps that count, from the prefetched rows: retractions and retracted steps left out."""
    steps = sorted(session.steps.all(), key=lambda step: step.index)
    retracted = {step.retracts_id for step in steps if step.retracts_id}
    return [step for step in steps if not step.retracts_id and step.pk not in retracted]


def _t2j_example(session: FixSession) -> dict:
    translation = session.translation
    errors = [
        join_extra(
            {"Error_Code": s.error_code, "Error": s.error, "Fix_info": s.fix_info, "Fixed_Code": s.fixed_code},
            s.extra or {},
        )
        for s in _counted(session)
    ]
    known = {
        "Example_id": translation.sample.key,
        "Input_Code": translation.sample.pytorch_code,
        "LLM_weak_output": translation.code,
        "LLM_fix_output": session.current_code,
        "Errors": errors,
    }
    return join_extra(known, session.extra or {})


def export_jsonl(system: str | None = None) -> Iterator[str]:
    """One JSON line per verified session with its whole step history; null where unknown.

    A generator reading a chunk of sessions at a time; a stored NaN raises DatasetError midway, so write it to
    a temporary file (write_export) before anything is sent.
    """
    sessions = verified_sessions(system)  # raises for an unknown system before the first line
    for session in _with_steps(sessions, "steps__author"):
        yield _strict_dumps(_jsonl_record(session), session, ensure_ascii=False) + "\n"


def write_export(out: BinaryIO, fmt: str, system: str | None = None) -> int:
    """Write a T2J ("t2j") or JSONL ("jsonl") export as UTF-8 into a binary file; returns the bytes written.

    Line by line, never the whole file in memory. Raises DatasetError (possibly midway: callers write into a
    temporary file and keep it only when this returns).
    """
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        if fmt == "t2j":
            write_t2j(text, system)
        else:
            text.writelines(export_jsonl(system))
        text.flush()
        return out.tell()
    finally:
        text.detach()  # the caller's file stays open


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _jsonl_record(session: FixSession) -> dict:
    translation = session.translation
    return {
        "sample": translation.sample.key,
        "system": translation.system.name,
        "pytorch_code": translation.sample.pytorch_code,
        "draft_code": translation.code,
        "owner": session.owner.get_username() if session.owner else None,
        "status": session.status,
        "claimed_at": _iso(session.claimed_at),
        "verified_at": _iso(session.verified_at),
        "verification": session.verification or None,
        "final_code": session.current_code,
        "steps": _jsonl_steps(session),
        "extra": session.extra or {},
    }


def _jsonl_steps(session: FixSession) -> list[dict]:
    steps = sorted(session.steps.all(), key=lambda step: step.index)
    index_of = {step.pk: step.index for step in steps}  # a step retracts one of its own session's steps
    return [_jsonl_step(step, index_of) for step in steps]


def _jsonl_step(step: FixStep, index_of: dict[int, int]) -> dict:
    return {
        "index": step.index,
        "error_code": step.error_code,
        "error": step.error,
        "fix_info": step.fix_info,
        "fixed_code": step.fixed_code,
        "category": step.category,
        "category_reason": step.category_reason,
        "error_source": step.error_source,
        "flags": step.flags,
        "code_before": step.code_before,
        "code_after": step.code_after,
        "author": step.author.get_username() if step.author else None,
        "created_at": _iso(step.created_at),
        "time_spent_s": step.time_spent_s,
        "edit_size": step.edit_size,
        "run_id": step.run_id,
        "retracts": (index_of.get(step.retracts_id) or step.retracts.index) if step.retracts_id else None,
        "extra": step.extra or {},
    }
