"""The two interchange formats, validated into one shape: a list of SessionRecord (one verified fix session each).

T2J JSON (the paper's format): {"Pytorch_to_JAX_Examples": [{"Example_id", "Input_Code", "LLM_weak_output",
"LLM_fix_output", "Errors": [{"Error_Code", "Error", "Fix_info", "Fixed_Code"}, ...]}, ...]}.
Unknown keys of an example go to FixSession.extra, unknown keys of an error to FixStep.extra, verbatim. When the
keys of an object are not in the standard order (known keys first, then the unknown ones as they came), the
full original order is kept under KEY_ORDER inside that extra, so that export rebuilds the object byte for byte
(the paper's m6 has `Error_Context` between `Error` and `Fix_info`). KEY_ORDER is reserved in input files.

JSONL (ours): one fix session per line with its steps, timing and authors; see JSONL_FIELDS / JSONL_STEP_FIELDS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotate.dataset.errors import DatasetError, Problems
from annotate.dataset.reading import (
    check_readable,
    decode,
    iter_jsonl,
    iter_path_lines,
    iter_text_lines,
    key_problem,
    parse_json,
    read_path,
    text_problem,
    value_problem,
)
from annotate.models import ErrorSource, SessionStatus, StepCategory, StepFlag

TOP_KEY = "Pytorch_to_JAX_Examples"
EXAMPLE_KEYS = ("Example_id", "Input_Code", "LLM_weak_output", "LLM_fix_output", "Errors")
STEP_KEYS = ("Error_Code", "Error", "Fix_info", "Fixed_Code")
KEY_ORDER = "_key_order"

JSONL_FIELDS = (
    "sample", "system", "pytorch_code", "draft_code", "owner", "status", "claimed_at", "verified_at",
    "verification", "final_code", "steps", "extra",
)  # fmt: skip
JSONL_REQUIRED = ("sample", "system", "pytorch_code", "draft_code", "final_code", "steps")
JSONL_STEP_FIELDS = (
    "index", "error_code", "error", "fix_info", "fixed_code", "category", "category_reason", "error_source", "flags",
    "code_before", "code_after", "author", "created_at", "time_spent_s", "edit_size", "run_id", "retracts", "extra",
)  # fmt: skip
JSONL_STEP_REQUIRED = ("error_code", "error", "fix_info", "fixed_code")
# Ranges of the numbers a record holds, checked at preview so that confirming never overflows a column: step
# indexes and edit sizes are PostgreSQL `integer` columns (SQLite is wider; a file must import into either),
# run ids `bigint`; a step taking more than a year is a unit mix-up.
MAX_INT = 2**31 - 1
MAX_BIG_INT = 2**63 - 1
MAX_TIME_SPENT_S = 365 * 24 * 3600


@dataclass
class StepRecord:
    index: int
    error_code: str
    error: str
    fix_info: str
    fixed_code: str
    extra: dict = field(default_factory=dict)
    category: str | None = None  # None: suggested by annotate.taxonomy on import
    # Absent from T2J files: imported as ErrorSource.IMPORTED, the suggestion's reason and computed flags.
    category_reason: str | None = None
    error_source: str | None = None
    flags: list[dict] | None = None
    code_before: str = ""
    code_after: str = ""
    author: str | None = None
    created_at: dt.datetime | None = None
    time_spent_s: float | None = None
    edit_size: int | None = None
    run_id: int | None = None
    retracts: int | None = None  # the index of the step this one retracts

    def content(self, *, full: bool) -> tuple:
        """What makes two steps the same step for collision checks (timing and authorship do not)."""
        base = (self.error_code, self.error, self.fix_info, self.fixed_code, self.extra)
        return (self.index, *base, self.retracts) if full else base


@dataclass
class SessionRecord:
    place: str
    sample_key: str
    pytorch_code: str
    system: str
    draft_code: str
    final_code: str
    steps: list[StepRecord]
    extra: dict = field(default_factory=dict)
    # JSONL records carry their whole history (retractions included); T2J records only the counted steps.
    full_history: bool = False
    owner: str | None = None
    claimed_at: dt.datetime | None = None
    verified_at: dt.datetime | None = None
    verification: dict | None = None

    def step_contents(self) -> list[tuple]:
        return [step.content(full=self.full_history) for step in self.steps]


@dataclass
class ParsedDataset:
    """A file's records. JSONL records are validated as they are read: iterating raises DatasetError, after
    the last valid record, when any record had a problem (so an import inside a transaction rolls back)."""

    format: str  # "t2j" or "jsonl"
    records: Iterable[SessionRecord]


def split_extra(obj: dict, known: tuple[str, ...]) -> dict:
    """Unknown keys in order, plus KEY_ORDER when the object's key order is not the standard one."""
    extra = {key: value for key, value in obj.items() if key not in known}
    standard = [key for key in known if key in obj] + list(extra)
    if list(obj) != standard:
        extra[KEY_ORDER] = list(obj)
    return extra


