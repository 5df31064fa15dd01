from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.dataset import DatasetError, export_jsonl, export_t2j


class Command(BaseCommand):
    help = "Export verified fix sessions as T2J JSON (the paper's format) or JSONL (ours, with full history)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=["t2j", "jsonl"], default="t2j")
        parser.add_argument("--system", help="Only this system's sessions (required for t2j when several have one)")
        parser.add_argument("--output", type=Path, help="File to write; stdout when left out")

    def handle(self, *args, format: str, system: str | None, output: Path | None, **options) -> None:
        try:
            # Built completely before anything is written: an error leaves no half-written file.
            text = export_t2j(system) if format == "t2j" else "".join(export_jsonl(system))
        except DatasetError as exc:
            raise CommandError(exc.message) from None
        data = text.encode("utf-8")
        if output is None:
            self.stdout.write(text, ending="")  # byte-exact: no newline added
            return
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        self.stderr.write(f"Wrote {len(data):,} bytes to {output}")
