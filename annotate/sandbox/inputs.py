"""Checks on what a caller hands to the sandbox, done before anything is written into a box."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from annotate.sandbox.limits import Limits

KINDS = ("jax", "pytorch", "contract")
MAX_CODE_BYTES = 1024**2
MAX_FILES = 100
MAX_FILES_BYTES = 16 * 1024**2
# Read-only files (a sample's data files), on top of the above; the runner's request cap leaves room for them.
MAX_READONLY_BYTES = 256 * 1024**2
MAX_NAME_CHARS = 200
RESERVED_NAMES = {"main.py"}
MAX_STANDIN_EXAMPLES = 60000  # the largest real split the stand-ins imitate (MNIST train)
# A compile-cache key: an HMAC-SHA256 in hex that the web side derives (annotate.runs.cache_key), never a name.
CACHE_KEY = re.compile(r"[0-9a-f]{64}")


class InvalidRunInput(ValueError):
    """The request is malformed; nothing was run or stored."""


def check_code(code: object) -> str:
    if not isinstance(code, str):
        raise InvalidRunInput("code must be text")
    if any("\ud800" <= char <= "\udfff" for char in code):
        raise InvalidRunInput("code holds a lone surrogate, which is not valid Unicode text")
    if len(code.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
        raise InvalidRunInput(f"code is larger than {MAX_CODE_BYTES} bytes")
    return code


def check_cache_key(key: object) -> str:
    """An empty key (no compile cache) or an opaque one of 64 lowercase hex digits; a user name is refused."""
    if key == "":
        return ""
    if not isinstance(key, str) or not CACHE_KEY.fullmatch(key):
        raise InvalidRunInput(
            "cache_key must be empty or 64 lowercase hex digits (the opaque key annotate.runs derives), not a name"
        )
    return key


def check_cancel_key(key: object) -> str:
    """The key a run can be stopped by (annotate.sandbox.cancel): empty (none) or 64 lowercase hex digits."""
    if key == "":
        return ""
    if not isinstance(key, str) or not CACHE_KEY.fullmatch(key):
        raise InvalidRunInput(
            "cancel_key must be empty or 64 lowercase hex digits (an opaque key annotate.runs derives)"
        )
    return key


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


def encode_files(files: dict[str, str | bytes] | None, max_bytes: int = MAX_FILES_BYTES) -> dict[str, str]:
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
        if total > max_bytes:
            raise InvalidRunInput(f"files are larger than {max_bytes} bytes in total")
        encoded[name] = base64.b64encode(content).decode("ascii")
    check_layout(encoded)
    return encoded


def check_layout(*groups: dict[str, str]) -> None:
    """Names of all groups together: none twice, and none both a file and a folder (a and a/b)."""
    names: set[str] = set()
    for group in groups:
        repeated = names & set(group)
        if repeated:
            raise InvalidRunInput(f"{sorted(repeated)[0]!r} is given twice (as a file and a read-only file)")
        names |= set(group)
    for name in names:
        for parent in PurePosixPath(name).parents:
            if str(parent) in names:
                raise InvalidRunInput(f"{str(parent)!r} is both a file and a folder")


def decode_files(encoded: object, max_bytes: int = MAX_FILES_BYTES) -> dict[str, str]:
    """The same checks for files that arrive base64-encoded (runner HTTP API)."""
    if not isinstance(encoded, dict):
        raise InvalidRunInput("files must be a mapping of name to base64 content")
    try:
        raw = {name: base64.b64decode(value, validate=True) for name, value in encoded.items()}
    except (TypeError, ValueError) as exc:
        raise InvalidRunInput(f"files must be base64: {exc}") from exc
    return encode_files(raw, max_bytes)


def check_standins(counts: object) -> dict[str, int]:
    """Stand-in example counts of one run: {"train_examples": N, "test_examples": N}, either optional."""
    if counts is None:
        return {}
    if not isinstance(counts, dict) or set(counts) - {"train_examples", "test_examples"}:
        raise InvalidRunInput("standins must be a mapping with train_examples and/or test_examples")
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_STANDIN_EXAMPLES:
            raise InvalidRunInput(f"standins {name} must be a whole number from 1 to {MAX_STANDIN_EXAMPLES}")
    return dict(counts)


@dataclass(frozen=True)
class Job:
    """One validated run: what the host writes into a box. Files are base64-encoded and already checked."""

    code: str
    kind: str
    cache_key: str  # "" or opaque, see check_cache_key
    limits: Limits
    files: dict[str, str] = field(default_factory=dict)  # written into the working folder, writable
    readonly_files: dict[str, str] = field(default_factory=dict)  # a sample's data files, read-only there
    standins: dict[str, int] = field(default_factory=dict)  # stand-in example counts, see check_standins
    cancel_key: str = ""  # "" or opaque: who holds it may stop the run (annotate.sandbox.cancel)

    def as_payload(self) -> dict[str, Any]:
        """The runner API's request body (see annotate.sandbox.server)."""
        return {
            "code": self.code,
            "kind": self.kind,
            "cache_key": self.cache_key,
            "files": self.files,
            "readonly_files": self.readonly_files,
            "limits": self.limits.as_dict(),
            "standins": self.standins,
            "cancel_key": self.cancel_key,
        }


def make_job(
    code: object,
    kind: object,
    cache_key: object,
    *,
    files: dict[str, str] | None = None,
    readonly_files: dict[str, str] | None = None,
    limits: object = None,
    standins: object = None,
    cancel_key: object = "",
) -> Job:
    """A Job from already base64-encoded files; raises InvalidRunInput for anything malformed."""
    files, readonly_files = files or {}, readonly_files or {}
    for name in readonly_files:
        check_file_name(name)
    check_layout(files, readonly_files)
    try:
        resolved = Limits.resolve(limits)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidRunInput(str(exc)) from exc
    return Job(
        code=check_code(code),
        kind=check_kind(kind),
        cache_key=check_cache_key(cache_key),
        limits=resolved,
        files=files,
        readonly_files=readonly_files,
        standins=check_standins(standins),
        cancel_key=check_cancel_key(cancel_key),
    )


def job_from_payload(payload: object) -> Job:
    """A Job from the runner API's JSON request; raises InvalidRunInput."""
    if not isinstance(payload, dict):
        raise InvalidRunInput("the request must be a JSON object")
    if "user_key" in payload:  # a web side from before opaque keys: it would name caches by user names
        raise InvalidRunInput("user_key is no longer accepted: send cache_key, the opaque key annotate.runs derives")
    return make_job(
        payload.get("code"),
        payload.get("kind", "jax"),
        payload.get("cache_key", ""),
        files=decode_files(payload.get("files") or {}),
        readonly_files=decode_files(payload.get("readonly_files") or {}, MAX_READONLY_BYTES),
        limits=payload.get("limits"),
        standins=payload.get("standins") or None,
        cancel_key=payload.get("cancel_key", ""),
    )
