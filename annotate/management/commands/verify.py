"""manage.py verify --sample KEY --system NAME: run the sample's contract on a translation, print the stages.

Checks the open session's current code when there is one, else the verified session's, else the draft.
Exit status: 0 passed, 1 failed, 2 contract error (or nothing to check: unknown sample, no contract).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotate.contracts import ContractProblem, code_to_verify, run_contract
from annotate.models import Translation

MARKS = {"passed": "PASS", "failed": "FAIL", "not-reached": "----"}


class Command(BaseCommand):
    help = "Run a sample's equivalence contract on one system's translation; exit 0 passed, 1 failed, 2 error."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sample", required=True, help="Sample key, e.g. linreg")
        parser.add_argument("--system", required=True, help="System name, e.g. weak-llm")

    def handle(self, *args, sample: str, system: str, **options) -> None:
        translation = (
            Translation.objects.select_related("sample").filter(sample__key=sample, system__name=system).first()
        )
        if translation is None:
            raise CommandError(f"no translation of sample {sample!r} by system {system!r}", returncode=2)
        code, source, session = code_to_verify(translation)
        self.stdout.write(
            f"{sample} by {system}: checking the {source} code against contract v{translation.sample.contract_version}"
        )
        try:
            result = run_contract(translation.sample, code, session=session)
        except ContractProblem as problem:
            raise CommandError(str(problem), returncode=2) from None
        for stage in result.stages:
            line = f"  {MARKS[stage['status']]}  {stage['name']}"
            if stage["mismatch"]:
                line += f": {stage['mismatch'].get('check')}: {stage['mismatch'].get('message')}"
            self.stdout.write(line)
        verdict = f"{result.verdict} (run {result.run_id})"
        if result.verdict == "contract-error":
            verdict += f": {result.message}" + (f"\n  {result.hint}" if result.hint else "")
        self.stdout.write(verdict)
        if result.exit_code:
            raise SystemExit(result.exit_code)
