from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.dataset import DatasetError
from annotate.dataset.drafts import export_translations


class Command(BaseCommand):
    help = "Write one KEY.py per translation of a system: the verified code where verified, else the draft."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--system", required=True)
        parser.add_argument("--output", type=Path, required=True, help="Folder (created when missing)")

    def handle(self, *args, system: str, output: Path, **options) -> None:
        try:
            written = export_translations(system, output)
        except DatasetError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot write to {output}: {exc.strerror or exc}") from None
        self.stdout.write(f"Wrote {len(written)} files to {output}")
