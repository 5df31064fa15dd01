"""Contracts: run a sample's equivalence contract on a candidate JAX program in the sandbox, and what it found.

The contract (Sample.contract) is a Python module of one of two kinds (annotate.contract_interface reads
which): stage functions `spec`, `numeric`, `behavioral`, or a pytest-style test module in the T2J authors'
style, whose tests the sandbox maps to the same stages (see sandbox_runtime/README.md). A contract run is a
sandbox run of kind `contract` whose main.py is the t2j_contract driver; the PyTorch program, the candidate
and the contract travel as files beside it. The driver prints one result line carrying a per-run nonce;
anything else (the contract crashing, a hang, an output flood, no result line) is a `contract-error`: the
check could not be made, and that is never counted against the translation.

The verdict and stages are stored on the Run (by annotate.runs), with its report: the contract's kind, each
test's outcome (pytest-style), how importing each program went and the parameter shapes the contract
expected. For contract runs the Run's code is the candidate (the driver is the same for every run, the
candidate is what was checked). The outcome types of a verification attempt (VerificationOutcome,
ContractResult) live here; annotate.fixlog's verify gate uses them. `verify_system` checks every
translation of a system whose sample has a contract (the verify command and the batch job).
"""

from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from annotate import runs, sandbox
from annotate.contract_interface import STAGED, NotAContract, contract_kind
from annotate.models import (
    ContractVerdict,
    FixSession,
    Run,
    RunKind,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    System,
    Translation,
)

MARKER = "T2J-CONTRACT-RESULT"
DRIVER = "from t2j_contract.driver import main\n\nmain()\n"
STAGES = ("spec", "numeric", "behavioral")
STAGE_STATUSES = ("passed", "failed", "not-reached")
CLI_USER_KEY = "verify-cli"
# Each stage may use this share of the run's wall-clock limit before the driver stops it itself (a hang
# in the candidate then fails the translation; one in the contract is a contract error).
STAGE_BUDGET_SHARE = 0.5
MAX_TEXT = 2000
MAX_MISMATCH_KEYS = 32
MAX_TESTS = 200
TEST_OUTCOMES = ("passed", "failed", "error", "skipped", "not-reached", "not-run")
# The names a contract run imports the programs under (the driver's and the pytest runner's).
PROGRAM_MODULES = ("torch_program", "jax_program")
MAX_IMPORT_OUTPUT = 4000
MAX_SHAPES_JSON = 20_000

SANDBOX_STATUS_ERRORS = {
    "timeout": "the contract run hit the sandbox's time limit (a hang in the contract or the programs)",
    "memory": "the contract run went over the sandbox's memory limit",
    "output-limit": "the contract run printed more than the sandbox's output limit and was stopped",
    "killed": "the contract run was killed",
    "refused": "the sandbox refused to run the contract",
}


class ContractProblem(ValueError):
    """The request cannot be carried out (no contract, invalid contract text, stale edit); nothing changed."""


@dataclass
class ContractResult:
    """What one contract run found: the verdict, the stages (name, status, mismatch) and why if not passed."""

    verdict: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    hint: str = ""
    run_id: int | None = None
    timing: dict[str, Any] | None = None
    # {"kind": staged|pytest, "tests": [...], "imports": [...], "shapes": {...}}: see clean_report.
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> list[dict[str, Any]]:
        return self.report.get("tests", [])

    @property
    def stage_rows(self) -> list[dict[str, Any]]:
        """The stages, each with its tests (pytest-style contracts), for the stage panel."""
        return [{**stage, "tests": [t for t in self.tests if t["stage"] == stage["name"]]} for stage in self.stages]

    @property
    def unstaged_tests(self) -> list[dict[str, Any]]:
        """Tests of stages the result does not list (a contract error stops before its stages are known)."""
        listed = {stage["name"] for stage in self.stages}
        return [test for test in self.tests if test["stage"] not in listed]

    @property
    def expected_shapes(self) -> list[tuple[str, str]]:
        """(check name, 'path (shape)' lines) of the parameter shapes the contract expected, from the report."""
        return [(name, "\n".join(_shape_lines(tree))) for name, tree in self.report.get("shapes", {}).items()]

    @property
    def passed(self) -> bool:
        return self.verdict == ContractVerdict.PASSED

    @property
    def exit_code(self) -> int:
        """The CLI's exit status: 0 passed, 1 failed, 2 contract error."""
        return {ContractVerdict.PASSED: 0, ContractVerdict.FAILED: 1}.get(self.verdict, 2)


