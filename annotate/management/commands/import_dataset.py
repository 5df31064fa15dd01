from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.dataset import DatasetError, import_dataset_file
from annotate.dataset.importing import CONFLICT, NEW, SAME


class Command(BaseCommand):
    help = (
        "Import a T2J dataset (the paper's JSON) or our JSONL: samples, drafts and verified fix sessions. "
        "All or nothing; re-importing the same file changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--system", help="System holding LLM_weak_output (T2J only; default weak-llm)")
        parser.add_argument("--replace", action="store_true", help="Overwrite samples, drafts and sessions that differ")
        parser.add_argument("--format", choices=["auto", "t2j", "jsonl"], default="auto")
        parser.add_argument("--dry-run", action="store_true", help="Check and show what would change; write nothing")

    def handle(self, *args, path: Path, system: str | None, replace: bool, format: str, dry_run: bool, **options):
        try:
            plan = import_dataset_file(path, system=system, replace=replace, fmt=format, dry_run=dry_run)
        except DatasetError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        counts = plan.counts()
        changed = "replaced" if replace else CONFLICT
        lines = [
            f"{kind}: {c[NEW]} new, {c[SAME]} unchanged, {c[CONFLICT]} {changed}"
            for kind, c in counts.items()
            if kind != "steps"
        ]
        lines.append(f"steps: {counts['steps'][NEW]} new, {counts['steps'][SAME]} unchanged")
        prefix = "Would import" if dry_run else "Imported"
        self.stdout.write(f"{prefix} {path.name} ({plan.format}): " + "; ".join(lines))
        if flagged := plan.flagged_steps():
            self.stdout.write(
                f"Step hygiene: {plan.flagged_count()} flagged steps in {len(flagged)} sessions, imported and counted "
                "as the file has them (FixCost without them is shown beside):"
            )
            for sample, system, phrases in flagged:
                self.stdout.write(f"  {sample} by {system}: steps {'; '.join(phrases)}")
        if plan.unknown_users:
            self.stderr.write(f"No account for {', '.join(plan.unknown_users)}: imported without owner/author")
