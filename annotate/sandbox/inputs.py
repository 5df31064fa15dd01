"""Checks on what a caller hands to the sandbox, done before anything is written into a box."""

from __future__ import annotations

import base64
from pathlib import PurePosixPath

KINDS = ("jax", "pytorch", "contract")
MAX_CODE_BYTES = 1024**2
MAX_FILES = 100
MAX_FILES_BYTES = 16 * 1024**2
MAX_NAME_CHARS = 200
RESERVED_NAMES = {"main.py"}


class InvalidRunInput(ValueError):
    """The request is malformed; nothing was run or stored."""


def check_code(code: object) -> str:
    if not isinstance(code, str):
        raise InvalidRunInput("code must be text")
    if len(code.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
        raise InvalidRunInput(f"code is larger than {MAX_CODE_BYTES} bytes")
    return code


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise InvalidRunInput(f"unknown run kind {kind!r}; expected one of {', '.join(KINDS)}")
    return str(kind)


def check_file_name(name: object) -> str:
    """A relative path made of plain components: no absolute paths, no '..', no '.', no NUL."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise InvalidRunInput(f"bad file name {name!r}")
    if "\x00" in name or "\\" in name or name.startswith("/"):
        raise InvalidRunInput(f"file name {name!r} must be a relative path without NUL or backslash")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidRunInput(f"file name {name!r} must not contain '..', '.' or empty parts")
    if str(PurePosixPath(name)) in RESERVED_NAMES:
        raise InvalidRunInput(f"file name {name!r} is reserved for the program itself")
    return name


def encode_files(files: dict[str, str | bytes] | None) -> dict[str, str]:
    """Validated {name: base64 content}; raises InvalidRunInput on the first bad entry."""
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise InvalidRunInput("files must be a mapping of name to content")
    if len(files) > MAX_FILES:
        raise InvalidRunInput(f"at most {MAX_FILES} files")
    encoded, total = {}, 0
    for name, content in files.items():
        check_file_name(name)
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes):
            raise InvalidRunInput(f"content of {name!r} must be text or bytes")
        total += len(content)
        if total > MAX_FILES_BYTES:
            raise InvalidRunInput(f"files are larger than {MAX_FILES_BYTES} bytes in total")
        encoded[name] = base64.b64encode(content).decode("ascii")
    # A file may not also be a folder of another (a and a/b).
    names = set(encoded)
    for name in names:
        for parent in PurePosixPath(name).parents:
            if str(parent) in names:
                raise InvalidRunInput(f"{str(parent)!r} is both a file and a folder")
    return encoded


def decode_files(encoded: object) -> dict[str, str]:
    """The same checks for files that arrive base64-encoded (runner HTTP API)."""
    if not isinstance(encoded, dict):
        raise InvalidRunInput("files must be a mapping of name to base64 content")
    try:
        raw = {name: base64.b64decode(value, validate=True) for name, value in encoded.items()}
    except (TypeError, ValueError) as exc:
        raise InvalidRunInput(f"files must be base64: {exc}") from exc
    return encode_files(raw)
