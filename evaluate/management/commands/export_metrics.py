"""manage.py export_metrics --format csv|json [--output PATH] [--table metrics|comparisons|judgements]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluate.exports import TABLES, stream_table


class Command(BaseCommand):
    help = "Export stored metrics (one row per translation), or the raw comparisons or judgements."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=("csv", "json"))
        parser.add_argument("--output", help="File to write (default: standard output)")
        parser.add_argument("--table", default="metrics", choices=tuple(TABLES))

    def handle(self, *args, format: str, output: str | None, table: str, **options) -> None:
        if output and not Path(output).parent.is_dir():
            raise CommandError(f"Folder {Path(output).parent} does not exist")
        # Written piece by piece as the rows are read; the file always ends with a newline.
        if not output:
            self._write(self.stdout.write, table, format)
            return
        with open(output, "w", encoding="utf-8", newline="") as out:
            self._write(out.write, table, format)
        self.stdout.write(f"Wrote {table} ({format}) to {output}")

    def _write(self, write, table: str, fmt: str) -> None:
        last = ""
        for piece in stream_table(table, fmt):
            if piece:
                write(piece, **self._no_ending(write))
                last = piece
        if not last.endswith("\n"):
            write("\n", **self._no_ending(write))

    def _no_ending(self, write) -> dict:
        return {"ending": ""} if write == self.stdout.write else {}
