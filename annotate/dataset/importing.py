"""Importing validated session records: a plan of what would change (the preview), then one transaction.

Matching is on natural keys (sample key, system name), never on primary keys, so re-importing a file is a
no-op. The same key with different content is a conflict naming the key and the field; with `replace=True`
samples and drafts are updated and the old live session is abandoned (with a SessionEvent) for a new
verified one, because fix steps are append-only and cannot be edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.dataset.errors import DatasetError
from annotate.dataset.records import ParsedDataset, SessionRecord
from annotate.models import (
    FixSession,
    FixStep,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    System,
    SystemMode,
    Translation,
)
from annotate.taxonomy import suggest_category

NEW, SAME, CONFLICT = "new", "unchanged", "conflicting"

# How each format names the fields a conflict is about.
FIELD_NAMES = {
    "t2j": {"pytorch_code": "Input_Code", "draft": "LLM_weak_output", "final": "LLM_fix_output", "steps": "Errors",
            "extra": "unknown keys"},
    "jsonl": {"pytorch_code": "pytorch_code", "draft": "draft_code", "final": "final_code", "steps": "steps",
              "extra": "extra"},
}  # fmt: skip


@dataclass
class RecordPlan:
    record: SessionRecord
    translation: Translation | None
    translation_state: str
    session: FixSession | None
    session_state: str
    conflicts: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    format: str
    source: str
    replace: bool
    sample_states: dict[str, str]
    existing_samples: dict[str, Sample]
    records: list[RecordPlan]
    sample_conflicts: list[str]
    # Owners and authors named in a JSONL file who have no account here: imported as null.
    unknown_users: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return self.sample_conflicts + [text for plan in self.records for text in plan.conflicts]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind of record, how many are new, unchanged and conflicting: what the preview shows."""
        samples = _tally(self.sample_states.values())
        translations = _tally(plan.translation_state for plan in self.records)
        sessions = _tally(plan.session_state for plan in self.records)
        steps = {NEW: 0, SAME: 0, CONFLICT: 0}
        for plan in self.records:
            steps[SAME if plan.session_state == SAME else NEW] += len(plan.record.steps)
        return {"samples": samples, "translations": translations, "sessions": sessions, "steps": steps}

    @property
    def changes_anything(self) -> bool:
        counts = self.counts()
        return any(counts[kind][NEW] or counts[kind][CONFLICT] for kind in ("samples", "translations", "sessions"))


def import_records(
    parsed: ParsedDataset, *, source: str = "", replace: bool = False, dry_run: bool = False, actor=None
) -> ImportPlan:
    """Plan, and unless dry_run apply, all records in one transaction; conflicts without replace raise."""
    with transaction.atomic():
        plan = plan_import(parsed, source=source, replace=replace)
        if plan.conflicts and not replace:
            raise DatasetError(plan.conflicts + ["nothing was imported; import again with replace to overwrite"])
        if not dry_run:
            _apply(plan, actor)
    return plan


def plan_import(parsed: ParsedDataset, *, source: str = "", replace: bool = False) -> ImportPlan:
    names = FIELD_NAMES[parsed.format]
    keys = {record.sample_key for record in parsed.records}
    samples = Sample.objects.in_bulk(keys, field_name="key")
    sample_states: dict[str, str] = {}
    sample_conflicts: list[str] = []
    for record in parsed.records:
        if record.sample_key in sample_states:
            continue
        stored = samples.get(record.sample_key)
        if stored is None:
            sample_states[record.sample_key] = NEW
        elif stored.pytorch_code == record.pytorch_code:
            sample_states[record.sample_key] = SAME
        else:
            sample_states[record.sample_key] = CONFLICT
            sample_conflicts.append(
                f"{record.place}: sample {record.sample_key!r}: {names['pytorch_code']} differs from the stored sample"
            )
    translations = _existing_translations(parsed.records)
    records = [_plan_record(record, translations, names) for record in parsed.records]
    plan = ImportPlan(parsed.format, source, replace, sample_states, samples, records, sample_conflicts)
    plan.unknown_users = _unknown_users(parsed.records)
    return plan