def join_extra(known: dict, extra: dict) -> dict:
    """The inverse of split_extra: known and unknown keys in the original order."""
    unknown = {key: value for key, value in extra.items() if key != KEY_ORDER}
    merged = {**known, **unknown}
    order = [key for key in extra.get(KEY_ORDER, []) if key in merged]
    order += [key for key in merged if key not in order]
    return {key: merged[key] for key in order}


def parse_dataset(text: str, name: str, *, system: str | None = None, fmt: str = "auto") -> ParsedDataset:
    """Validate a whole T2J or JSONL file; raise DatasetError listing every problem with its place."""
    if fmt not in ("auto", "t2j", "jsonl"):
        raise DatasetError(f"unknown format {fmt!r}: use t2j or jsonl")
    data = None
    if fmt == "auto":
        fmt, data = _detect_format(text, name)
    if fmt == "t2j":
        if data is None:
            data = parse_json(text, name)
        return ParsedDataset("t2j", _t2j_records(data, system or "weak-llm"))
    return _jsonl_dataset(iter_text_lines(text), name, system)


def parse_dataset_file(path: Path, name: str, *, system: str | None = None, fmt: str = "auto") -> ParsedDataset:
    """parse_dataset for a file: JSONL is read a line at a time (any size; the size cap applies to each
    record), a T2J document whole (the size cap applies to the file)."""
    if fmt not in ("auto", "t2j", "jsonl"):
        raise DatasetError(f"unknown format {fmt!r}: use t2j or jsonl")
    check_readable(path)
    if fmt == "auto":
        fmt = _detect_file_format(path, name)
    if fmt == "t2j":
        return parse_dataset(decode(read_path(path), name), name, system=system, fmt="t2j")
    return _jsonl_dataset(iter_path_lines(path, name), name, system)


def _jsonl_dataset(lines: Iterable[tuple[int, str]], name: str, system: str | None) -> ParsedDataset:
    if system:
        raise DatasetError("a system name applies to T2J files only: JSONL records name their own system")
    return ParsedDataset("jsonl", _jsonl_records(iter_jsonl(lines, name)))


def _detect_file_format(path: Path, name: str) -> str:
    """_detect_format's answer read from a file's first two non-blank lines, without reading it whole."""
    lines = (line for _, line in iter_path_lines(path, name) if line.strip())
    first, second = next(lines, None), next(lines, None)
    lines.close()
    if first is None:
        raise DatasetError(f"{name} is empty")
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        return "t2j"  # a document over several lines; parsing it whole says what is wrong, if anything
    if not isinstance(value, dict) or TOP_KEY in value:
        return "t2j"
    # Several records: JSONL. One line only: the whole text is one document, told apart as _detect_format does.
    return "jsonl" if second is not None or "sample" in value else "t2j"


def _detect_format(text: str, name: str) -> tuple[str, Any]:
    """("t2j", the parsed document) for one JSON document, ("jsonl", None) for one object per line.

    A one-line JSONL file is also one JSON document: it is told apart by holding a session, not the examples.
    """
    if not text.strip():
        raise DatasetError(f"{name} is empty")
    try:
        data = parse_json(text, name)
    except DatasetError:
        first_line = next(line for line in text.split("\n") if line.strip())
        try:
            first = json.loads(first_line)
        except (ValueError, RecursionError):
            first = None
        if isinstance(first, dict) and TOP_KEY not in first:
            return "jsonl", None
        raise
    if isinstance(data, dict) and TOP_KEY not in data and "sample" in data:
        return "jsonl", None
    return "t2j", data


# --- T2J -----------------------------------------------------------------------------------------------