@dataclass
class VerificationOutcome:
    """What a verification attempt found: by contract (check() below) or by a clean run (annotate.fixlog)."""

    passed: bool
    stages: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    method: str = "contract"
    message: str = ""


# --- running ---------------------------------------------------------------------------------------------


def run_contract(
    sample: Sample,
    code: str,
    *,
    user: Any = None,
    session: FixSession | None = None,
    user_key: str = "",
    limits: dict[str, Any] | None = None,
    contract: str | None = None,
) -> ContractResult:
    """Run the sample's contract (or `contract`, a text not saved yet) on `code` in the sandbox.

    The Run is stored with the verdict, stages and report; a run of an unsaved text records no contract
    version. Raises ContractProblem when there is no contract. A text that is neither kind runs as a staged
    contract, so the sandbox reports what is wrong with it as a contract error.
    """
    text = sample.contract if contract is None else contract
    if not text.strip():
        raise ContractProblem(f"sample {sample.key} has no contract")
    kind = kind_of(text)
    nonce = secrets.token_hex(16)
    resolved = sandbox.Limits.resolve(runs.limits_for(sample, limits))  # the sample's own limits count
    budget = round(resolved.wall_s * STAGE_BUDGET_SHARE, 1)
    config = {"nonce": nonce, "mode": "check", "kind": kind, "stage_budget_s": budget}
    files = {
        "torch_program.py": sample.pytorch_code,
        "jax_program.py": code,
        "contract.py": text,
        "t2j_run.json": json.dumps(config),
    }
    if user_key == "" and user is not None:
        user_key = user.get_username()
    run = runs.run(
        DRIVER, RunKind.CONTRACT, user_key or CLI_USER_KEY, files, limits, user=user, session=session, sample=sample
    )
    result = parse_result(run, nonce)
    result.run_id = run.run_id
    result.report["kind"] = kind
    runs.record_verdict(
        run.run_id,
        verdict=result.verdict,
        stages=result.stages,
        code=code,
        contract_version=sample.contract_version if contract is None else None,
        error_message="\n".join(part for part in (result.message, result.hint) if part),
        report=result.report,
    )
    return result


def kind_of(text: str) -> str:
    """The contract's kind (pytest or staged), read without running it; staged when it is neither."""
    try:
        return contract_kind(text)
    except NotAContract:
        return STAGED


def parse_result(run: sandbox.RunResult, nonce: str) -> ContractResult:
    """The driver's result line (the one with this run's nonce), or a contract error saying why there is none."""
    if run.status in SANDBOX_STATUS_ERRORS:
        detail = (run.exception_message or run.stderr or "").strip()[-500:]
        message = SANDBOX_STATUS_ERRORS[run.status] + (f": {detail}" if detail and run.status == "refused" else "")
        return _error(message)
    prefix = f"{MARKER} {nonce} "
    lines = [line[len(prefix) :] for line in run.stdout.splitlines() if line.startswith(prefix)]
    if run.status != "ok" or len(lines) != 1:
        return _error(_no_result_reason(run, len(lines)))
    try:
        data = json.loads(lines[0])
    except ValueError:
        return _error("the contract run's result line is not valid JSON")
    result = _from_driver(data)
    if isinstance(data, dict):
        result.report = clean_report(data)
    return result


def _no_result_reason(run: sandbox.RunResult, found: int) -> str:
    if found > 1:
        return "the contract run printed more than one result line (something imitates the driver's output)"
    if run.exception_type:
        return f"the contract run crashed before reporting: {run.exception_type}: {run.exception_message}"[:MAX_TEXT]
    tail = " ".join(run.stderr.strip().splitlines()[-3:])[-400:]
    return f"the contract run ended (exit code {run.exit_code}) without a result" + (f": {tail}" if tail else "")


