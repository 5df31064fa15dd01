"""Run one program file in the sandbox: `manage.py sandbox_run FILE [--kind jax|pytorch] [--user KEY] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate import runs, sandbox
from annotate.sandbox.box import wait_for_teardowns
from annotate.sandbox.inputs import KINDS

JSON_KEYS = (
    "status", "exit_code", "stdout", "stderr", "truncated", "stdout_truncated", "stderr_truncated",
    "exception_type", "exception_message", "traceback", "duration_s", "peak_memory_bytes", "isolation", "run_id",
)  # fmt: skip


class Command(BaseCommand):
    help = "Run a program in the sandbox and store the Run. With --json, print one JSON object on stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        parser.add_argument("--kind", default="jax", choices=KINDS)
        parser.add_argument("--user", default="", help="user key whose compilation cache the run uses")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, file: str, kind: str, user: str, as_json: bool, **options) -> None:
        try:
            code = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            result = runs.run(code, kind, user)
        except sandbox.InvalidRunInput as exc:
            raise CommandError(str(exc)) from exc
        finally:
            wait_for_teardowns()  # this process ends soon: leave no dying box behind
        if result.note:
            self.stderr.write(result.note)
        data = result.as_dict()
        if as_json:
            self.stdout.write(json.dumps({key: data[key] for key in JSON_KEYS}))
            return
        self.stdout.write(result.stdout, ending="")
        self.stderr.write(result.stderr, ending="")
        self.stderr.write(
            f"[run {result.run_id}: {result.status}, exit {result.exit_code}, {result.duration_s}s, "
            f"isolation {result.isolation}]"
        )
        if result.status not in ("ok",):
            raise SystemExit(1)
