"""From raw bytes to checked text and JSON: size cap, NUL bytes, UTF-8, JSON syntax, nesting depth."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings

from annotate.dataset.errors import DatasetError

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
KEY_MAX_LENGTH = 64


def max_bytes() -> int:
    return settings.T2J_IMPORT_MAX_BYTES


def check_size(size: int, name: str) -> None:
    limit = max_bytes()
    if size > limit:
        raise DatasetError(f"{name} is {size:,} bytes, over the import limit of {limit:,} bytes (T2J_IMPORT_MAX_BYTES)")


def read_path(path: Path) -> bytes:
    """Read a file, refusing it before reading when it is over the size cap."""
    try:
        check_size(path.stat().st_size, str(path))
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read: {exc.strerror or exc}") from None


def decode(data: bytes, name: str) -> str:
    """Bytes to text: the size cap, no NUL bytes, valid UTF-8 (a leading BOM is dropped)."""
    check_size(len(data), name)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DatasetError(f"{name} contains a NUL byte at byte offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name} is not valid UTF-8 (byte offset {exc.start})") from None
    return text.removeprefix("\ufeff")


def parse_json(text: str, place: str) -> Any:
    """json.loads with every failure turned into one message naming the place."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{place} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DatasetError(f"{place} is nested too deeply") from None
    except ValueError as exc:  # e.g. integers with more digits than Python converts (CVE-2020-10735)
        raise DatasetError(f"{place} is not valid JSON: {exc}") from None


def text_problem(value: str) -> str | None:
    """What makes a string unstorable: NUL characters (PostgreSQL refuses them) or lone surrogates."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def value_problem(value: Any, place: str) -> str | None:
    """The first unstorable string anywhere inside a JSON value (unknown keys are kept verbatim)."""
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{place} {problem}" if problem else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := value_problem(item, f"{place}[{i}]"):
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            if found := value_problem(key, f"{place} key {key[:40]!r}") or value_problem(item, f"{place}.{key}"):
                return found
    return None


def key_problem(key: str) -> str | None:
    if not key:
        return "is empty"
    if len(key) > KEY_MAX_LENGTH:
        return f"is longer than {KEY_MAX_LENGTH} characters"
    if not SLUG_RE.match(key):
        return "may only hold letters, digits, '-' and '_'"
    return None


def parse_jsonl(text: str, name: str) -> list[tuple[int, Any]]:
    """(line number, value) for every non-blank line; blank lines are allowed between records."""
    records = []
    # Only "\n" ends a record: str.splitlines() would also split inside strings at U+2028 and friends.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            records.append((number, parse_json(line, f"{name} line {number}")))
    return records
