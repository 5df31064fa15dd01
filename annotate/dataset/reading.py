"""From raw bytes to checked text and JSON: size cap, NUL bytes, UTF-8, JSON syntax, nesting depth."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from annotate.dataset.errors import DatasetError

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
KEY_MAX_LENGTH = 64
BOM = "\ufeff".encode()


def max_bytes() -> int:
    return settings.T2J_IMPORT_MAX_BYTES


def check_size(size: int, name: str) -> None:
    limit = max_bytes()
    if size > limit:
        raise DatasetError(f"{name} is {size:,} bytes, over the import limit of {limit:,} bytes (T2J_IMPORT_MAX_BYTES)")


def read_path(path: Path) -> bytes:
    """Read a file, refusing it before reading when it is over the size cap."""
    with _readable(path):
        check_size(path.stat().st_size, str(path))
        return path.read_bytes()


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turns the ways a file cannot be read into a DatasetError naming it."""
    try:
        yield
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read: {exc.strerror or exc}") from None


def check_readable(path: Path) -> None:
    with _readable(path):
        if path.is_dir():
            raise IsADirectoryError
        path.open("rb").close()


def iter_path_lines(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of a file, read one at a time (a file of any size, flat memory).

    The checks decode() makes of a whole file, made line by line with the same messages and byte offsets:
    no NUL bytes, valid UTF-8, a leading BOM dropped. The size cap applies to each line (one record), not
    to the file. Only "\\n" ends a line, as in parse_jsonl.
    """
    limit = max_bytes()
    offset = 0
    with _readable(path), path.open("rb") as file:
        for number in itertools.count(1):
            raw = file.readline(limit + 1)
            if not raw:
                return
            if len(raw) > limit and not (len(raw) == limit + 1 and raw.endswith(b"\n")):
                raise DatasetError(
                    f"{name} line {number} is over the import limit of {limit:,} bytes per record "
                    "(T2J_IMPORT_MAX_BYTES)"
                )
            yield number, _decode_line(raw, number, offset, name)
            offset += len(raw)


def _decode_line(raw: bytes, number: int, offset: int, name: str) -> str:
    if number == 1 and raw.startswith(BOM):
        raw, offset = raw[len(BOM) :], offset + len(BOM)
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DatasetError(f"{name} contains a NUL byte at byte offset {offset + nul}")
    try:
        return raw.decode("utf-8").removesuffix("\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name} is not valid UTF-8 (byte offset {offset + exc.start})") from None


def iter_text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line; only "\\n" ends one (str.splitlines() would split at U+2028 too)."""
    start = 0
    for number in itertools.count(1):
        end = text.find("\n", start)
        if end < 0:
            yield number, text[start:]
            return
        yield number, text[start:end]
        start = end + 1


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


class _NonFinite:
    """Stands in, while parsing, for a number JSON does not have: NaN, Infinity, or a float beyond ±1.8e308."""

    def __init__(self, token: str) -> None:
        self.token = token


def _first_non_finite(value: Any, place: str) -> str | None:
    """The place of the first _NonFinite inside a parsed value, with its token."""
    if isinstance(value, _NonFinite):
        return f"{place} is {value.token[:40]}"
    items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    for key, item in items:
        if found := _first_non_finite(item, f"{place}[{key}]" if isinstance(value, list) else f"{place}.{key}"):
            return found
    return None


def parse_json(text: str, place: str) -> Any:
    """json.loads with every failure turned into one message naming the place.

    NaN, Infinity and floats that overflow to infinity are refused, naming the first one's place: Python's
    json accepts them, but they are not JSON, and an export would write them back as invalid JSON.
    """
    non_finite: list[_NonFinite] = []

    def refuse(token: str) -> _NonFinite:
        non_finite.append(_NonFinite(token))
        return non_finite[-1]

    def finite_float(token: str) -> float | _NonFinite:
        value = float(token)
        return value if math.isfinite(value) else refuse(token)

    try:
        data = json.loads(text, parse_float=finite_float, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{place} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DatasetError(f"{place} is nested too deeply") from None
    except ValueError as exc:  # e.g. integers with more digits than Python converts (CVE-2020-10735)
        raise DatasetError(f"{place} is not valid JSON: {exc}") from None
    if non_finite:
        try:
            found = _first_non_finite(data, place)
        except RecursionError:
            found = None
        found = found or f"{place} holds {non_finite[0].token[:40]}"
        raise DatasetError(f"{found}: not a finite number (JSON has no NaN or Infinity; floats end at ±1.8e308)")
    return data


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
    return list(iter_jsonl(iter_text_lines(text), name))


def iter_jsonl(lines: Iterable[tuple[int, str]], name: str) -> Iterator[tuple[int, Any]]:
    """parse_jsonl over lines read one at a time: each value is parsed when its line is reached."""
    for number, line in lines:
        if line.strip():
            yield number, parse_json(line, f"{name} line {number}")
