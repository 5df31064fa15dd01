from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.dataset import DatasetError, write_export

COPY_CHARS = 1 << 20


class Command(BaseCommand):
    help = "Export verified fix sessions as T2J JSON (the paper's format) or JSONL (ours, with full history)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=["t2j", "jsonl"], default="t2j")
        parser.add_argument("--system", help="Only this system's sessions (required for t2j when several have one)")
        parser.add_argument("--output", type=Path, help="File to write; stdout when left out")

    def handle(self, *args, format: str, system: str | None, output: Path | None, **options) -> None:
        # Written line by line into a temporary file (memory stays flat at any size), which becomes the output
        # only when the export succeeded: an error leaves no half-written file and prints nothing.
        folder = output.resolve().parent if output else None
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".export-", delete=False) as spool:
                try:
                    size = write_export(spool, format, system)
                except BaseException:
                    os.unlink(spool.name)
                    raise
        except DatasetError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot write {output or 'the export'}: {exc.strerror or exc}") from None
        if output is None:
            with open(spool.name, encoding="utf-8", newline="") as written:
                os.unlink(spool.name)
                while chunk := written.read(COPY_CHARS):
                    self.stdout.write(chunk, ending="")  # byte-exact: no newline added
            return
        os.chmod(spool.name, 0o666 & ~_umask())  # the mode a plain open() would have given the file
        os.replace(spool.name, output)
        self.stderr.write(f"Wrote {size:,} bytes to {output}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