def _t2j_records(data: Any, system: str) -> list[SessionRecord]:
    if not isinstance(data, dict) or TOP_KEY not in data:
        raise DatasetError(f'the top level must be an object with a "{TOP_KEY}" list')
    examples = data[TOP_KEY]
    if not isinstance(examples, list):
        raise DatasetError(f"{TOP_KEY} must be a list, not {_type_name(examples)}")
    problems = Problems()
    if problem := key_problem(system):
        problems.add(f"system name {system!r} {problem}")
    if extra_top := [key for key in data if key != TOP_KEY]:
        problems.add(f"unknown top-level keys {extra_top}: only {TOP_KEY} is allowed")
    records, seen = [], {}
    for i, example in enumerate(examples):
        place = f"{TOP_KEY}[{i}]"
        record = _t2j_example(example, place, system, problems)
        if record is None:
            continue
        if record.sample_key in seen:
            problems.add(f"{place}.Example_id {record.sample_key!r} repeats {seen[record.sample_key]}")
        seen.setdefault(record.sample_key, place)
        records.append(record)
    problems.raise_if_any()
    return records


def _t2j_example(example: Any, place: str, system: str, problems: Problems) -> SessionRecord | None:
    if not isinstance(example, dict):
        problems.add(f"{place} must be an object, not {_type_name(example)}")
        return None
    if KEY_ORDER in example:
        problems.add(f"{place}.{KEY_ORDER} is a reserved key")
    ok = all([_check_str(example, key, place, problems) for key in EXAMPLE_KEYS[:4]])
    errors = example.get("Errors")
    if "Errors" not in example:
        problems.add(f"{place}.Errors is missing")
        ok = False
    elif not isinstance(errors, list):
        problems.add(f"{place}.Errors must be a list, not {_type_name(errors)}")
        ok = False
    if ok and (problem := key_problem(example["Example_id"])):
        problems.add(f"{place}.Example_id {example['Example_id']!r} {problem}")
        ok = False
    extra = split_extra(example, EXAMPLE_KEYS)
    if problem := value_problem(extra, place):
        problems.add(problem)
    steps = [_t2j_step(error, f"{place}.Errors[{j}]", j + 1, problems) for j, error in enumerate(errors or [])]
    if not ok or None in steps:
        return None
    return SessionRecord(
        place=place,
        sample_key=example["Example_id"],
        pytorch_code=example["Input_Code"],
        system=system,
        draft_code=example["LLM_weak_output"],
        final_code=example["LLM_fix_output"],
        steps=steps,
        extra=extra,
    )


def _t2j_step(error: Any, place: str, index: int, problems: Problems) -> StepRecord | None:
    if not isinstance(error, dict):
        problems.add(f"{place} must be an object, not {_type_name(error)}")
        return None
    if KEY_ORDER in error:
        problems.add(f"{place}.{KEY_ORDER} is a reserved key")
    ok = all([_check_str(error, key, place, problems) for key in STEP_KEYS])
    extra = split_extra(error, STEP_KEYS)
    if problem := value_problem(extra, place):
        problems.add(problem)
        ok = False
    if not ok:
        return None
    return StepRecord(
        index=index,
        error_code=error["Error_Code"],
        error=error["Error"],
        fix_info=error["Fix_info"],
        fixed_code=error["Fixed_Code"],
        extra=extra,
    )


# --- JSONL ---------------------------------------------------------------------------------------------


def _jsonl_records(lines: Iterable[tuple[int, Any]]) -> Iterator[SessionRecord]:
    """Valid records as their lines are read; at the end, DatasetError listing every problem of the file.

    What is remembered across records stays small at any size: the (sample, system) pairs and a digest of
    each sample's PyTorch code, not the records.
    """
    problems = Problems()
    seen: dict[tuple[str, str], str] = {}
    codes: dict[str, tuple[bytes, str]] = {}
    empty = True
    for number, obj in lines:
        empty = False
        place = f"line {number}"
        record = _jsonl_record(obj, place, problems)
        if record is None:
            continue
        pair = (record.sample_key, record.system)
        if pair in seen:
            problems.add(f"{place}: sample {pair[0]!r} by system {pair[1]!r} repeats {seen[pair]}")
        seen.setdefault(pair, place)
        digest = hashlib.sha256(record.pytorch_code.encode()).digest()
        first_code = codes.setdefault(record.sample_key, (digest, place))
        if first_code[0] != digest:
            problems.add(f"{place}.pytorch_code of sample {record.sample_key!r} differs from {first_code[1]}")
        if not problems:
            yield record  # once a problem is known nothing will be written: the rest is only checked
    if empty:
        raise DatasetError("the JSONL file holds no records")
    problems.raise_if_any()