def _from_driver(data: Any) -> ContractResult:
    """Check the shape of what the box reported; it comes from untrusted code, so nothing is taken on faith."""
    if not isinstance(data, dict) or data.get("verdict") not in ContractVerdict.values:
        return _error("the contract run reported a result of an unknown shape")
    if data["verdict"] == ContractVerdict.CONTRACT_ERROR:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        result = _error(_text(error.get("message")) or "contract error", _text(error.get("hint")))
        # The stages that passed before the contract broke (e.g. a scaffold's spec stage before its first TODO).
        stages = data.get("stages") if isinstance(data.get("stages"), list) else []
        result.stages = [_clean_stage(stage) for stage in stages if _valid_stage(stage) and stage["status"] == "passed"]
        return result
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages or not all(_valid_stage(stage) for stage in stages):
        return _error("the contract run reported stages of an unknown shape")
    cleaned = [_clean_stage(stage) for stage in stages]
    passed = all(stage["status"] == "passed" for stage in cleaned)
    if passed != (data["verdict"] == ContractVerdict.PASSED):
        return _error("the contract run's verdict does not match its stages")
    result = ContractResult(verdict=data["verdict"], stages=cleaned)
    result.message = "all stages passed" if passed else _failure_message(cleaned)
    return result


def _valid_stage(stage: Any) -> bool:
    return (
        isinstance(stage, dict)
        and stage.get("name") in STAGES
        and stage.get("status") in STAGE_STATUSES
        and (stage.get("mismatch") is None or isinstance(stage.get("mismatch"), dict))
    )


def _clean_stage(stage: dict[str, Any]) -> dict[str, Any]:
    return {"name": stage["name"], "status": stage["status"], "mismatch": _clean_mismatch(stage.get("mismatch"))}


def _clean_mismatch(mismatch: Any) -> dict[str, Any] | None:
    if not isinstance(mismatch, dict):
        return None
    return {
        str(key)[:100]: (_text(value) if isinstance(value, str) else value)
        for key, value in list(mismatch.items())[:MAX_MISMATCH_KEYS]
        if isinstance(value, str | int | float | bool | list) or value is None
    }


def clean_report(data: dict[str, Any]) -> dict[str, Any]:
    """What a run reported beside its stages, checked and capped (it comes from the box, so from untrusted code).

    {"tests": [{"name", "stage", "outcome", "message", "where", "output", "duration_s", "mismatch"}],
     "imports": [{"module", "seconds", "output", "truncated"}], "shapes": {check name: shapes tree}}
    """
    report: dict[str, Any] = {}
    tests = data.get("tests")
    if isinstance(tests, list):
        report["tests"] = [_clean_test(test) for test in tests[:MAX_TESTS] if _valid_test(test)]
    imports = data.get("imports")
    if isinstance(imports, list):
        report["imports"] = [
            {
                "module": entry["module"],
                "seconds": float(entry.get("seconds") or 0),
                "output": _text(entry.get("output"))[-MAX_IMPORT_OUTPUT:],
                "truncated": bool(entry.get("truncated")),
            }
            for entry in imports[: len(PROGRAM_MODULES)]
            if isinstance(entry, dict) and entry.get("module") in PROGRAM_MODULES
            and isinstance(entry.get("seconds", 0), int | float)
        ]  # fmt: skip
    shapes = data.get("shapes")
    if isinstance(shapes, dict) and shapes and len(json.dumps(shapes)) <= MAX_SHAPES_JSON:
        report["shapes"] = {str(name)[:200]: tree for name, tree in list(shapes.items())[:20] if _shape_tree(tree)}
    return report


def _valid_test(test: Any) -> bool:
    return (
        isinstance(test, dict)
        and isinstance(test.get("name"), str)
        and test.get("stage") in STAGES
        and test.get("outcome") in TEST_OUTCOMES
    )


