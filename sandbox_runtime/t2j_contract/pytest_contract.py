"""Pytest-style contracts: a plain test module, as the T2J authors wrote their equivalence checks, run under pytest.

The driver calls `run(config)` when the host says the contract is a test module ("kind": "pytest"). The
programs are imported ONCE, each under all its names, and may run at import as the authors' unguarded
scripts do (their output is captured and reported, the time counts against the run's limit):

    PyTorch program   pytorch_code, torch_program
    candidate         jax_code, jax_code_fixed, jax_program

Then pytest collects contract.py and runs its tests in stage order, each test under the stage budget:

    spec        collecting the module (its imports of the programs' names) and tests marked `spec`
    numeric     every other test (the authors' tier 1: forward pass, loss, one training step, 1e-5)
    behavioral  tests whose name says convergence or training, or marked `convergence`, `training` or
                `behavioral` (the authors' tier 2, 1e-2)

A stage with a failing test stops the run: later stages' tests are reported `not-reached`. Each test's
outcome, assertion message, failing line, duration and output are reported, and for array comparisons
(t2j_contract's helpers, numpy.testing.assert_allclose, np/jnp/torch.allclose) what differed: shapes,
dtypes, max abs/rel difference, the first differing index.

Blame, as pytest counts it with two exceptions: a test that fails or raises fails the translation, unless
the error comes from the PyTorch program, names nothing of the candidate on the contract's failing line, or
the contract cannot be collected for a reason of its own: those are contract errors.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from t2j_contract.compare import Mismatch, difference
from t2j_contract.driver import (
    CONTRACT,
    JAX,
    STAGES,
    TORCH,
    UNFINISHED_HINT,
    Alarm,
    ContractError,
    Overtime,
    blame,
    describe,
    import_budget,
    import_program,
)
from t2j_contract.spec import Unfinished

try:
    import pytest
except ImportError:  # an older runtime: run() says so as a contract error
    pytest = None

ALIASES = {TORCH: ("pytorch_code",), JAX: ("jax_code", "jax_code_fixed")}
# Which stage a test belongs to; annotate/contract_interface.py reads contracts by the same rule.
STAGE_BY_MARK = {"spec": "spec", "numeric": "numeric", "behavioral": "behavioral", "convergence": "behavioral",
                 "training": "behavioral"}  # fmt: skip
BEHAVIORAL_NAME = re.compile(r"converg|training", re.IGNORECASE)
INI = "t2j_pytest.ini"
MAX_TESTS = 200
MESSAGE_CHARS = 2000
OUTPUT_CHARS = 2000
NO_PYTEST = (
    "this sandbox runtime has no pytest, which pytest-style contracts need: rebuild it with scripts/setup_sandbox.sh"
)


def stage_of(name: str, marks: Iterable[str] = ()) -> str:
    """The stage of a test: by its marks first, else by its name (convergence/training: behavioral)."""
    for mark in marks:
        if mark in STAGE_BY_MARK:
            return STAGE_BY_MARK[mark]
    return "behavioral" if BEHAVIORAL_NAME.search(name) else "numeric"


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Import the programs under their names, run the test module under pytest, report stages and tests."""
    if pytest is None:
        raise ContractError(NO_PYTEST, where=CONTRACT)
    budget = float(config.get("stage_budget_s") or 0)
    _alias(import_program(TORCH, run_budget=import_budget(config)), TORCH)
    try:
        jax_program = import_program(JAX, run_budget=import_budget(config))
    except Mismatch as mismatch:
        return _failed_import(mismatch)
    _alias(jax_program, JAX)
    recorder = Recorder(jax_program, budget)
    with open(INI, "w", encoding="utf-8") as handle:
        handle.write(_ini())
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the runtime's own pytest plugins stay out of it
    sys.dont_write_bytecode = True
    restore = _watch_comparisons(recorder)
    try:
        pytest.main(
            ["-c", INI, "--rootdir", ".", "--noconftest", "-p", "no:cacheprovider", "-p", "no:stepwise",
             "--capture=sys", "-q", f"{CONTRACT}.py"],
            plugins=[recorder],
        )  # fmt: skip
    finally:
        restore()
    return recorder.result()


