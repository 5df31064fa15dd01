"""Samples and drafts from any tool: folders of KEY.py files or JSONL, and drafts back out as KEY.py files.

Same collision rules as the dataset import: the same key with the same content is a no-op, different
content is an error naming the key and the field unless replace=True. All or nothing.

Samples may bring data files (annotate.sample_files): in a folder, the files under a folder KEY/ beside
KEY.py (names relative to it); in JSONL, a "files" object of {name: base64 content}.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import F

from annotate import contracts, sample_files, sample_metadata
from annotate.dataset.audit import audited
from annotate.dataset.errors import DatasetError, Problems
from annotate.dataset.reading import check_size, decode, key_problem, parse_jsonl, read_path, text_problem
from annotate.models import (
    Difficulty,
    FixSession,
    ImportKind,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    System,
    SystemMode,
    Translation,
)

SAMPLE_FIELDS = ("key", "pytorch_code", "title", "origin", "difficulty", "contract", "files")
TRANSLATION_FIELDS = ("sample", "code")
FIELD_LIMITS = {"title": 200, "origin": 100}


@dataclass
class Outcome:
    """What an import did (or would do), by key."""

    new: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "unchanged": len(self.unchanged), "replaced": len(self.replaced)}

    def summary(self, noun: str) -> str:
        return f"{noun}: {len(self.new)} new, {len(self.unchanged)} unchanged, {len(self.replaced)} replaced"


# --- reading sources --------------------------------------------------------------------------------------


def source_format(path: Path) -> str:
    return "folder" if path.is_dir() else "jsonl"


def read_source(path: Path, fields: tuple[str, ...], code_field: str) -> list[tuple[str, dict]]:
    """(place, record) pairs from a folder of KEY.py files or a JSONL file; records hold only `fields`."""
    if path.is_dir():
        return _read_folder(path, fields[0], code_field)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    name = path.name
    problems = Problems()
    records = []
    for number, obj in parse_jsonl(decode(read_path(path), name), name):
        place = f"line {number}"
        if not isinstance(obj, dict):
            problems.add(f"{place} must be an object")
            continue
        for key in obj:
            if key not in fields:
                problems.add(f"{place} has an unknown key {key!r} (allowed: {', '.join(fields)})")
        records.append((place, obj))
    problems.raise_if_any()
    if not records:
        raise DatasetError(f"{name} holds no records")
    return records


def _read_folder(folder: Path, key_field: str, code_field: str) -> list[tuple[str, dict]]:
    files = sorted(p for p in folder.iterdir() if p.suffix == ".py" and p.is_file() and not p.is_symlink())
    if not files:
        raise DatasetError(f"{folder} holds no KEY.py files")
    check_size(sum(p.stat().st_size for p in files), str(folder))
    problems = Problems()
    records = []
    for path in files:
        try:
            records.append((path.name, {key_field: path.stem, code_field: decode(path.read_bytes(), path.name)}))
        except DatasetError as exc:
            problems.extend(exc.problems)
    problems.raise_if_any()
    return records


def _check_fields(place: str, obj: dict, required: tuple[str, ...], problems: Problems) -> bool:
    ok = True
    for key in required:
        if key not in obj:
            problems.add(f"{place}.{key} is missing")
            ok = False
    for key, value in obj.items():
        if not isinstance(value, str):
            problems.add(f"{place}.{key} must be a string")
            ok = False
        elif problem := text_problem(value):
            problems.add(f"{place}.{key} {problem}")
            ok = False
        elif key in FIELD_LIMITS and len(value) > FIELD_LIMITS[key]:
            problems.add(f"{place}.{key} is longer than {FIELD_LIMITS[key]} characters")
            ok = False
    return ok


def _check_keys(records: list[tuple[str, dict]], key_field: str, problems: Problems) -> None:
    seen: dict[str, str] = {}
    for place, obj in records:
        key = obj.get(key_field)
        if not isinstance(key, str):
            continue
        if problem := key_problem(key):
            problems.add(f"{place}.{key_field} {key!r} {problem}")
        elif key in seen:
            problems.add(f"{place}.{key_field} {key!r} repeats {seen[key]}")
        seen.setdefault(key, place)


# --- samples ----------------------------------------------------------------------------------------------


def import_samples(path: Path, *, replace: bool = False, dry_run: bool = False, actor=None) -> Outcome:
    with audited(ImportKind.SAMPLES, path.name, actor=actor, dry_run=dry_run, fmt=source_format(path)) as attempt:
        outcome = _import_samples(path, replace=replace, dry_run=dry_run)
        attempt.summary = outcome.counts()
    return outcome


def _import_samples(path: Path, *, replace: bool, dry_run: bool) -> Outcome:
    records = read_source(path, SAMPLE_FIELDS, "pytorch_code")
    problems = Problems()
    files = _sample_files(path, records, problems)
    valid = [(place, obj) for place, obj in records if _check_fields(place, obj, ("key", "pytorch_code"), problems)]
    _check_keys(records, "key", problems)
    for place, obj in valid:
        if obj.get("difficulty", "") not in ("", *Difficulty.values):
            problems.add(f"{place}.difficulty {obj['difficulty']!r} is not one of easy, medium, hard")
    problems.raise_if_any()
    with transaction.atomic():
        existing = Sample.objects.in_bulk([obj["key"] for _, obj in valid], field_name="key")
        outcome, conflicts = Outcome(), []
        for place, obj in valid:
            sample = existing.get(obj["key"])
            changed = [name for name in obj if name != "key" and sample and getattr(sample, name) != obj[name]]
            if (
                sample is not None
                and obj["key"] in files
                and _digests(files[obj["key"]]) != sample_files.digests(sample)
            ):
                changed.append("files")
            if sample is None:
                outcome.new.append(obj["key"])
            elif not changed:
                outcome.unchanged.append(obj["key"])
            else:
                outcome.replaced.append(obj["key"])
                conflicts += [
                    f"{place}: sample {obj['key']!r}: {name} differs from the stored sample" for name in changed
                ]
        if conflicts and not replace:
            raise DatasetError(conflicts + ["nothing was imported; use --replace to overwrite"])
        if not dry_run:
            _write_samples(valid, existing, files)
    return outcome


def _sample_files(path: Path, records: list[tuple[str, dict]], problems: Problems) -> dict[str, dict[str, bytes]]:
    """{key: {name: content}} of the samples that bring files; each record's "files" is taken out of it."""
    found = {}
    for place, obj in records:
        key = obj.get("key")
        if "files" in obj:
            files = _decoded(place, obj.pop("files"), problems)
        elif path.is_dir() and isinstance(key, str) and (path / key).is_dir():
            files = _folder_files(path / key, f"{path.name}/{key}", problems)
        else:
            continue
        try:
            for name in files:
                sample_files.check_name(name)
            sample_files.check_set(files)
        except sample_files.SampleFileProblem as problem:
            problems.add(f"{place}.files: {problem}")
            continue
        found[key] = files
    return found