def _clean_test(test: dict[str, Any]) -> dict[str, Any]:
    cleaned = {"name": test["name"][:200], "stage": test["stage"], "outcome": test["outcome"]}
    for key in ("message", "where", "output"):
        if test.get(key):
            cleaned[key] = _text(test[key])
    if isinstance(test.get("duration_s"), int | float):
        cleaned["duration_s"] = float(test["duration_s"])
    mismatch = _clean_mismatch(test.get("mismatch"))
    if mismatch:
        cleaned["mismatch"] = mismatch
    return cleaned


def _shape_lines(tree: Any, path: str = "") -> list[str]:
    """A shapes tree as one 'path (d0, d1)' line per leaf: params.conv1.kernel (3, 3, 1, 8)."""
    if isinstance(tree, dict):
        return [line for key, value in tree.items() for line in _shape_lines(value, f"{path}.{key}" if path else key)]
    if tree and all(isinstance(item, list | dict) for item in tree):
        return [line for index, value in enumerate(tree) for line in _shape_lines(value, f"{path}[{index}]")]
    return [f"{path or 'value'} ({', '.join(map(str, tree))}{',' if len(tree) == 1 else ''})"]


def _shape_tree(tree: Any) -> bool:
    """A tree of dicts/lists whose leaves are shapes (lists of non-negative ints)."""
    if isinstance(tree, dict):
        return all(_shape_tree(value) for value in tree.values())
    if isinstance(tree, list):
        return all(isinstance(n, int) and n >= 0 for n in tree) or all(_shape_tree(value) for value in tree)
    return False


def _failure_message(stages: list[dict[str, Any]]) -> str:
    failed = next(stage for stage in stages if stage["status"] == "failed")
    mismatch = failed["mismatch"] or {}
    return f"failed at the {failed['name']} stage: {mismatch.get('check', '?')}: {mismatch.get('message', '')}"


def _error(message: str, hint: str = "") -> ContractResult:
    return ContractResult(verdict=ContractVerdict.CONTRACT_ERROR, message=message, hint=hint)


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT] if value is not None else ""


def result_of(run: Run) -> ContractResult:
    """A stored contract run as a ContractResult (for pages that show the stage panel)."""
    result = ContractResult(
        verdict=run.verdict, stages=list(run.stages or []), run_id=run.pk, report=dict(run.contract_report or {})
    )
    if run.verdict == ContractVerdict.CONTRACT_ERROR:
        result.message = run.exception_message
    elif run.verdict == ContractVerdict.FAILED and result.stages:
        result.message = _failure_message(result.stages)
    return result


# --- timing (for the runtime metric) ---------------------------------------------------------------------


def timing_run(
    sample: Sample,
    code: str,
    *,
    repeats: int = 5,
    user_key: str = "runtime-bench",
    limits: dict[str, Any] | None = None,
) -> tuple[dict[str, dict[str, Any]], int | None]:
    """Time the function the contract names per side (TIME + timing()): first call apart, median of `repeats`.

    Returns ({"torch": {"function", "first_s", "median_s", "repeats"}, "jax": {...}}, id of the sandbox Run
    that measured it, stored with the runtime metric); raises ContractProblem when the contract names
    nothing to time or the run gives no timing.
    """
    if not sample.contract.strip():
        raise ContractProblem(f"sample {sample.key} has no contract")
    if kind_of(sample.contract) != STAGED:
        raise ContractProblem("timing needs a staged contract (TIME and timing()); this one is pytest-style")
    nonce = secrets.token_hex(16)
    files = {
        "torch_program.py": sample.pytorch_code,
        "jax_program.py": code,
        "contract.py": sample.contract,
        "t2j_run.json": json.dumps({"nonce": nonce, "mode": "time", "kind": STAGED, "repeats": int(repeats)}),
    }
    run = runs.run(DRIVER, RunKind.CONTRACT, user_key, files, limits, sample=sample)
    if run.status in SANDBOX_STATUS_ERRORS:
        raise ContractProblem(SANDBOX_STATUS_ERRORS[run.status])
    prefix = f"{MARKER} {nonce} "
    lines = [line[len(prefix) :] for line in run.stdout.splitlines() if line.startswith(prefix)]
    if run.status != "ok" or len(lines) != 1:
        raise ContractProblem(_no_result_reason(run, len(lines)))
    try:
        data = json.loads(lines[0])
    except ValueError as error:
        raise ContractProblem("the timing run's result line is not valid JSON") from error
    if isinstance(data, dict) and data.get("verdict") == ContractVerdict.CONTRACT_ERROR:
        raise ContractProblem(_text((data.get("error") or {}).get("message")) or "contract error")
    timing = data.get("timing") if isinstance(data, dict) else None
    if not _valid_timing(timing):
        raise ContractProblem("the timing run reported a result of an unknown shape")
    return timing, run.run_id


