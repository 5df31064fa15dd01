"""Running the metric computations: one entry point shared by `manage.py compute_metrics` and the tasks.

Which metrics exist and how each is computed is the registry's (evaluate/metrics/__init__.py); this module
checks the arguments and runs the chosen entries in registry order. Each metric ends with an outcome (done,
skipped and why, failed and why): one metric's failure is reported and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from annotate.models import System, Translation
from evaluate import dashboard, metrics
from evaluate.metrics import ComputeOptions, ComputeReport
from evaluate.metrics.base import DONE, FAILED, SKIPPED, MetricOutcome

logger = logging.getLogger(__name__)


class ComputeError(ValueError):
    """Bad arguments (unknown metric or system): nothing was computed."""


def system_named(name: str | None) -> System | None:
    if not name:
        return None
    if "\x00" in name:  # PostgreSQL text cannot hold it: no system is named so
        raise ComputeError("A system name has no NUL character.")
    system = System.objects.filter(name=name).first()
    if system is None:
        raise ComputeError(f"No system named {name!r}.")
    return system


def model_named(name: str) -> str:
    """An LLM model name as sent (empty: the default model); ComputeError for a NUL, which a job's stored
    parameters cannot hold on PostgreSQL."""
    if "\x00" in name:
        raise ComputeError("A model name has no NUL character.")
    return name


def metrics_for(choice: str | Sequence[str]) -> tuple[str, ...]:
    """The metric names `choice` stands for, in registry order: every registered metric for "all", else the
    one named or each of the names given."""
    names = metrics.names()
    if choice == "all":
        return names
    chosen = {choice} if isinstance(choice, str) else set(choice)
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ComputeError(f"Unknown metric {', '.join(map(repr, unknown))}; choose from {', '.join(names)} or all.")
    if not chosen:
        raise ComputeError("Choose at least one metric.")
    return tuple(name for name in names if name in chosen)


def compute(
    choice: str | Sequence[str] = "all",
    *,
    reference_system: str | None = None,
    baseline_system: str | None = None,
    system: str | None = None,
    model: str = "",
    processes: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_outcome: Callable[[MetricOutcome], None] = lambda outcome: None,
) -> ComputeReport:
    """Compute and store the chosen metrics (for one system's translations, or all), then the dashboard.

    `on_outcome` hears each metric's outcome as soon as it is known (a job's progress). Raises ComputeError
    for bad arguments before anything is computed.
    """
    chosen = metrics_for(choice)
    options = ComputeOptions(
        reference=system_named(reference_system),
        baseline=system_named(baseline_system),
        model=model,
        processes=processes,
        should_stop=should_stop,
        explicit=set(chosen) != set(metrics.names()),
    )
    only = system_named(system)
    translations = Translation.objects.select_related("sample", "system")
    if only is not None:
        translations = translations.filter(system=only)
    report = ComputeReport()
    for name in chosen:
        if should_stop():
            report.problems.append("Cancelled.")
            break
        outcome = _compute_one(metrics.get(name), translations, report, options)
        report.outcomes.append(outcome)
        on_outcome(outcome)
    dashboard.refresh(changed=True)
    return report


def _compute_one(metric: metrics.Metric, translations, report: ComputeReport, options: ComputeOptions) -> MetricOutcome:
    lines, problems = len(report.lines), len(report.problems)
    try:
        metric.compute(translations, report, options)
    except Exception as error:  # one metric's failure must not lose the others' figures
        logger.exception("computing %s failed", metric.name)
        reason = f"{type(error).__name__}: {error}"
        report.problems.append(f"{metric.name}: failed. {reason}")
        return MetricOutcome(metric.name, metric.label, FAILED, reason)
    if metric.name in report.skipped:
        return MetricOutcome(metric.name, metric.label, SKIPPED, report.skipped[metric.name])
    said = [line.removeprefix(f"{metric.name}: ") for line in report.lines[lines:]]
    noted = len(report.problems) - problems
    if noted:
        said.append(f"{noted} item{'s' if noted != 1 else ''} not computed (see the message)")
    return MetricOutcome(metric.name, metric.label, DONE, "; ".join(said))