def _decoded(place: str, files: object, problems: Problems) -> dict[str, bytes]:
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        problems.add(f"{place}.files must be an object of file name to base64 content")
        return {}
    try:
        return {str(name): base64.b64decode(content, validate=True) for name, content in files.items()}
    except (ValueError, binascii.Error):
        problems.add(f"{place}.files holds content that is not base64")
        return {}


def _folder_files(folder: Path, place: str, problems: Problems) -> dict[str, bytes]:
    """Regular files under `folder` (no links followed), by their path relative to it."""
    files = {}
    for item in sorted(folder.rglob("*")):
        if item.is_symlink():
            problems.add(f"{place}/{item.relative_to(folder)} is a link; attach the file itself")
        elif item.is_file():
            files[item.relative_to(folder).as_posix()] = read_path(item)
    return files


def _digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: sample_files.sha256(content) for name, content in files.items()}


def _write_samples(
    valid: list[tuple[str, dict]], existing: dict[str, Sample], files: dict[str, dict[str, bytes]]
) -> None:
    for _, obj in valid:
        fields = {name: value for name, value in obj.items() if name != "key"}
        sample = existing.get(obj["key"])
        if sample is None and not fields.get("title"):
            # A KEY.py file has no title field: a new sample takes its docstring's first line, as a dataset import does.
            fields["title"] = sample_metadata.title_from_code(fields.get("pytorch_code", ""))
        if obj["key"] in files:
            if sample is None:
                sample = existing[obj["key"]] = Sample.objects.create(key=obj["key"], **fields)
            sample_files.replace_all(sample, files[obj["key"]])
        if sample is None:
            Sample.objects.create(key=obj["key"], **fields)
            continue
        changed = [name for name, value in fields.items() if getattr(sample, name) != value]
        if not changed:
            continue
        for name in changed:
            setattr(sample, name, fields[name])
        if "contract" in changed:
            sample.contract_version += 1
            changed.append("contract_version")
        sample.save(update_fields=[*changed, "updated_at"])
        if "contract" in changed:
            # A new contract invalidates verifications made under the old one: the same path as an admin's
            # edit in the contract editor (a STALE event per session).
            contracts.mark_stale(sample)