def _jsonl_record(obj: Any, place: str, problems: Problems) -> SessionRecord | None:
    if not isinstance(obj, dict):
        problems.add(f"{place} must be an object, not {_type_name(obj)}")
        return None
    before = problems.count
    for key in obj:
        if key not in JSONL_FIELDS:
            problems.add(f"{place} has an unknown key {key!r}")
    for key in JSONL_REQUIRED[:-1]:
        _check_str(obj, key, place, problems)
    for key in ("sample", "system"):
        if isinstance(obj.get(key), str) and (problem := key_problem(obj[key])):
            problems.add(f"{place}.{key} {obj[key]!r} {problem}")
    status = obj.get("status")
    if status not in (None, SessionStatus.VERIFIED):
        problems.add(f"{place}.status is {status!r}: only verified sessions can be imported")
    owner = _optional(obj, "owner", str, place, problems)
    verification = _optional(obj, "verification", dict, place, problems)
    extra = _optional(obj, "extra", dict, place, problems) or {}
    if problem := value_problem(extra, f"{place}.extra") or value_problem(verification, f"{place}.verification"):
        problems.add(problem)
    claimed_at = _optional_datetime(obj, "claimed_at", place, problems)
    verified_at = _optional_datetime(obj, "verified_at", place, problems)
    steps = _jsonl_steps(obj, place, problems)
    if problems.count > before:
        return None
    return SessionRecord(
        place=place,
        sample_key=obj["sample"],
        pytorch_code=obj["pytorch_code"],
        system=obj["system"],
        draft_code=obj["draft_code"],
        final_code=obj["final_code"],
        steps=steps,
        extra=extra,
        full_history=True,
        owner=owner,
        claimed_at=claimed_at,
        verified_at=verified_at,
        verification=verification,
    )


def _jsonl_steps(obj: dict, place: str, problems: Problems) -> list[StepRecord]:
    steps_value = obj.get("steps")
    if "steps" not in obj:
        problems.add(f"{place}.steps is missing")
        return []
    if not isinstance(steps_value, list):
        problems.add(f"{place}.steps must be a list, not {_type_name(steps_value)}")
        return []
    steps: list[StepRecord] = []
    for j, step in enumerate(steps_value):
        record = _jsonl_step(step, f"{place}.steps[{j}]", j + 1, problems)
        if record is None:
            continue
        if any(earlier.index == record.index for earlier in steps):
            problems.add(f"{place}.steps[{j}].index {record.index} repeats an earlier step's index")
        elif record.retracts is not None and not any(earlier.index == record.retracts for earlier in steps):
            problems.add(f"{place}.steps[{j}].retracts {record.retracts} names no earlier step")
        steps.append(record)
    retracted = [step.retracts for step in steps if step.retracts is not None]
    if len(retracted) != len(set(retracted)):
        problems.add(f"{place}.steps retract the same step twice")
    return steps


