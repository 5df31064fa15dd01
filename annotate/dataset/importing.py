"""Importing validated session records: a plan of what would change (the preview), then one transaction.

Matching is on natural keys (sample key, system name), never on primary keys, so re-importing a file is a
no-op. The same key with different content is a conflict naming the key and the field; with `replace=True`
samples and drafts are updated and the old live session is abandoned (with a SessionEvent) for a new
verified one, because fix steps are append-only and cannot be edited.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from annotate import hygiene, sample_metadata
from annotate.dataset.errors import DatasetError
from annotate.dataset.records import ParsedDataset, SessionRecord, StepRecord
from annotate.models import (
    ErrorSource,
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
from annotate.taxonomy import classify
from t2j_site import planner_statistics

NEW, SAME, CONFLICT = "new", "unchanged", "conflicting"
# Records planned and written together: the stored rows they are compared with are read per batch.
BATCH_RECORDS = 200

# How each format names the fields a conflict is about.
FIELD_NAMES = {
    "t2j": {"pytorch_code": "Input_Code", "draft": "LLM_weak_output", "final": "LLM_fix_output", "steps": "Errors",
            "extra": "unknown keys"},
    "jsonl": {"pytorch_code": "pytorch_code", "draft": "draft_code", "final": "final_code", "steps": "steps",
              "extra": "extra"},
}  # fmt: skip


@dataclass(frozen=True)
class Provenance:
    """What the person importing says about the file: the origin of its samples, their difficulty ("" takes it
    from TorchLeet-style keys: e1, m3, h10) and the model that wrote its drafts ("" for unknown)."""

    origin: str = ""
    difficulty: str = ""
    model: str = ""


NO_PROVENANCE = Provenance()


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
    """What importing a file changes (the preview) or changed: counts per kind, conflicts, unknown users.

    Tallied record by record; the records themselves are not kept, so a file of any size plans in flat memory.
    """

    format: str
    source: str
    replace: bool
    tallies: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: _tally(()) for kind in ("samples", "translations", "sessions", "steps")}
    )
    sample_conflicts: list[str] = field(default_factory=list)
    record_conflicts: list[str] = field(default_factory=list)
    # Owners and authors named in a JSONL file who have no account here: imported as null.
    unknown_users: list[str] = field(default_factory=list)

    # Step hygiene of the file: (sample, system, ["14-23 duplicate of 4-13", ...]) per session with flagged steps,
    # and how many steps are flagged. Flagged steps are imported and counted like any other (the paper counted them).
    flagged_sessions: list[tuple[str, str, list[str]]] = field(default_factory=list)
    flagged: int = 0
    # Existing systems whose model is not the one this import names: the import waits for a yes.
    model_differences: list[str] = field(default_factory=list)

    def flagged_steps(self) -> list[tuple[str, str, list[str]]]:
        return self.flagged_sessions

    def flagged_count(self) -> int:
        return self.flagged

    @property
    def conflicts(self) -> list[str]:
        return self.sample_conflicts + self.record_conflicts

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind of record, how many are new, unchanged and conflicting: what the preview shows."""
        return {kind: dict(tally) for kind, tally in self.tallies.items()}

    @property
    def changes_anything(self) -> bool:
        counts = self.counts()
        return any(counts[kind][NEW] or counts[kind][CONFLICT] for kind in ("samples", "translations", "sessions"))

    def count(self, record_plan: RecordPlan) -> None:
        self.tallies["translations"][record_plan.translation_state] += 1
        self.tallies["sessions"][record_plan.session_state] += 1
        steps = len(record_plan.record.steps)
        self.tallies["steps"][SAME if record_plan.session_state == SAME else NEW] += steps
        self.record_conflicts += record_plan.conflicts
        record = record_plan.record
        flags = step_flags(record)
        self.flagged += sum(1 for step_flags_ in flags.values() if step_flags_)
        if phrases := hygiene.describe(flags):
            self.flagged_sessions.append((record.sample_key, record.system, phrases))


def import_records(
    parsed: ParsedDataset,
    *,
    source: str = "",
    replace: bool = False,
    dry_run: bool = False,
    actor=None,
    provenance: Provenance = NO_PROVENANCE,
    model_confirmed: bool = False,
) -> ImportPlan:
    """Plan, and unless dry_run apply, all records in one transaction; conflicts without replace raise, and so
    does a model that differs from an existing system's unless `model_confirmed`.

    Records are planned and written a batch at a time as they are read: a problem found in the file or a
    conflict raises at the end and the transaction rolls back, so nothing is written unless all of it is.
    """
    with transaction.atomic():
        plan = _run(parsed, source, replace, write=not dry_run, actor=actor, provenance=provenance)
        if plan.conflicts and not replace:
            raise DatasetError(plan.conflicts + ["nothing was imported; import again with replace to overwrite"])
        if plan.model_differences and not model_confirmed:
            raise DatasetError(plan.model_differences + ["nothing was imported; confirm the model to import anyway"])
        if not dry_run:
            planner_statistics.refresh(Sample, System, Translation, FixSession, FixStep)
    return plan