# --- translations -----------------------------------------------------------------------------------------


def import_translations(
    path: Path, *, system: str, replace: bool = False, dry_run: bool = False, actor=None
) -> Outcome:
    with audited(ImportKind.TRANSLATIONS, path.name, actor=actor, dry_run=dry_run, fmt=source_format(path)) as attempt:
        outcome = _import_translations(path, system=system, replace=replace, dry_run=dry_run)
        attempt.summary = {"system": system, **outcome.counts()}
    return outcome


def _import_translations(path: Path, *, system: str, replace: bool, dry_run: bool) -> Outcome:
    if problem := key_problem(system):
        raise DatasetError(f"system name {system!r} {problem}")
    records = read_source(path, TRANSLATION_FIELDS, "code")
    problems = Problems()
    valid = [(place, obj) for place, obj in records if _check_fields(place, obj, TRANSLATION_FIELDS, problems)]
    _check_keys(records, "sample", problems)
    samples = Sample.objects.in_bulk([obj["sample"] for _, obj in valid], field_name="key")
    for place, obj in valid:
        if obj["sample"] not in samples:
            problems.add(f"{place}: there is no sample {obj['sample']!r}; import the samples first")
    problems.raise_if_any()
    with transaction.atomic():
        stored = {
            t.sample.key: t
            for t in Translation.objects.filter(system__name=system, sample__key__in=samples).select_related("sample")
        }
        outcome, conflicts = Outcome(), []
        for place, obj in valid:
            translation = stored.get(obj["sample"])
            if translation is None:
                outcome.new.append(obj["sample"])
            elif translation.code == obj["code"]:
                outcome.unchanged.append(obj["sample"])
            else:
                outcome.replaced.append(obj["sample"])
                conflicts.append(
                    f"{place}: sample {obj['sample']!r}, system {system!r}: code differs from the stored draft"
                )
        if conflicts and not replace:
            raise DatasetError(conflicts + ["nothing was imported; use --replace to overwrite"])
        if not dry_run:
            _write_translations(valid, system, samples, stored)
    return outcome


def _write_translations(valid, system_name: str, samples: dict[str, Sample], stored: dict[str, Translation]) -> None:
    system = System.objects.get_or_create(name=system_name, defaults={"mode": SystemMode.IMPORTED})[0]
    for _, obj in valid:
        translation = stored.get(obj["sample"])
        if translation is None:
            Translation.objects.create(sample=samples[obj["sample"]], system=system, code=obj["code"])
        elif translation.code != obj["code"]:
            translation.code = obj["code"]
            translation.save(update_fields=["code", "updated_at"])
            # The live session was about the old draft: close it, with an audit event, rather than mix drafts.
            for session in translation.fix_sessions.exclude(status=SessionStatus.ABANDONED):
                session.status = SessionStatus.ABANDONED
                session.save(update_fields=["status"])
                SessionEvent.objects.create(
                    session=session, kind=SessionEventKind.ABANDONED, detail={"reason": "draft replaced by an import"}
                )


def export_translations(system: str, output: Path) -> list[Path]:
    """Write KEY.py per translation of `system`: the verified code where a session is verified, else the draft."""
    if not System.objects.filter(name=system).exists():
        raise DatasetError(f"there is no system named {system!r}")
    if output.exists() and not output.is_dir():
        raise DatasetError(f"{output} exists and is not a folder")
    translations = (
        Translation.objects.filter(system__name=system)
        .select_related("sample")
        .order_by(F("sample__import_position").asc(nulls_last=True), "sample__key")
    )
    verified = dict(
        FixSession.objects.verified()
        .filter(translation__system__name=system)
        .values_list("translation_id", "current_code")
    )
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for translation in translations:
        target = output / f"{translation.sample.key}.py"
        if target.is_symlink():
            target.unlink()  # write our file, never through a link planted in the folder
        target.write_text(verified.get(translation.pk, translation.code), encoding="utf-8")
        written.append(target)
    return written
