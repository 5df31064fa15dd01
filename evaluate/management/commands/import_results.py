"""manage.py import_results FILE --source NAME [--replace] [--dry-run]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluate.published import PublishedError, import_results


class Command(BaseCommand):
    help = (
        "Import published per-sample figures (step counts, CodeBLEU, CodeTrans, comparison verdicts) as a named "
        "source, kept apart from our own data: the paper's results.json as it is, or {'figures': [...]}. "
        "All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--source", required=True, help="Name of the source, e.g. t2j-paper")
        parser.add_argument("--replace", action="store_true", help="Overwrite a stored source of that name")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and say what would happen")

    def handle(self, *args, path: Path, source: str, replace: bool, dry_run: bool, **options) -> None:
        try:
            outcome = import_results(path, source=source, replace=replace, dry_run=dry_run)
        except PublishedError as error:
            raise CommandError(f"{path}: {error.message}") from None
        self.stdout.write(("Would import " if dry_run else "Imported ") + f"{path.name}: {outcome.summary()}")
