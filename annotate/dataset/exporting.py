"""Exporting verified fix sessions: the paper's T2J JSON (byte-compatible) and our richer JSONL."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

from django.db.models import F, QuerySet

from annotate.dataset.errors import DatasetError
from annotate.dataset.records import TOP_KEY, join_extra
from annotate.models import FixSession, FixStep, System

T2J_CONTENT_TYPE = "application/json"
JSONL_CONTENT_TYPE = "application/x-ndjson"
ZIP_CONTENT_TYPE = "application/zip"
T2J_FILENAME = "fix_bugs_dataset.json"


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
    """The paper's format, written as the paper wrote it: json.dumps(data, indent=4), no trailing newline."""
    sessions = list(verified_sessions(system).prefetch_related("steps"))
    _require_one_system_per_sample(sessions)
    examples = [_t2j_example(session) for session in sessions]
    try:
        return json.dumps({TOP_KEY: examples}, indent=4, allow_nan=False)
    except ValueError:
        for session, example in zip(sessions, examples, strict=True):
            _strict_dumps(example, session)
        raise


def exported_system_names() -> list[str]:
    """Names of the systems with at least one verified session, alphabetical: what an export can hold."""
    return list(
        System.objects.filter(translations__fix_sessions__in=FixSession.objects.verified())
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )


def export_t2j_zip(systems: list[str]) -> bytes:
    """A zip holding one T2J file per system, `<system>-fix_bugs_dataset.json`, each as export_t2j(system)
    writes it: T2J has no system field, so several systems' sessions of one sample cannot share a file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in systems:
            archive.writestr(f"{name}-{T2J_FILENAME}", export_t2j(name))
    return buffer.getvalue()


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


def _require_one_system_per_sample(sessions: list[FixSession]) -> None:
    systems_by_sample: dict[str, set[str]] = {}
    for session in sessions:
        systems_by_sample.setdefault(session.translation.sample.key, set()).add(session.translation.system.name)
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
    """One JSON line per verified session with its whole step history; null where unknown."""
    sessions = verified_sessions(system).prefetch_related("steps__author", "steps__retracts")
    for session in sessions:
        yield _strict_dumps(_jsonl_record(session), session, ensure_ascii=False) + "\n"


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
        "steps": [_jsonl_step(step) for step in sorted(session.steps.all(), key=lambda step: step.index)],
        "extra": session.extra or {},
    }


def _jsonl_step(step: FixStep) -> dict:
    return {
        "index": step.index,
        "error_code": step.error_code,
        "error": step.error,
        "fix_info": step.fix_info,
        "fixed_code": step.fixed_code,
        "category": step.category,
        "code_before": step.code_before,
        "code_after": step.code_after,
        "author": step.author.get_username() if step.author else None,
        "created_at": _iso(step.created_at),
        "time_spent_s": step.time_spent_s,
        "edit_size": step.edit_size,
        "run_id": step.run_id,
        "retracts": step.retracts.index if step.retracts_id else None,
        "extra": step.extra or {},
    }
