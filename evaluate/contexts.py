"""Data the evaluate pages show, built as dataclasses so each can be tested without a request."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from annotate.models import FixStep, SessionStatus, System


@dataclass
class SystemRow:
    name: str
    mode: str
    translations: int
    verified: int
    mean_fixcost: float | None


@dataclass
class DashboardContext:
    systems: list[SystemRow] = field(default_factory=list)

    @classmethod
    def from_database(cls) -> DashboardContext:
        systems = System.objects.annotate(
            n_translations=Count("translations", distinct=True),
            n_verified=Count(
                "translations__fix_sessions",
                filter=Q(translations__fix_sessions__status=SessionStatus.VERIFIED),
                distinct=True,
            ),
        )
        steps_by_system = dict(
            FixStep.objects.shared()
            .values_list("session__translation__system__name")
            .annotate(n=Count("pk"))
            .order_by()
        )
        rows = [
            SystemRow(
                name=system.name,
                mode=system.mode,
                translations=system.n_translations,
                verified=system.n_verified,
                mean_fixcost=(
                    round(steps_by_system.get(system.name, 0) / system.n_verified, 2) if system.n_verified else None
                ),
            )
            for system in systems
        ]
        return cls(systems=rows)
