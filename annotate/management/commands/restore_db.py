"""manage.py restore_db PATH --yes: replace the whole database with a backup made by backup_db."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.backup import BackupError, restore


class Command(BaseCommand):
    help = "Replace every row of the database with a backup_db file, all or nothing. Needs --yes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="a file written by backup_db")
        parser.add_argument("--database", default="default", help="database alias (default: default)")
        parser.add_argument("--yes", action="store_true", help="confirm that the current data is replaced")

    def handle(self, *args, path: Path, database: str, yes: bool, **options) -> None:
        if not yes:
            raise CommandError("restoring replaces every row of the database with the backup; add --yes to go on")
        try:
            restore(path, using=database)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored the database from {path}; run `manage.py migrate` if the backup is older")
