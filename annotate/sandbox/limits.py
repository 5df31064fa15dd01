"""Resource limits of one run: settings are the ceiling, a caller may only tighten them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from django.conf import settings

# Not in settings yet: size of each private tmpfs (/box and /tmp) inside the box.


@dataclass(frozen=True)
class Limits:
    wall_s: float
    cpu_s: int
    address_space_bytes: int
    memory_bytes: int
    nproc: int
    file_size_bytes: int
    open_files: int
    output_bytes: int
    disk_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            wall_s=settings.T2J_RUN_WALL_S,
            cpu_s=settings.T2J_RUN_CPU_S,
            address_space_bytes=settings.T2J_RUN_ADDRESS_SPACE_BYTES,
            memory_bytes=settings.T2J_RUN_MEMORY_BYTES,
            nproc=settings.T2J_RUN_NPROC,
            file_size_bytes=settings.T2J_RUN_FILE_SIZE_BYTES,
            open_files=settings.T2J_RUN_OPEN_FILES,
            output_bytes=settings.T2J_RUN_OUTPUT_BYTES,
            disk_bytes=settings.T2J_RUN_DISK_BYTES,
        )

    @classmethod
    def resolve(cls, overrides: Limits | dict[str, Any] | None) -> Limits:
        """Settings tightened by `overrides`; unknown keys or non-positive values are an error."""
        base = cls.from_settings()
        if overrides is None:
            return base
        wanted = asdict(overrides) if isinstance(overrides, Limits) else dict(overrides)
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(wanted) - set(known)
        if unknown:
            raise ValueError(f"unknown sandbox limits: {', '.join(sorted(unknown))}")
        values = asdict(base)
        for name, value in wanted.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"sandbox limit {name} must be a positive number, got {value!r}")
            cast = float if name == "wall_s" else int
            values[name] = min(values[name], cast(value))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