def names_timed_functions(sample: Sample) -> bool:
    """Whether the contract declares what to time (a top-level TIME and a timing() function), read, not run."""
    try:
        tree = ast.parse(sample.contract)
    except (SyntaxError, ValueError):
        return False
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return {"TIME", "timing"} <= names


def _valid_timing(timing: Any) -> bool:
    if not isinstance(timing, dict) or set(timing) != {"torch", "jax"}:
        return False
    for side in timing.values():
        numbers = [side.get("first_s"), side.get("median_s"), *(side.get("repeats") or [None])]
        if not all(isinstance(n, int | float) and n >= 0 for n in numbers) or not isinstance(side.get("function"), str):
            return False
    return True


# --- the workspace's verify gate ------------------------------------------------------------------------


def check(session: FixSession) -> VerificationOutcome:
    """Run the contract on the session's current code: annotate.fixlog's verify gate calls this."""
    sample = session.translation.sample
    result = run_contract(sample, session.current_code, user=session.owner, session=session)
    if result.passed:
        message = f"Contract v{sample.contract_version} passed: {stage_summary(result.stages)}."
    elif result.verdict == ContractVerdict.FAILED:
        message = f"Not verified: the translation {result.message}."
    else:
        # Neither passed nor failed; the hint may still ask for a change to the translation (a main guard).
        message = f"Not verified: the contract could not be checked: {result.message.rstrip('.')}." + (
            f" {result.hint}" if result.hint else ""
        )
    return VerificationOutcome(
        passed=result.passed, stages=result.stages, run_id=result.run_id, method="contract", message=message
    )


def stage_summary(stages: list[dict[str, Any]]) -> str:
    """'spec passed, numeric passed, behavioral failed': which stages ran and how (the badge text)."""
    return ", ".join(f"{stage.get('name')} {stage.get('status')}" for stage in stages) or "no stages"


# --- the command line ------------------------------------------------------------------------------------


def code_to_verify(translation: Translation) -> tuple[str, str, FixSession | None]:
    """(code, where it came from, session): the open session's code, else the verified one's, else the draft."""
    for status in (SessionStatus.OPEN, SessionStatus.VERIFIED):
        session = translation.fix_sessions.filter(status=status).first()
        if session is not None:
            return session.current_code, f"{status} session {session.pk}", session
    return translation.code, "draft", None


# --- a system's translations ----------------------------------------------------------------------------


@dataclass
class SampleVerdict:
    """One translation of a batch: its sample, which code was checked, and what the contract said."""

    sample: str
    source: str
    verdict: str
    message: str = ""
    run_id: int | None = None


