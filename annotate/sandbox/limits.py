"""Resource limits of one run: settings are the default and the ceiling.

A caller may tighten any limit, and may raise the time limits (wall and CPU) up to the operator's maxima
(T2J_RUN_MAX_WALL_S, T2J_RUN_MAX_CPU_S): a sample that trains for minutes gets its own time limits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from django.conf import settings

# The limits a caller may raise above the default, each up to its operator maximum (a settings name).
RAISABLE = {"wall_s": "T2J_RUN_MAX_WALL_S", "cpu_s": "T2J_RUN_MAX_CPU_S"}


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
    def ceiling(cls) -> Limits:
        """The most any run may get: the defaults with the time limits at the operator maxima (warm boxes
        start under these; each job then lowers its own)."""
        base = cls.from_settings()
        return replace(base, **{name: max(getattr(base, name), _maximum(name)) for name in RAISABLE})

    @classmethod
    def resolve(cls, overrides: Limits | dict[str, Any] | None) -> Limits:
        """The defaults with `overrides` applied: any limit lowered, wall_s and cpu_s raised up to their maxima.

        Raises ValueError for unknown keys or non-positive values.
        """
        base = cls.from_settings()
        if overrides is None:
            return base
        wanted = asdict(overrides) if isinstance(overrides, Limits) else dict(overrides)
        unknown = set(wanted) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown sandbox limits: {', '.join(sorted(unknown))}")
        values = asdict(base)
        for name, value in wanted.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"sandbox limit {name} must be a positive number, got {value!r}")
            cast = float if name == "wall_s" else int
            ceiling = max(values[name], _maximum(name)) if name in RAISABLE else values[name]
            values[name] = min(ceiling, cast(value))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _maximum(name: str) -> float:
    return getattr(settings, RAISABLE[name])
