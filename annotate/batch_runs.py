"""Batch runs of a system: every translation's JAX code (or its samples' PyTorch programs) through the sandbox.

Used by `manage.py run_translations` and the system page's background job (annotate.tasks). Programs go
through annotate.runs.run_many, so through the runner's warm pools, T2J_BATCH_CONCURRENCY at a time; each
Run is linked to its translation. The system page reads `summary()`: the latest batch run of each
translation, counted by status, and the most common exceptions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from annotate import runs, sandbox
from annotate.models import Run, RunKind, System, Translation, exception_line

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
    """Per kind that has batch runs: counts by status and the most common exceptions ('Type: first line').

    One query whatever the number of runs: it returns grouped rows (see _groups), newest first, so that
    counting them in that order breaks ties as counting the latest runs newest first would.
    """
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    exceptions: dict[str, Counter[str]] = defaultdict(Counter)
    standin_runs: Counter[str] = Counter()
    for kind, status, exception_type, exception_message, used_standins, count in _groups(system):
        statuses[kind][status] += count
        if exception_type:
            exceptions[kind][exception_line(exception_type, exception_message)] += count
        if used_standins:
            standin_runs[kind] += count
    return [
        KindSummary(
            kind=kind,
            total=statuses[kind].total(),
            counts=dict(statuses[kind].most_common()),
            top_exceptions=exceptions[kind].most_common(TOP_EXCEPTIONS),
            standin_runs=standin_runs[kind],
        )
        for kind in KINDS
        if kind in statuses
    ]


def _latest_runs(system: System) -> QuerySet[Run]:
    """The latest batch run of each translation of `system` and kind: no run of the same translation and kind
    is newer by (created_at, pk). Served by the run_latest_batch index."""
    newer = Run.objects.filter(translation=OuterRef("translation"), kind=OuterRef("kind")).filter(
        Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    return Run.objects.filter(translation__system=system, kind__in=KINDS).exclude(Exists(newer))


def _groups(system: System) -> QuerySet[Run]:
    """The latest runs grouped by (kind, status, exception type, exception message, used stand-ins), as rows of
    those five values and the group's number of runs (count), ordered by each group's newest run, newest first.

    A window, not GROUP BY: each group is read through its newest run, which gives the order by (created_at, pk).
    Grouped by the whole message: the first line of it is taken in Python, by annotate.models.exception_line.
    """
    group = [F("kind"), F("status"), F("exception_type"), F("exception_message"), F("used_standins")]
    newest_first = [F("created_at").desc(), F("pk").desc()]
    return (
        _latest_runs(system)
        .annotate(used_standins=ExpressionWrapper(~Q(standins=[]), output_field=BooleanField()))
        .annotate(
            count=Window(Count("pk"), partition_by=group),
            newest=Window(RowNumber(), partition_by=group, order_by=newest_first),
        )
        .filter(newest=1)
        .order_by(*newest_first)
        .values_list("kind", "status", "exception_type", "exception_message", "used_standins", "count")
    )
