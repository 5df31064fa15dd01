"""Batch runs of a system: every translation's JAX code (or its samples' PyTorch programs) through the sandbox.

Used by `manage.py run_translations` and the system page's background job (annotate.tasks). Programs go
through annotate.runs.run_many, so through the runner's warm pools, T2J_BATCH_CONCURRENCY at a time; each
Run is linked to its translation. The system page reads `summary()`: the latest batch run of each
translation, counted by status, and the most common exceptions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from annotate import runs, sandbox
from annotate.models import Run, RunKind, System, Translation

JOB_KIND = "batch-run"
KINDS = (RunKind.JAX.value, RunKind.PYTORCH.value)
TOP_EXCEPTIONS = 5


class BatchProblem(ValueError):
    """The batch cannot be planned (unknown system, sample or kind); nothing ran."""


def user_key(system: System) -> str:
    """Whose compilation cache a system's batch runs share (one per system, never a person's)."""
    return f"batch:{system.name}"


def plan(system_name: str, sample_keys: list[str] | tuple[str, ...] = (), kind: str = RunKind.JAX) -> list[Translation]:
    """The translations of the system to run (all, or those of `sample_keys`), in sample order.

    For kind jax, translations without code (failed drafts) are left out. Raises BatchProblem.
    """
    if kind not in KINDS:
        raise BatchProblem(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    system = System.objects.filter(name=system_name).first()
    if system is None:
        raise BatchProblem(f"there is no system named {system_name!r}")
    translations = Translation.objects.filter(system=system).select_related("sample", "system")
    if sample_keys:
        translations = translations.filter(sample__key__in=sample_keys)
        missing = sorted(set(sample_keys) - set(translations.values_list("sample__key", flat=True)))
        if missing:
            raise BatchProblem(f"system {system_name!r} has no translation of sample(s) {', '.join(missing)}")
    chosen = list(translations.order_by("sample__import_position", "sample__key"))
    return [t for t in chosen if kind == RunKind.PYTORCH or t.code.strip()]


def code_of(translation: Translation, kind: str) -> str:
    return translation.code if kind == RunKind.JAX else translation.sample.pytorch_code


def run_all(
    translations: list[Translation],
    kind: str,
    *,
    concurrency: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[Translation, sandbox.RunResult]]:
    """Run each translation's program (see code_of) and store its Run; yields (translation, result) as they end."""
    requests = (
        runs.RunRequest(code_of(t, kind), kind, user_key(t.system), translation=t, sample=t.sample)
        for t in translations
    )
    for request, result in runs.run_many(
        requests, concurrency=concurrency or settings.T2J_BATCH_CONCURRENCY, should_stop=should_stop
    ):
        yield request.translation, result


@dataclass
class KindSummary:
    """The latest batch run of each of a system's translations, for one kind."""

    kind: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    top_exceptions: list[tuple[str, int]] = field(default_factory=list)
    standin_runs: int = 0


def summary(system: System) -> list[KindSummary]:
    """Per kind that has batch runs: counts by status and the most common exceptions ('Type: first line')."""
    found = []
    for kind in KINDS:
        latest: dict[int, Run] = {}
        fields = ("translation_id", "status", "exception_type", "exception_message", "standins")
        for run in (
            Run.objects.filter(translation__system=system, kind=kind).only(*fields).order_by("-created_at", "-pk")
        ):
            latest.setdefault(run.translation_id, run)
        if not latest:
            continue
        statuses = Counter(run.status for run in latest.values())
        exceptions = Counter(run.exception_line for run in latest.values() if run.exception_type)
        found.append(
            KindSummary(
                kind=kind,
                total=len(latest),
                counts=dict(statuses.most_common()),
                top_exceptions=exceptions.most_common(TOP_EXCEPTIONS),
                standin_runs=sum(1 for run in latest.values() if run.standins),
            )
        )
    return found
