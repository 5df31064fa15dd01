"""manage.py draft --system NAME [--mode standard|t2j] [--model MODEL] [--sample KEY]... [--force]

Drafts in the foreground with a progress bar and exits non-zero when any draft failed (or nothing could run).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate import drafting, llm
from annotate.models import System

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Draft JAX translations of samples with an LLM system (created if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--system", required=True, help="System name; created when it does not exist")
        parser.add_argument("--mode", choices=drafting.LLM_MODES, help="Prompt mode (standard when creating)")
        parser.add_argument("--model", help="LLM model (default: OPENAI_MODEL)")
        parser.add_argument(
            "--sample",
            action="append",
            default=[],
            dest="samples",
            metavar="KEY",
            help="Draft only this sample (repeatable; all samples when absent)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Redraft samples that already have a translation (never one that has a fix session)",
        )
        parser.add_argument("--retry-failed", action="store_true", help="Redraft samples whose draft failed")

    def handle(
        self, *args, system: str, mode, model, samples: list[str], force: bool, retry_failed: bool, **options
    ) -> None:
        # Checked before anything is created: without an endpoint the command changes nothing.
        existing = System.objects.filter(name=system).first()
        problem = llm.configuration_problem(model or (existing.model if existing else ""))
        if problem:
            raise CommandError(problem)
        try:
            chosen = drafting.samples_by_keys(samples)
            llm_system, created = drafting.system_for_command(system, mode=mode, model=model)
        except drafting.DraftingError as error:
            raise CommandError(str(error)) from error
        if created:
            self.stdout.write(f"Created system {llm_system.name} (mode {llm_system.mode}).")
        report = self._draft(llm_system, chosen, force=force, retry_failed=retry_failed)
        self._summarise(report)

    def _draft(self, system, samples, *, force: bool, retry_failed: bool) -> drafting.DraftReport:
        total = len(samples)
        seen = 0

        def progress(outcome: drafting.DraftOutcome) -> None:
            nonlocal seen
            seen += 1
            filled = BAR_WIDTH * seen // max(total, 1)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stdout.write(f"[{bar}] {seen}/{total} {outcome.sample_key}: {outcome.status}")

        try:
            return drafting.draft_samples(system, samples, force=force, retry_failed=retry_failed, on_outcome=progress)
        except (drafting.DraftingError, llm.LLMNotConfigured) as error:
            raise CommandError(str(error)) from error

    def _summarise(self, report: drafting.DraftReport) -> None:
        self.stdout.write(report.summary())
        kept = report.keys(drafting.KEPT)
        if kept:
            self.stdout.write(f"Kept (they have a fix session, never replaced): {', '.join(kept)}")
        for failure in report.failures:
            self.stderr.write(f"FAILED {failure.sample_key}: {failure.reason}")
        if report.failures:
            raise CommandError(f"{len(report.failures)} of the drafts failed.")