def _unknown_users(records: list[SessionRecord]) -> list[str]:
    named = {record.owner for record in records} | {step.author for record in records for step in record.steps}
    named.discard(None)
    known = set(get_user_model().objects.filter(username__in=named).values_list("username", flat=True))
    return sorted(named - known)


def _existing_translations(records: list[SessionRecord]) -> dict[tuple[str, str], Translation]:
    keys = {record.sample_key for record in records}
    systems = {record.system for record in records}
    found = (
        Translation.objects.filter(sample__key__in=keys, system__name__in=systems)
        .select_related("sample", "system")
        .prefetch_related("fix_sessions__steps__retracts", "fix_sessions__owner")
    )
    return {(t.sample.key, t.system.name): t for t in found}


def _plan_record(record: SessionRecord, translations: dict, names: dict) -> RecordPlan:
    translation = translations.get((record.sample_key, record.system))
    where = f"{record.place}: sample {record.sample_key!r}, system {record.system!r}"
    if translation is None:
        return RecordPlan(record, None, NEW, None, NEW)
    conflicts = []
    translation_state = SAME
    if translation.code != record.draft_code:
        translation_state = CONFLICT
        conflicts.append(f"{where}: {names['draft']} differs from the stored draft")
    live = [s for s in translation.fix_sessions.all() if s.status != SessionStatus.ABANDONED]
    session = live[0] if live else None
    if session is None:
        return RecordPlan(record, translation, translation_state, None, NEW, conflicts)
    session_problem = _session_difference(session, record, names)
    if session_problem:
        conflicts.append(f"{where}: {session_problem}")
    return RecordPlan(record, translation, translation_state, session, CONFLICT if session_problem else SAME, conflicts)


def _session_difference(session: FixSession, record: SessionRecord, names: dict) -> str | None:
    """Why the stored live session is not the one in the file; None when they are the same."""
    if session.status == SessionStatus.OPEN:
        owner = session.owner.get_username() if session.owner else "nobody"
        return f"the translation has an open fix session (owner {owner}); replacing abandons it"
    if session.current_code != record.final_code:
        return f"{names['final']} differs from the verified code"
    if session.extra != record.extra:
        return f"{names['extra']} differ from the verified session's"
    stored = _stored_step_contents(session, full=record.full_history)
    wanted = record.step_contents()
    if stored != wanted:
        for number, (old, new) in enumerate(zip(stored, wanted, strict=False), start=1):
            if old != new:
                return f"{names['steps']} differ from the verified session's steps (first at step {number})"
        return f"{names['steps']} differ: {len(wanted)} steps in the file, {len(stored)} stored"
    return None


def _stored_step_contents(session: FixSession, *, full: bool) -> list[tuple]:
    steps = sorted(session.steps.all(), key=lambda step: step.index)
    if not full:
        retracted = {step.retracts_id for step in steps if step.retracts_id}
        steps = [step for step in steps if not step.retracts_id and step.pk not in retracted]
    contents = []
    for step in steps:
        base = (step.error_code, step.error, step.fix_info, step.fixed_code, step.extra)
        retracts = step.retracts.index if step.retracts_id else None
        contents.append((step.index, *base, retracts) if full else base)
    return contents


def _tally(states) -> dict[str, int]:
    counts = {NEW: 0, SAME: 0, CONFLICT: 0}
    for state in states:
        counts[state] += 1
    return counts


# --- writing ---------------------------------------------------------------------------------------------


class _Users:
    """Usernames in JSONL files mapped to accounts here; unknown names become null (the account is not ours)."""

    def __init__(self) -> None:
        self._cache: dict[str, object] = {}

    def get(self, username: str | None):
        if not username:
            return None
        if username not in self._cache:
            self._cache[username] = get_user_model().objects.filter(username=username).first()
        return self._cache[username]


def _apply(plan: ImportPlan, actor) -> None:
    samples = _write_samples(plan)
    systems = {}
    users = _Users()
    for record_plan in plan.records:
        try:
            _apply_record(record_plan, samples, systems, users, actor, plan)
        except DatabaseError as exc:
            # The whole transaction rolls back; say which item the database refused so it can be found.
            raise DatasetError(f"{record_plan.record.place} could not be written: {exc}") from exc