def _alias(module: Any, name: str) -> None:
    for alias in ALIASES[name]:
        sys.modules[alias] = module


def _ini() -> str:
    marks = "\n".join(f"    {mark}: runs in the {stage} stage" for mark, stage in STAGE_BY_MARK.items())
    return f"[pytest]\npython_files = {CONTRACT}.py\nmarkers =\n{marks}\n"


def _failed_import(mismatch: Mismatch) -> dict[str, Any]:
    stages = [{"name": "spec", "status": "failed", "mismatch": mismatch.as_dict()}]
    stages += [{"name": name, "status": "not-reached", "mismatch": None} for name in STAGES[1:]]
    return {"verdict": "failed", "stages": stages, "tests": []}


def _hookimpl(**options: Any) -> Callable:
    return pytest.hookimpl(**options) if pytest is not None else (lambda function: function)


class Recorder:
    """A pytest plugin that orders the tests by stage, stops after a failing stage and records every outcome."""

    def __init__(self, jax_program: Any, budget: float) -> None:
        self.jax_program = jax_program
        self.budget = budget
        self.tests: dict[str, dict[str, Any]] = {}
        self.spec_failure: dict[str, Any] | None = None
        self.error: ContractError | None = None
        self.failed_stage = ""
        self.last_comparison: dict[str, Any] | None = None
        self._started: dict[str, float] = {}

    # --- collection ---

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list) -> None:
        for item in items:
            stage = stage_of(item.name, [mark.name for mark in item.iter_markers()])
            self.tests[item.nodeid] = {"name": _test_name(item.nodeid), "stage": stage, "outcome": "not-run"}
        items.sort(key=lambda item: STAGES.index(self.tests[item.nodeid]["stage"]))  # stable: file order within

    def pytest_exception_interact(self, node: Any, call: Any, report: Any) -> None:
        """Called with the exception for a failed collection and a failed test phase: decide the blame."""
        if node.nodeid in self.tests:
            self._test_failed(node, call.excinfo)
        else:
            self._collection_failed(call.excinfo)
            node.session.shouldstop = "the contract could not be collected"

    def _collection_failed(self, excinfo: Any) -> None:
        exc = excinfo.value
        cause = exc.__cause__ or exc
        missing = re.search(r"cannot import name '(\w+)' from '(\w+)'", str(cause))
        if isinstance(cause, ImportError) and missing and missing.group(2) in (JAX, *ALIASES[JAX]):
            name = missing.group(1)
            self.spec_failure = {
                "check": f"jax_code.{name}",
                "message": f"the JAX translation has no {name!r}, which the contract imports",
            }
        elif isinstance(cause, AssertionError) or blame(cause) == JAX:
            self.spec_failure = {"check": "collecting the contract", "message": _exconly(cause)}
        else:
            text = str(exc) if cause is exc else f"{type(cause).__name__}: {cause}"
            self.error = ContractError(f"the contract cannot be collected: {text[-MESSAGE_CHARS:]}", where=CONTRACT)

    # --- running ---

    @_hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> None:
        record = self.tests[item.nodeid]
        self.last_comparison = None
        self._started[item.nodeid] = time.monotonic()
        if self.failed_stage and STAGES.index(record["stage"]) > STAGES.index(self.failed_stage):
            record["outcome"] = "not-reached"
            pytest.skip(f"not reached: the {self.failed_stage} stage failed")

    @_hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: Any):
        """The stage budget covers each test's body; Overtime then fails it like any other exception."""
        with Alarm(self.budget):
            return (yield)

    def pytest_runtest_logreport(self, report: Any) -> None:
        record = self.tests.get(report.nodeid)
        if record is None or record["outcome"] == "not-reached":
            return
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome if report.when == "call" else ("error" if report.failed else report.outcome)
            if record["outcome"] in ("not-run", "passed"):
                record["outcome"] = outcome
        if report.outcome == "skipped" and "message" not in record:
            longrepr = report.longrepr
            record["message"] = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)[:MESSAGE_CHARS]
        output = (report.capstdout or "") + (report.capstderr or "")  # each phase's report holds all so far
        if output:
            record["output"] = output[-OUTPUT_CHARS:]
        if report.when == "teardown":
            record["duration_s"] = round(time.monotonic() - self._started.get(report.nodeid, time.monotonic()), 3)

    def _test_failed(self, item: Any, excinfo: Any) -> None:
        record = self.tests[item.nodeid]
        exc = excinfo.value
        where = _contract_line(excinfo)
        record["where"] = where[0] if where else ""
        problem = self._contract_problem(exc, where)
        if problem:
            self.error = ContractError(f"{record['name']}: {problem}", where=blame(exc) or CONTRACT)
            if isinstance(exc, Unfinished):
                self.error.hint = UNFINISHED_HINT
            item.session.shouldstop = "contract error"
            return
        if isinstance(exc, Overtime):
            record["message"] = _overtime_message(self.budget)
        else:  # an assertion as pytest explains it; another error with the place it came from
            record["message"] = _exconly(exc) if isinstance(exc, AssertionError) else describe(exc)[:MESSAGE_CHARS]
        if isinstance(exc, Mismatch):
            record["mismatch"] = exc.as_dict()
        elif self.last_comparison is not None:
            record["mismatch"] = self.last_comparison
        if not self.failed_stage:
            self.failed_stage = record["stage"]

    def _contract_problem(self, exc: BaseException, where: tuple[str, str] | None) -> str:
        """Why this error is the contract's (or the PyTorch program's), or "" when the translation failed."""
        if isinstance(exc, Unfinished):
            return f"the contract is unfinished: {exc}"
        side = blame(exc)
        if isinstance(exc, Overtime):
            return "" if side == JAX else f"took more than {self.budget:g} s outside the JAX translation"
        if isinstance(exc, AssertionError) or side == JAX:
            return ""
        if isinstance(exc, AttributeError) and getattr(exc, "obj", None) is self.jax_program:
            return ""
        if side == TORCH:
            return f"the PyTorch program raised {describe(exc)}"
        line = where[1] if where else ""
        if self._names_candidate(line):
            return ""
        return f"the contract raised {describe(exc)} on a line that uses nothing of the JAX translation"

    def _names_candidate(self, line: str) -> bool:
        """Whether a line of the contract uses the candidate: its module names or a name imported from it."""
        words = set(re.findall(r"[A-Za-z_]\w*", line))
        if words & {JAX, *ALIASES[JAX]}:
            return True
        contract = sys.modules.get(CONTRACT)
        namespace = vars(contract) if contract is not None else {}
        return any(
            word in namespace and getattr(self.jax_program, word, None) is namespace[word]
            for word in words
            if not word.startswith("__")
        )

    # --- the result ---

    def result(self) -> dict[str, Any]:
        tests = sorted(self.tests.values(), key=lambda test: STAGES.index(test["stage"]))[:MAX_TESTS]
        if self.error is not None:
            raise _with_tests(self.error, tests)
        if self.spec_failure is not None:
            stages = [_stage("spec", "failed", self.spec_failure)]
            stages += [_stage(name, "not-reached") for name in STAGES[1:]]
            return {"verdict": "failed", "stages": stages, "tests": tests}
        if not tests:
            raise _with_tests(ContractError("the contract has no tests (functions named test_...)", where=CONTRACT), [])
        stages = []
        for name in STAGES:
            of_stage = [test for test in tests if test["stage"] == name]
            if not of_stage and name != "spec":
                continue
            failed = next((test for test in of_stage if test["outcome"] in ("failed", "error")), None)
            if failed is not None:
                stages.append(_stage(name, "failed", _stage_mismatch(failed)))
            elif self.failed_stage and STAGES.index(name) > STAGES.index(self.failed_stage):
                stages.append(_stage(name, "not-reached"))
            else:
                stages.append(_stage(name, "passed"))
        verdict = "passed" if all(stage["status"] == "passed" for stage in stages) else "failed"
        return {"verdict": verdict, "stages": stages, "tests": tests}