def plan_import(
    parsed: ParsedDataset, *, source: str = "", replace: bool = False, provenance: Provenance = NO_PROVENANCE
) -> ImportPlan:
    """What importing would change, conflicts and model differences included (they do not raise here);
    nothing is written."""
    return _run(parsed, source, replace, write=False, provenance=provenance)


def _run(
    parsed: ParsedDataset, source: str, replace: bool, *, write: bool, actor=None, provenance: Provenance
) -> ImportPlan:
    plan = ImportPlan(parsed.format, source, replace)
    batches = _Batches(plan, FIELD_NAMES[parsed.format], write=write, actor=actor, provenance=provenance)
    records = iter(parsed.records)
    while batch := list(itertools.islice(records, BATCH_RECORDS)):
        batches.add(batch)
    plan.unknown_users = sorted(batches.named_users - _known_users(batches.named_users))
    return plan


class _Batches:
    """Plans (and writes, when `write`) records a batch at a time, remembering across batches only the
    samples already seen, the systems and users looked up, and the next import position."""

    def __init__(self, plan: ImportPlan, names: dict, *, write: bool, actor, provenance: Provenance) -> None:
        self.plan, self.names, self.actor = plan, names, actor
        self.write, self.provenance = write, provenance
        self.samples: dict[str, Sample | None] = {}  # key -> the row (None when a dry run would create it)
        self.systems: dict[str, System] = {}
        self.systems_checked: set[str] = set()
        self.users = _Users()
        self.named_users: set[str] = set()
        self.next_position: int | None = None

    @property
    def writing(self) -> bool:
        # Once a conflict will refuse the import, writing more only to roll it back is wasted.
        return self.write and (self.plan.replace or not self.plan.conflicts)

    def add(self, records: list[SessionRecord]) -> None:
        self._check_models(records)
        self._plan_samples(records)
        translations = _existing_translations(records)
        plans = [_plan_record(record, translations, self.names) for record in records]
        for record_plan in plans:
            self.plan.count(record_plan)
            record = record_plan.record
            self.named_users.update(name for name in (record.owner, *(s.author for s in record.steps)) if name)
        if self.writing:
            for record_plan in plans:
                try:
                    self._apply_record(record_plan)
                except DatabaseError as exc:
                    # The whole transaction rolls back; say which item the database refused so it can be found.
                    raise DatasetError(f"{record_plan.record.place} could not be written: {exc}") from exc

    def _check_models(self, records: list[SessionRecord]) -> None:
        """An existing system whose model is not the one named: a difference to confirm, said once per system."""
        model = self.provenance.model
        names = {record.system for record in records} - self.systems_checked
        self.systems_checked |= names
        if not model or not names:
            return
        for system in System.objects.filter(name__in=names).exclude(model=model).order_by("name"):
            self.plan.model_differences.append(
                f"system {system.name!r} exists with model {system.model or '(none)'!r}, not {model!r}: "
                "its drafts would mix two models"
            )

    def _plan_samples(self, records: list[SessionRecord]) -> None:
        """Samples seen for the first time in this batch: their state counted, and written when writing."""
        first = {}
        for record in records:
            if record.sample_key not in self.samples and record.sample_key not in first:
                first[record.sample_key] = record
        stored = Sample.objects.in_bulk(list(first), field_name="key")
        for key, record in first.items():
            sample = stored.get(key)
            if sample is None:
                state = NEW
            elif sample.pytorch_code == record.pytorch_code:
                state = SAME
            else:
                state = CONFLICT
                self.plan.sample_conflicts.append(
                    f"{record.place}: sample {key!r}: {self.names['pytorch_code']} differs from the stored sample"
                )
            self.plan.tallies["samples"][state] += 1
            self.samples[key] = self._write_sample(sample, state, record) if self.writing else sample

    def _write_sample(self, sample: Sample | None, state: str, record: SessionRecord) -> Sample:
        if self.next_position is None:
            self.next_position = (Sample.objects.aggregate(top=Max("import_position"))["top"] or -1) + 1
        if state == NEW:
            self.next_position += 1
            return Sample.objects.create(
                key=record.sample_key,
                pytorch_code=record.pytorch_code,
                import_position=self.next_position - 1,
                title=sample_metadata.title_from_code(record.pytorch_code),
                origin=self.provenance.origin,
                difficulty=self.provenance.difficulty or sample_metadata.difficulty_from_key(record.sample_key),
            )
        changed = []
        if state == CONFLICT and self.plan.replace:
            sample.pytorch_code = record.pytorch_code
            changed.append("pytorch_code")
        if sample.import_position is None:
            # Keep the file's order for samples that came without one (e.g. from import_samples).
            sample.import_position = self.next_position
            self.next_position += 1
            changed.append("import_position")
        if changed:
            sample.save(update_fields=[*changed, "updated_at"])
        return sample

    def _apply_record(self, record_plan: RecordPlan) -> None:
        record = record_plan.record
        if record.system not in self.systems:
            self.systems[record.system] = System.objects.get_or_create(
                name=record.system, defaults={"mode": SystemMode.IMPORTED, "model": self.provenance.model}
            )[0]
        translation = _write_translation(record_plan, self.samples[record.sample_key], self.systems[record.system])
        if record_plan.session_state == SAME:
            return
        if record_plan.session is not None:
            _abandon(record_plan.session, self.actor, self.plan.source)
        _create_session(record, translation, self.users, self.actor, self.plan)


