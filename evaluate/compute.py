"""Running the metric computations: one entry point shared by `manage.py compute_metrics` and the tasks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from annotate import llm
from annotate.models import System, Translation
from evaluate.metrics import codebleu, codetrans, fixcost, runtime

METRICS = ("codebleu", "fixcost", "codetrans", "runtime")


class ComputeError(ValueError):
    """Bad arguments (unknown metric or system): nothing was computed."""


@dataclass
class ComputeReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


def system_named(name: str | None) -> System | None:
    if not name:
        return None
    system = System.objects.filter(name=name).first()
    if system is None:
        raise ComputeError(f"No system named {name!r}.")
    return system


def metrics_for(choice: str) -> tuple[str, ...]:
    if choice == "all":
        return METRICS
    if choice not in METRICS:
        raise ComputeError(f"Unknown metric {choice!r}; choose from {', '.join(METRICS)} or all.")
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
    """Compute and store the chosen metrics (for one system's translations, or all)."""
    chosen = metrics_for(choice)
    reference = system_named(reference_system)
    baseline = system_named(baseline_system)
    only = system_named(system)
    translations = Translation.objects.select_related("sample", "system")
    if only is not None:
        translations = translations.filter(system=only)
    report = ComputeReport()
    for metric in chosen:
        if should_stop():
            report.problems.append("Cancelled.")
            break
        getattr(_Runner, metric)(
            translations,
            report,
            reference=reference,
            baseline=baseline,
            model=model,
            processes=processes,
            should_stop=should_stop,
            explicit=choice != "all",
        )
    return report


class _Runner:
    @staticmethod
    def codebleu(translations, report, *, reference, processes, **_):
        scoring = translations.prefetch_related("sample__translations__fix_sessions__translation__system")
        stored, skipped = codebleu.compute_for(list(scoring), reference_system=reference, processes=processes)
        label = reference.name if reference else codebleu.VERIFIED
        report.say(f"codebleu: {stored} translations scored against {label}; {len(skipped)} skipped")
        report.problems += [f"codebleu: {why}" for why in skipped]

    @staticmethod
    def fixcost(translations, report, **_):
        verified = fixcost.verified_translations().filter(pk__in=translations.values("pk"))
        report.say(f"fixcost: {fixcost.compute_human(verified)} verified translations")

    @staticmethod
    def codetrans(translations, report, *, model, should_stop, explicit, **_):
        problem = llm.configuration_problem(model)
        if problem:
            # Part of "all" without an endpoint: skip, loudly; asked for by name: that is an error.
            (report.problems if explicit else report.lines).append(f"codetrans: skipped. {problem}")
            return
        outcomes = codetrans.judge_all(
            translations.exclude(code="").prefetch_related("sample__translations__fix_sessions__translation__system"),
            model=model,
            on_each=lambda _: not should_stop(),
        )
        stored = sum(o.stored for o in outcomes)
        unparsed = sum(o.unparsed for o in outcomes)
        report.say(f"codetrans: {stored} judgements for {len(outcomes)} translations ({unparsed} unparsed)")
        report.problems += [f"codetrans: translation {o.translation_id}: {o.error}" for o in outcomes if o.error]

    @staticmethod
    def runtime(translations, report, *, baseline, **_):
        measured = runtime.measure(translations.filter(fix_sessions__status="verified").distinct())
        failed = [m for m in measured if m.status != "ok"]
        labels = Counter(m.label for m in measured if m.status == "ok")
        timed_as = ", ".join(f"{n} {label}" for label, n in sorted(labels.items()))
        report.say(f"runtime: {len(measured) - len(failed)} programs timed ({timed_as or 'none'})")
        report.problems += [f"runtime: {m.sample.key} {m.translation or 'pytorch'}: {m.message}" for m in failed]
        if baseline is not None:
            for name, ratio in sorted(runtime.ratios(baseline.name).items()):
                report.say(f"runtime ratio {name}/{baseline.name}: {ratio['ratio']:.3f} over {ratio['n']} samples")
