"""Running the metric computations: one entry point shared by `manage.py compute_metrics` and the tasks.

Which metrics exist and how each is computed is the registry's (evaluate/metrics/__init__.py); this module
checks the arguments and runs the chosen entries in registry order.
"""

from __future__ import annotations

from collections.abc import Callable

from annotate.models import System, Translation
from evaluate import dashboard, metrics
from evaluate.metrics import ComputeOptions, ComputeReport


class ComputeError(ValueError):
    """Bad arguments (unknown metric or system): nothing was computed."""


def system_named(name: str | None) -> System | None:
    if not name:
        return None
    system = System.objects.filter(name=name).first()
    if system is None:
        raise ComputeError(f"No system named {name!r}.")
    return system


def metrics_for(choice: str) -> tuple[str, ...]:
    """The metric names `choice` stands for: every registered metric for "all", else that one."""
    names = metrics.names()
    if choice == "all":
        return names
    if choice not in names:
        raise ComputeError(f"Unknown metric {choice!r}; choose from {', '.join(names)} or all.")
    return (choice,)


def compute(
    choice: str = "all",
    *,
    reference_system: str | None = None,
    baseline_system: str | None = None,
    system: str | None = None,
    model: str = "",
    processes: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ComputeReport:
    """Compute and store the chosen metrics (for one system's translations, or all), then the dashboard."""
    chosen = metrics_for(choice)
    options = ComputeOptions(
        reference=system_named(reference_system),
        baseline=system_named(baseline_system),
        model=model,
        processes=processes,
        should_stop=should_stop,
        explicit=choice != "all",
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
        metrics.get(name).compute(translations, report, options)
    dashboard.refresh(changed=True)
    return report
