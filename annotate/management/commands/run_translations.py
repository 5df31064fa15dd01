"""Run a system's translations in the sandbox and store each Run, linked to its translation.

    manage.py run_translations --system NAME [--sample KEY]... [--kind jax|pytorch] [--json]

One line per run as it ends, then a count by status (with --json: one JSON object per run, then one with
the counts). Exit 0 once every run is stored, whatever the programs did; 2 on bad arguments.
"""

from __future__ import annotations

import json
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from annotate import batch_runs
from annotate.sandbox.box import wait_for_teardowns

BAD_ARGUMENTS = 2


class Command(BaseCommand):
    help = "Run every translation of a system (or its samples' PyTorch programs) in the sandbox; store the Runs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--system", required=True, help="the system whose translations run")
        parser.add_argument("--sample", action="append", default=[], dest="samples", help="only this sample (repeat)")
        parser.add_argument(
            "--kind",
            default="jax",
            choices=batch_runs.KINDS,
            help="jax: the translations; pytorch: the samples' programs",
        )
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, system: str, samples: list[str], kind: str, as_json: bool, **options) -> None:
        try:
            translations = batch_runs.plan(system, samples, kind)
        except batch_runs.BatchProblem as problem:
            raise CommandError(str(problem), returncode=BAD_ARGUMENTS) from None
        counts: Counter[str] = Counter()
        try:
            for translation, result in batch_runs.run_all(translations, kind):
                counts[result.status] += 1
                self.stdout.write(self._line(translation, kind, result, as_json))
        finally:
            wait_for_teardowns()  # cold boxes of this process: leave none dying behind
        total = sum(counts.values())
        if as_json:
            self.stdout.write(json.dumps({"system": system, "kind": kind, "total": total, "counts": dict(counts)}))
        else:
            by_status = ", ".join(f"{count} {status}" for status, count in counts.most_common()) or "nothing to run"
            self.stdout.write(f"{total} run(s) of {system} ({kind}): {by_status}")

    @staticmethod
    def _line(translation, kind: str, result, as_json: bool) -> str:
        if as_json:
            return json.dumps(
                {
                    "sample": translation.sample.key,
                    "kind": kind,
                    "run_id": result.run_id,
                    "status": result.status,
                    "duration_s": result.duration_s,
                    "started_warm": result.started_warm,
                    "exception_type": result.exception_type,
                    "exception_message": result.exception_message[:500],
                    "standins": [standin.get("message", "") for standin in result.standins],
                    "plots": len(result.plots),
                }
            )
        error = (
            f" {result.exception_type}: {result.exception_message.splitlines()[0][:200]}"
            if result.exception_message.strip()
            else ""
        )
        warm = "warm" if result.started_warm else "cold"
        return f"{translation.sample.key}\t{result.status}\t{result.duration_s}s {warm}\trun {result.run_id}{error}"
