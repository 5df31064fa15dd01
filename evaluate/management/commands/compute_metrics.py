"""manage.py compute_metrics [--metric codebleu|fixcost|codetrans|runtime|all] [--reference-system NAME]
[--baseline-system NAME] [--system NAME] [--model MODEL] [--processes N]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluate import metrics
from evaluate.compute import ComputeError, compute


class Command(BaseCommand):
    help = "Compute and store metrics per translation (CodeBLEU, FixCost, CodeTrans LLM judge, runtime)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--metric", default="all", choices=(*metrics.names(), "all"))
        parser.add_argument(
            "--reference-system",
            help="Score CodeBLEU against this system's translations (default: the verified code of each sample)",
        )
        parser.add_argument("--baseline-system", help="Report runtime ratios against this system")
        parser.add_argument("--system", help="Only this system's translations")
        parser.add_argument("--model", default="", help="LLM judge model (default: OPENAI_MODEL)")
        parser.add_argument("--processes", type=int, help="CodeBLEU worker processes (default: every core)")

    def handle(
        self, *args, metric: str, reference_system, baseline_system, system, model: str, processes, **options
    ) -> None:
        if processes is not None and processes < 1:
            raise CommandError("--processes must be at least 1")
        try:
            report = compute(
                metric,
                reference_system=reference_system,
                baseline_system=baseline_system,
                system=system,
                model=model,
                processes=processes,
            )
        except ComputeError as error:
            raise CommandError(str(error)) from error
        for line in report.lines:
            self.stdout.write(line)
        for problem in report.problems:
            self.stderr.write(problem)
        if report.problems and metric != "all" and not report.lines:
            raise CommandError(f"{metric}: nothing computed")
