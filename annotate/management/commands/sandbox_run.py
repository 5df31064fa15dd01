"""Run one program file in the sandbox: `manage.py sandbox_run FILE [--kind jax|pytorch] [--json]`.

Its runs share one compile cache, that of the purpose CACHE_PURPOSE, apart from every user's
(annotate.runs.cache_key)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate import runs, sandbox
from annotate.sandbox.box import wait_for_teardowns
from annotate.sandbox.inputs import KINDS

CACHE_PURPOSE = "sandbox-run-cli"
JSON_KEYS = (
    "status", "exit_code", "stdout", "stderr", "truncated", "stdout_truncated", "stderr_truncated",
    "exception_type", "exception_message", "traceback", "duration_s", "peak_memory_bytes", "isolation", "run_id",
)  # fmt: skip


class Command(BaseCommand):
    help = "Run a program in the sandbox and store the Run. With --json, print one JSON object on stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        parser.add_argument("--kind", default="jax", choices=KINDS)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, file: str, kind: str, as_json: bool, **options) -> None:
        try:
            code = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            result = runs.run(code, kind, CACHE_PURPOSE)
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