def _stage(name: str, status: str, mismatch: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "mismatch": mismatch}


def _stage_mismatch(test: dict[str, Any]) -> dict[str, Any]:
    """The failing stage's mismatch: the first failing test, named, with what differed when that is known."""
    details = dict(test.get("mismatch") or {})
    details.pop("check", None)
    details.pop("message", None)
    return {
        "check": test["name"],
        "message": test.get("message", ""),
        "test": test["name"],
        "where": test.get("where", ""),
        **details,
    }


def _with_tests(error: ContractError, tests: list[dict[str, Any]]) -> ContractError:
    """The contract error, carrying the tests recorded so far (the driver reports them beside the error)."""
    error.tests = tests
    return error


def _test_name(nodeid: str) -> str:
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


def _exconly(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return text[:MESSAGE_CHARS]


def _overtime_message(budget: float) -> str:
    return f"the JAX translation took more than {budget:g} s"


def _contract_line(excinfo: Any) -> tuple[str, str] | None:
    """('contract.py:LINE', the statement's source) of the innermost frame in the contract, if any."""
    for entry in reversed(excinfo.traceback):
        if os.path.basename(str(entry.path)) == f"{CONTRACT}.py":
            try:
                source = str(entry.statement)
            except Exception:  # no source to show: the location alone still helps
                source = ""
            return f"{CONTRACT}.py:{entry.lineno + 1}", source
    return None


# --- what an array comparison found -----------------------------------------------------------------------------

# (module, attribute, argument names (got, expected, rtol, atol), defaults); `decimal` becomes an absolute tolerance.
COMPARISONS = [
    ("numpy.testing", "assert_allclose", ("actual", "desired", "rtol", "atol"), {"rtol": 1e-7, "atol": 0.0}),
    ("numpy.testing", "assert_array_almost_equal", ("actual", "desired", "decimal"), {"decimal": 6}),
    ("numpy", "allclose", ("a", "b", "rtol", "atol"), {"rtol": 1e-5, "atol": 1e-8}),
    ("jax.numpy", "allclose", ("a", "b", "rtol", "atol"), {"rtol": 1e-5, "atol": 1e-8}),
    ("torch", "allclose", ("input", "other", "rtol", "atol"), {"rtol": 1e-5, "atol": 1e-8}),
]


def _watch_comparisons(recorder: Recorder) -> Callable[[], None]:
    """Wrap the array comparisons tests use, so a failed one leaves what differed on the recorder.

    The first argument is taken as the translation's value (got), the second as the expected one, as in
    `np.testing.assert_allclose(jax_out, torch_out)`. Returns a function that puts the originals back.
    """
    undo = []
    for module_name, attribute, names, defaults in COMPARISONS:
        if module_name.split(".")[0] not in sys.modules:
            continue  # neither program uses that framework; importing it here would only cost time
        module = importlib.import_module(module_name)  # numpy.testing loads lazily
        original = getattr(module, attribute, None)
        if original is None:
            continue
        wrapped = _watched(original, f"{module_name}.{attribute}", names, defaults, recorder)
        setattr(module, attribute, wrapped)
        undo.append((module, attribute, original))

    def restore() -> None:
        for module, attribute, original in undo:
            setattr(module, attribute, original)

    return restore


def _watched(original: Callable, label: str, names: tuple, defaults: dict, recorder: Recorder) -> Callable:
    def note(args: tuple, kwargs: dict) -> None:
        try:
            values = {
                **defaults,
                **dict(zip(names, args, strict=False)),
                **{k: kwargs[k] for k in names if k in kwargs},
            }
            got, expected = values[names[0]], values[names[1]]
            if "decimal" in values:
                rtol, atol = 0.0, 1.5 * 10.0 ** (-values["decimal"])
            else:
                rtol, atol = float(values["rtol"]), float(values["atol"])
            details = difference(got, expected, rtol=rtol, atol=atol)
        except Exception:  # tracers, strings, odd arguments: nothing to add to the test's own message
            return
        if details is not None:
            recorder.last_comparison = {"function": label, **details}

    def comparison(*args: Any, **kwargs: Any) -> Any:
        try:
            result = original(*args, **kwargs)
        except AssertionError:
            note(args, kwargs)
            raise
        try:
            failed = result is False or (getattr(result, "shape", None) == () and not bool(result))
        except Exception:  # a traced value inside jit: not a test's comparison
            failed = False
        if failed:
            note(args, kwargs)
        return result

    return functools.update_wrapper(comparison, original)  # pytest's assertion messages show the original name
