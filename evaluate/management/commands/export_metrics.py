"""manage.py export_metrics --format csv|json [--output PATH] [--table metrics|comparisons|judgements]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluate.exports import TABLES, render_table


class Command(BaseCommand):
    help = "Export stored metrics (one row per translation), or the raw comparisons or judgements."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=("csv", "json"))
        parser.add_argument("--output", help="File to write (default: standard output)")
        parser.add_argument("--table", default="metrics", choices=tuple(TABLES))

    def handle(self, *args, format: str, output: str | None, table: str, **options) -> None:
        text = render_table(table, format)
        if not output:
            self.stdout.write(text, ending="" if text.endswith("\n") else "\n")
            return
        path = Path(output)
        if not path.parent.is_dir():
            raise CommandError(f"Folder {path.parent} does not exist")
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        self.stdout.write(f"Wrote {table} ({format}) to {path}")
