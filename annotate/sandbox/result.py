"""What one run produced, in the shape of the Run record (DESIGN.md "Core records")."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Lone surrogates (a Python str may hold them, UTF-8 may not) and NUL (PostgreSQL text may not).
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def clean_text(value: Any) -> str:
    """`value` as text that any database and page can hold: lone surrogates and NUL become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value if isinstance(value, str) else str(value))


def clean_tree(value: Any) -> Any:
    """clean_text applied to every string (keys too) of nested dicts and lists; other values as they are."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(key): clean_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_tree(item) for item in value]
    return value


@dataclass
class RunResult:
    status: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    exception_type: str = ""
    exception_message: str = ""
    traceback: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float | None = None
    peak_memory_bytes: int | None = None
    isolation: str = ""
    started_warm: bool = False
    # Stand-ins for downloads the program asked for: [{"what", "message", "dataset" | "model", ...}].
    standins: list[dict[str, Any]] = field(default_factory=list)
    # Plots it drew, checked and re-encoded by the host: [{"name": "001-show.png", "source", "png": base64}].
    plots: list[dict[str, Any]] = field(default_factory=list)
    # The limits it ran under (Limits.as_dict()).
    limits: dict[str, Any] = field(default_factory=dict)
    # Not stored on Run: how the run was served (runner address, cold fallback and why).
    note: str = ""
    # Measured inside the box around exec() of the program (bench only; not stored).
    inprocess_s: float | None = None
    # The stored Run's id: the sandbox stores nothing, annotate.runs sets it when it stores the result.
    run_id: int | None = None

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["truncated"] = self.truncated
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names}).cleaned()

    @classmethod
    def refused(cls, reason: str, isolation: str = "refused") -> RunResult:
        return cls(status="refused", stderr=reason, exception_message=reason, isolation=isolation)

    def cleaned(self) -> RunResult:
        """This result with every text storable (clean_text), in place; PNG payloads are checked elsewhere."""
        for name in ("status", "stdout", "stderr", "exception_type", "exception_message", "isolation", "note"):
            setattr(self, name, clean_text(getattr(self, name) or ""))
        self.traceback = clean_tree(self.traceback if isinstance(self.traceback, list) else [])
        self.standins = clean_tree(self.standins if isinstance(self.standins, list) else [])
        return self
