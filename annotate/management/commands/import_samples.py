from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.dataset import DatasetError
from annotate.dataset.drafts import import_samples


class Command(BaseCommand):
    help = (
        "Import PyTorch samples from a folder of KEY.py files or a JSONL file "
        "(key, pytorch_code, optional title, origin, difficulty, contract). All or nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--replace", action="store_true", help="Overwrite samples whose fields differ")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, path: Path, replace: bool, dry_run: bool, **options) -> None:
        try:
            outcome = import_samples(path, replace=replace, dry_run=dry_run)
        except DatasetError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        self.stdout.write(("Would import " if dry_run else "Imported ") + outcome.summary("samples"))
