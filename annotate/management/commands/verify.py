"""manage.py verify: run samples' contracts on a system's translations and print what they found.

    verify --sample KEY --system NAME [--json]   one translation: the stages (and, pytest-style, each test)
    verify --system NAME [--json]                every translation whose sample has a contract; samples
                                                 without one are listed, not counted

Each checks the open session's current code when there is one, else the verified session's, else the draft.
Exit status: 0 passed (all), 1 failed (any), 2 contract error (any), or nothing to check (unknown sample or
system, no contract).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from annotate.contracts import (
    BatchReport,
    ContractProblem,
    ContractResult,
    SampleVerdict,
    code_to_verify,
    run_contract,
    verify_system,
)
from annotate.models import System, Translation

MARKS = {"passed": "PASS", "failed": "FAIL", "not-reached": "----"}
TEST_MARKS = {"passed": "ok", "failed": "FAILED", "error": "ERROR", "skipped": "skipped", "not-reached": "-",
              "not-run": "-"}  # fmt: skip


class Command(BaseCommand):
    help = (
        "Run samples' equivalence contracts on a system's translations (one sample with --sample, else all); "
        "exit 0 passed, 1 failed, 2 contract error."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sample", help="Sample key, e.g. linreg (omit to check every sample with a contract)")
        parser.add_argument("--system", required=True, help="System name, e.g. weak-llm")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON document instead of text"
        )

    def handle(self, *args, sample: str | None, system: str, as_json: bool, **options) -> None:
        if sample:
            exit_code = self._one(sample, system, as_json=as_json)
        else:
            exit_code = self._all(system, as_json=as_json)
        if exit_code:
            raise SystemExit(exit_code)

    # --- one translation ---

    def _one(self, sample: str, system: str, *, as_json: bool) -> int:
        translation = (
            Translation.objects.select_related("sample").filter(sample__key=sample, system__name=system).first()
        )
        if translation is None:
            raise CommandError(f"no translation of sample {sample!r} by system {system!r}", returncode=2)
        code, source, session = code_to_verify(translation)
        version = translation.sample.contract_version
        if not as_json:
            self.stdout.write(f"{sample} by {system}: checking the {source} code against contract v{version}")
        try:
            result = run_contract(translation.sample, code, session=session)
        except ContractProblem as problem:
            raise CommandError(str(problem), returncode=2) from None
        if as_json:
            document = {"sample": sample, "system": system, "source": source, "contract_version": version}
            self.stdout.write(_dumps({**document, **_result_document(result)}))
        else:
            self._print_result(result)
        return result.exit_code

    def _print_result(self, result: ContractResult) -> None:
        for stage in result.stages:
            line = f"  {MARKS[stage['status']]}  {stage['name']}"
            if stage["mismatch"]:
                line += f": {stage['mismatch'].get('check')}: {stage['mismatch'].get('message')}"
            self.stdout.write(line)
            for test in (t for t in result.tests if t["stage"] == stage["name"]):
                self.stdout.write(f"          {TEST_MARKS.get(test['outcome'], test['outcome'])}  {test['name']}")
        verdict = f"{result.verdict} (run {result.run_id})"
        if result.verdict == "contract-error":
            verdict += f": {result.message}" + (f"\n  {result.hint}" if result.hint else "")
        self.stdout.write(verdict)

    # --- a whole system ---

    def _all(self, name: str, *, as_json: bool) -> int:
        system = System.objects.filter(name=name).first()
        if system is None:
            raise CommandError(f"no system named {name!r}", returncode=2)
        report = verify_system(system, on_result=None if as_json else self._print_verdict)
        if as_json:
            self.stdout.write(_dumps(_batch_document(report)))
            return report.exit_code
        counts = report.counts()
        if report.no_contract:
            self.stdout.write(f"no contract (not counted): {', '.join(report.no_contract)}")
        if not report.results:
            self.stdout.write(f"nothing checked: no sample of {name} has a contract")
        self.stdout.write(
            f"{name}: {counts['passed']} passed, {counts['failed']} failed, {counts['contract-error']} contract error"
        )
        return report.exit_code

    def _print_verdict(self, outcome: SampleVerdict) -> None:
        line = f"  {outcome.verdict:<14} {outcome.sample} ({outcome.source} code, run {outcome.run_id})"
        if outcome.verdict != "passed" and outcome.message:
            line += f": {outcome.message}"
        self.stdout.write(line)


def _result_document(result: ContractResult) -> dict:
    return {
        "kind": result.report.get("kind", ""),
        "verdict": result.verdict,
        "run_id": result.run_id,
        "message": result.message,
        "hint": result.hint,
        "stages": result.stages,
        "tests": result.tests,
        "imports": result.report.get("imports", []),
    }


def _batch_document(report: BatchReport) -> dict:
    return {
        "system": report.system,
        "counts": report.counts(),
        "results": [asdict(outcome) for outcome in report.results],
        "no_contract": report.no_contract,
    }


def _dumps(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)