def _known_users(names: set[str]) -> set[str]:
    return set(get_user_model().objects.filter(username__in=names).values_list("username", flat=True))


def _existing_translations(records: list[SessionRecord]) -> dict[tuple[str, str], Translation]:
    keys = {record.sample_key for record in records}
    systems = {record.system for record in records}
    found = (
        Translation.objects.filter(sample__key__in=keys, system__name__in=systems)
        .select_related("sample", "system")
        .prefetch_related("fix_sessions__steps", "fix_sessions__owner")
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
    index_of = {step.pk: step.index for step in sorted(session.steps.all(), key=lambda step: step.index)}
    contents = []
    for step in steps:
        base = (step.error_code, step.error, step.fix_info, step.fixed_code, step.extra)
        retracts = (index_of.get(step.retracts_id) or step.retracts.index) if step.retracts_id else None
        contents.append((step.index, *base, retracts) if full else base)
    return contents


def _step_row(
    session: FixSession, step: StepRecord, author, now, *, full_history: bool, flags: list, retracts: FixStep | None
) -> FixStep:
    category, category_reason = _category(step, from_jsonl=full_history)
    return FixStep(
        session=session,
        index=step.index,
        error_code=step.error_code,
        error=step.error,
        fix_info=step.fix_info,
        fixed_code=step.fixed_code,
        category=category,
        category_reason=category_reason,
        # JSONL says where each error came from ("" for steps logged before it did); T2J files never do.
        error_source=(step.error_source or "") if full_history else ErrorSource.IMPORTED,
        flags=flags,
        code_before=step.code_before,
        code_after=step.code_after,
        time_spent_s=step.time_spent_s,
        edit_size=step.edit_size,
        author=author,
        extra=step.extra,
        retracts=retracts,
        created_at=step.created_at or now,
    )


def step_flags(record: SessionRecord) -> dict[int, list[dict]]:
    """The hygiene flags of a record's steps by index: as a JSONL file states them, else computed against the
    earlier counted steps (retractions and retracted steps count nowhere)."""
    retracted = {step.retracts for step in record.steps if step.retracts is not None}
    counted = [step for step in record.steps if step.retracts is None and step.index not in retracted]
    if all(step.flags is not None for step in counted):
        return {step.index: step.flags for step in counted}
    texts = [hygiene.StepText(s.index, s.error, s.error_code, s.fix_info, s.fixed_code) for s in counted]
    computed = hygiene.session_flags(texts)
    return {step.index: step.flags if step.flags is not None else computed[step.index] for step in counted}


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


def _write_translation(record_plan: RecordPlan, sample: Sample, system: System) -> Translation:
    record = record_plan.record
    translation = record_plan.translation
    if translation is None:
        return Translation.objects.create(sample=sample, system=system, code=record.draft_code)
    if record_plan.translation_state == CONFLICT:
        translation.code = record.draft_code
        translation.save(update_fields=["code", "updated_at"])
    return translation


def _category(step: StepRecord, *, from_jsonl: bool) -> tuple[str, str]:
    """The step's category and why: as the file says, else suggested (with the suggestion's reason)."""
    if step.category is not None:
        return step.category, step.category_reason if step.category_reason is not None else ""
    if from_jsonl and step.retracts is not None:
        return "", step.category_reason or ""  # a retraction has no category
    suggestion = classify(step.error, step.error_code, step.fixed_code)
    return suggestion.category, f"suggested: {suggestion.reason}"


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
    flags = step_flags(record)

    def row(step: StepRecord, retracts: FixStep | None = None) -> FixStep:
        return _step_row(
            session, step, users.get(step.author), now,
            full_history=record.full_history, flags=flags.get(step.index, []), retracts=retracts,
        )  # fmt: skip

    # One INSERT for the steps that retract nothing; each retraction then points at a row that exists.
    created = FixStep.objects.bulk_create(row(step) for step in record.steps if step.retracts is None)
    by_index = {step.index: step for step in created}
    for step in record.steps:
        if step.retracts is not None:
            retraction = row(step, by_index.get(step.retracts))
            retraction.save()
            by_index[step.index] = retraction
    SessionEvent.objects.create(
        session=session, kind=SessionEventKind.IMPORTED, actor=actor,
        detail={"format": plan.format, "source": plan.source, "steps": len(record.steps)},
    )  # fmt: skip
