"""The shapes every metric shares: its columns, its registry entry, and what a compute run gets and reports.

Kept apart from the registry (evaluate/metrics/__init__.py) so each metric module can use them without
importing the registry that imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

# Translation ids to read stored values for: a list of ints or a `values("pk")` queryset (a subquery).
TranslationIds = Collection[int] | QuerySet
# {translation id: {column name: value}}, only for translations and columns that have a stored value.
StoredValues = dict[int, dict[str, Any]]


@dataclass(frozen=True)
class Column:
    """One per-translation value of a metric, and what the dashboard does with its per-system mean.

    `value_range` is (low, high) of the values, high None when unbounded; None for a text column. Columns
    of one metric that share a `label` share one cell of the systems table ("CodeTrans use ref/noref").
    """

    name: str
    label: str = ""  # header of the systems-table cell showing its mean; "" = not in the table
    higher_is_better: bool = True
    value_range: tuple[float, float | None] | None = (0.0, None)
    export: bool = True  # a column of the per-translation metrics export
    ranked: str = ""  # title of the dashboard ranking of systems by this column's mean; "" = not ranked
    charted: str = ""  # title of the dashboard bar chart of its mean (needs a bounded range); "" = no chart
    correlated: bool = False  # correlated per translation with the reference column (FixCost Score)

    @property
    def in_table(self) -> bool:
        return bool(self.label)


DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass(frozen=True)
class MetricOutcome:
    """How one metric of a compute run ended: done (with what it stored), skipped and why, failed and why."""

    metric: str
    label: str
    status: str  # DONE, SKIPPED or FAILED
    detail: str = ""


@dataclass
class ComputeReport:
    """What a compute run says: one line per metric done, the problems met (skipped items, errors), the
    metrics that skipped themselves (name -> why), and one outcome per metric run."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    outcomes: list[MetricOutcome] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def skip(self, metric: str, reason: str, *, problem: bool = False) -> None:
        """The metric computed nothing, for `reason` (e.g. no LLM endpoint); a problem when it was asked for."""
        self.skipped[metric] = reason
        (self.problems if problem else self.lines).append(f"{metric}: skipped. {reason}")


@dataclass(frozen=True)
class ComputeOptions:
    """The arguments of one compute run; each metric reads those it needs.

    `reference` and `baseline` are annotate.models.System rows (or None); `explicit` is True when the metric
    was asked for by name rather than as part of "all".
    """

    reference: Any = None
    baseline: Any = None
    model: str = ""
    processes: int | None = None
    should_stop: Callable[[], bool] = lambda: False
    explicit: bool = False


@dataclass(frozen=True)
class Metric:
    """A registry entry: `compute(translations, report, options)` computes and stores the metric for a
    Translation queryset; `values(translation_ids)` reads what is stored, as StoredValues."""

    name: str
    label: str
    columns: tuple[Column, ...]
    compute: Callable[[Any, ComputeReport, ComputeOptions], None]
    values: Callable[[TranslationIds], StoredValues]