def _apply_record(
    record_plan: RecordPlan, samples: dict, systems: dict, users: _Users, actor, plan: ImportPlan
) -> None:
    record = record_plan.record
    if record.system not in systems:
        systems[record.system] = System.objects.get_or_create(
            name=record.system, defaults={"mode": SystemMode.IMPORTED}
        )[0]
    translation = _write_translation(record_plan, samples[record.sample_key], systems[record.system])
    if record_plan.session_state == SAME:
        return
    if record_plan.session is not None:
        _abandon(record_plan.session, actor, plan.source)
    _create_session(record, translation, users, actor, plan)


def _write_samples(plan: ImportPlan) -> dict[str, Sample]:
    next_position = (Sample.objects.aggregate(top=Max("import_position"))["top"] or -1) + 1
    samples: dict[str, Sample] = {}
    codes = {p.record.sample_key: p.record.pytorch_code for p in plan.records}
    for key, state in plan.sample_states.items():
        sample = plan.existing_samples.get(key)
        if state == NEW:
            sample = Sample.objects.create(key=key, pytorch_code=codes[key], import_position=next_position)
            next_position += 1
        else:
            changed = []
            if state == CONFLICT:
                sample.pytorch_code = codes[key]
                changed.append("pytorch_code")
            if sample.import_position is None:
                # Keep the file's order for samples that came without one (e.g. from import_samples).
                sample.import_position = next_position
                next_position += 1
                changed.append("import_position")
            if changed:
                sample.save(update_fields=[*changed, "updated_at"])
        samples[key] = sample
    return samples


def _write_translation(record_plan: RecordPlan, sample: Sample, system: System) -> Translation:
    record = record_plan.record
    translation = record_plan.translation
    if translation is None:
        return Translation.objects.create(sample=sample, system=system, code=record.draft_code)
    if record_plan.translation_state == CONFLICT:
        translation.code = record.draft_code
        translation.save(update_fields=["code", "updated_at"])
    return translation


def _abandon(session: FixSession, actor, source: str) -> None:
    session.status = SessionStatus.ABANDONED
    session.save(update_fields=["status"])
    SessionEvent.objects.create(
        session=session, kind=SessionEventKind.ABANDONED, actor=actor,
        detail={"reason": "replaced by an import", "source": source},
    )  # fmt: skip


def _create_session(record: SessionRecord, translation: Translation, users: _Users, actor, plan: ImportPlan) -> None:
    now = timezone.now()
    session = FixSession.objects.create(
        translation=translation,
        owner=users.get(record.owner),
        status=SessionStatus.VERIFIED,
        claimed_at=record.claimed_at,
        # JSONL says itself when and how a session was verified (null stays null); T2J files do not.
        verified_at=record.verified_at if record.full_history else now,
        current_code=record.final_code,
        verification=(record.verification or {})
        if record.full_history
        else {"method": "imported", "format": plan.format, "source": plan.source},
        extra=record.extra,
    )
    by_index: dict[int, FixStep] = {}
    for step in record.steps:
        category = step.category
        if category is None:
            category = suggest_category(step.error, step.error_code, step.fixed_code)
        by_index[step.index] = FixStep.objects.create(
            session=session,
            index=step.index,
            error_code=step.error_code,
            error=step.error,
            fix_info=step.fix_info,
            fixed_code=step.fixed_code,
            category=category,
            code_before=step.code_before,
            code_after=step.code_after,
            time_spent_s=step.time_spent_s,
            edit_size=step.edit_size,
            author=users.get(step.author),
            extra=step.extra,
            retracts=by_index.get(step.retracts) if step.retracts is not None else None,
            created_at=step.created_at or now,
        )
    SessionEvent.objects.create(
        session=session, kind=SessionEventKind.IMPORTED, actor=actor,
        detail={"format": plan.format, "source": plan.source, "steps": len(record.steps)},
    )  # fmt: skip