def _jsonl_step(step: Any, place: str, default_index: int, problems: Problems) -> StepRecord | None:
    if not isinstance(step, dict):
        problems.add(f"{place} must be an object, not {_type_name(step)}")
        return None
    before = problems.count
    for key in step:
        if key not in JSONL_STEP_FIELDS:
            problems.add(f"{place} has an unknown key {key!r}")
    for key in JSONL_STEP_REQUIRED:
        _check_str(step, key, place, problems)
    index = _optional_number(step, "index", int, (1, MAX_INT), place, problems)
    category = _optional(step, "category", str, place, problems)
    if category and category not in StepCategory.values:
        problems.add(f"{place}.category {category!r} is not one of {', '.join(StepCategory.values)}")
    category_reason = _optional(step, "category_reason", str, place, problems)
    error_source = _optional(step, "error_source", str, place, problems)
    if error_source and error_source not in ErrorSource.values:
        problems.add(f"{place}.error_source {error_source!r} is not one of {', '.join(ErrorSource.values)}")
    flags = _flags(step, place, problems)
    code_before = _optional(step, "code_before", str, place, problems) or ""
    code_after = _optional(step, "code_after", str, place, problems) or ""
    author = _optional(step, "author", str, place, problems)
    time_spent = _optional_number(step, "time_spent_s", (int, float), (0, MAX_TIME_SPENT_S), place, problems)
    edit_size = _optional_number(step, "edit_size", int, (0, MAX_INT), place, problems)
    run_id = _optional_number(step, "run_id", int, (1, MAX_BIG_INT), place, problems)
    retracts = _optional_number(step, "retracts", int, (1, MAX_INT), place, problems)
    extra = _optional(step, "extra", dict, place, problems) or {}
    if problem := value_problem(extra, f"{place}.extra"):
        problems.add(problem)
    created_at = _optional_datetime(step, "created_at", place, problems)
    if problems.count > before:
        return None
    return StepRecord(
        index=index or default_index,
        error_code=step["error_code"],
        error=step["error"],
        fix_info=step["fix_info"],
        fixed_code=step["fixed_code"],
        extra=extra,
        category=category if category is not None else None,
        category_reason=category_reason,
        error_source=error_source,
        flags=flags,
        code_before=code_before,
        code_after=code_after,
        author=author,
        created_at=created_at,
        time_spent_s=float(time_spent) if time_spent is not None else None,
        edit_size=edit_size,
        run_id=run_id,
        retracts=retracts,
    )


def _flags(step: dict, place: str, problems: Problems) -> list[dict] | None:
    """Hygiene flags as exported: a list of {"kind": a StepFlag value, "of": an earlier step's index}, or absent."""
    value = step.get("flags")
    if value is None:
        return None
    shape = f"{place}.flags must be a list of {{\"kind\": {' | '.join(StepFlag.values)}, \"of\": step index}}"
    if not isinstance(value, list):
        problems.add(shape)
        return None
    for flag in value:
        of = flag.get("of") if isinstance(flag, dict) else None
        if (
            not isinstance(flag, dict)
            or set(flag) != {"kind", "of"}
            or flag["kind"] not in StepFlag.values
            or isinstance(of, bool)
            or not isinstance(of, int)
            or not 1 <= of <= MAX_INT
        ):
            problems.add(shape)
            return None
    return value


# --- small checks ----------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _check_str(obj: dict, key: str, place: str, problems: Problems) -> bool:
    if key not in obj:
        problems.add(f"{place}.{key} is missing")
        return False
    value = obj[key]
    if not isinstance(value, str):
        problems.add(f"{place}.{key} must be a string, not {_type_name(value)}")
        return False
    if problem := text_problem(value):
        problems.add(f"{place}.{key} {problem}")
        return False
    return True


def _optional(obj: dict, key: str, kind, place: str, problems: Problems) -> Any:
    """A value that may be absent or null; bools are not numbers here."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = {str: "a string", int: "an integer", dict: "an object"}.get(kind, "a number")
        problems.add(f"{place}.{key} must be {expected} or null, not {_type_name(value)}")
        return None
    if isinstance(value, str) and (problem := text_problem(value)):
        problems.add(f"{place}.{key} {problem}")
        return None
    return value


def _optional_number(
    obj: dict, key: str, kind, bounds: tuple[float, float], place: str, problems: Problems
) -> int | float | None:
    """An optional number of the right type within `bounds` (inclusive), checked before anything is written."""
    value = _optional(obj, key, kind, place, problems)
    low, high = bounds
    if value is not None and not low <= value <= high:
        shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:20]}… ({len(str(value))} digits)"
        problems.add(f"{place}.{key} is {shown}: it must be between {low:,} and {high:,}")
        return None
    return value


def _optional_datetime(obj: dict, key: str, place: str, problems: Problems) -> dt.datetime | None:
    value = _optional(obj, key, str, place, problems)
    if value is None:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        problems.add(f"{place}.{key} {value[:40]!r} is not an ISO 8601 date and time")
        return None
    if timezone.is_naive(parsed):
        return timezone.make_aware(parsed, dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)  # stored in UTC: years 1 and 9999 in other zones overflow it
    except OverflowError:
        problems.add(f"{place}.{key} {value[:40]!r} is out of range in UTC")
        return None