@dataclass
class BatchReport:
    """A system checked against its samples' contracts; samples without a contract are listed, not counted."""

    system: str
    results: list[SampleVerdict] = field(default_factory=list)
    no_contract: list[str] = field(default_factory=list)
    cancelled: bool = False

    def counts(self) -> dict[str, int]:
        counts = {verdict: 0 for verdict in ContractVerdict.values}
        for result in self.results:
            counts[result.verdict] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 any failed, 2 any contract error (or nothing was checked)."""
        counts = self.counts()
        if counts[ContractVerdict.CONTRACT_ERROR] or not self.results:
            return 2
        return 1 if counts[ContractVerdict.FAILED] else 0


def batch_plan(system: System) -> tuple[list[Translation], list[str]]:
    """(the system's translations whose sample has a contract, the keys of its samples without one)."""
    translations = list(system.translations.select_related("sample").order_by("sample__import_position", "sample__key"))
    checked = [t for t in translations if t.sample.contract.strip()]
    return checked, [t.sample.key for t in translations if not t.sample.contract.strip()]


def verify_translation(translation: Translation, *, user: Any = None) -> SampleVerdict:
    """Run its sample's contract on the translation's code (code_to_verify); not attached to any session."""
    code, source, _ = code_to_verify(translation)
    try:
        result = run_contract(translation.sample, code, user=user, user_key="" if user else CLI_USER_KEY)
    except (ContractProblem, sandbox.InvalidRunInput) as problem:
        return SampleVerdict(translation.sample.key, source, ContractVerdict.CONTRACT_ERROR, str(problem))
    return SampleVerdict(translation.sample.key, source, result.verdict, result.message, result.run_id)


def verify_system(
    system: System,
    *,
    user: Any = None,
    on_result: Any = None,
    should_stop: Any = None,
) -> BatchReport:
    """Check every translation of `system` whose sample has a contract, one at a time.

    `on_result(SampleVerdict)` is called after each; `should_stop()` is asked before each (a cancelled job).
    """
    translations, no_contract = batch_plan(system)
    report = BatchReport(system=system.name, no_contract=no_contract)
    for translation in translations:
        if should_stop is not None and should_stop():
            report.cancelled = True
            break
        outcome = verify_translation(translation, user=user)
        report.results.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return report


# --- changing a contract ---------------------------------------------------------------------------------


def validate_contract(text: str) -> str:
    """The contract text if it is Python that compiles and is a contract of either kind (empty removes the
    contract); raises ContractProblem saying why not."""
    if not isinstance(text, str) or "\x00" in text:
        raise ContractProblem("The contract must be text without NUL characters.")
    text = text.replace("\r\n", "\n")
    if text.strip():
        try:
            compile(text, "contract.py", "exec")
        except SyntaxError as error:
            raise ContractProblem(f"The contract is not valid Python: line {error.lineno}: {error.msg}") from error
        try:
            contract_kind(text)
        except NotAContract as problem:
            raise ContractProblem(f"This is not a contract. {problem}") from None
    return text


def change_contract(sample: Sample, text: str, *, based_on: int | None, user: Any = None) -> int:
    """Store a new contract, bump its version and mark sessions verified under the old one stale.

    `based_on` is the version the editor started from: a different current version means someone changed
    the contract meanwhile, and nothing is saved. Returns how many sessions became stale.
    """
    text = validate_contract(text)
    with transaction.atomic():
        current = Sample.objects.select_for_update().get(pk=sample.pk)
        if based_on is not None and current.contract_version != based_on:
            raise ContractProblem(
                f"Not saved: the contract was changed meanwhile (now version {current.contract_version}, you edited "
                f"version {based_on}). Reload the page to see it."
            )
        if text == current.contract:
            sample.refresh_from_db()
            return 0
        current.contract = text
        current.contract_version += 1
        current.save(update_fields=["contract", "contract_version", "updated_at"])
        stale = mark_stale(current, actor=user)
    sample.refresh_from_db()
    return stale


def mark_stale(sample: Sample, *, actor: Any = None) -> int:
    """Sessions verified under an older version of the sample's contract become stale, each with an event."""
    sessions = FixSession.objects.filter(
        translation__sample=sample,
        status=SessionStatus.VERIFIED,
        is_stale=False,
        contract_version__lt=sample.contract_version,
    )
    count = 0
    for session in sessions:
        FixSession.objects.filter(pk=session.pk).update(is_stale=True)
        SessionEvent.objects.create(
            session=session,
            kind=SessionEventKind.STALE,
            actor=actor,
            detail={"verified_under": session.contract_version, "contract_version": sample.contract_version},
        )
        count += 1
    return count
