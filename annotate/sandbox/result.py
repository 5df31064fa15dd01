"""What one run produced, in the shape of the Run record (DESIGN.md "Core records")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


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
        return cls(**{key: value for key, value in data.items() if key in names})

    @classmethod
    def refused(cls, reason: str, isolation: str = "refused") -> RunResult:
        return cls(status="refused", stderr=reason, exception_message=reason, isolation=isolation)
