"""manage.py backup_db PATH: a checked copy of the whole database, taken while the app keeps running."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.backup import BackupError, backup


class Command(BaseCommand):
    help = "Write an online backup of the database to PATH (SQLite: integrity-checked copy; PostgreSQL: pg_dump)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="a new file")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, path: Path, database: str, **options) -> None:
        try:
            made = backup(path, using=database)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"backed up the {made.engine} database to {made.path} ({made.size_bytes} bytes)")
