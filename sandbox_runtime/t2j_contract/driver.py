"""The contract run's main program, inside the sandbox.

The host writes four files beside main.py: `torch_program.py` (the sample's PyTorch source),
`jax_program.py` (the candidate translation), `contract.py` (the sample's contract) and `t2j_run.json`
({"nonce": ..., "mode": "check"|"time", ...}). main.py is `from t2j_contract.driver import main; main()`.

It imports both programs as modules (their guarded `main` does not run), runs the contract's stages in
order (spec → numeric → behavioral), stops at the first failing stage and prints ONE line
`T2J-CONTRACT-RESULT <nonce> <json>` on the real stdout; everything the programs print goes to stderr.
Blame: an error raised from the candidate's own code is a failure of the translation; an error of the
contract, of the PyTorch program, or of anything else is a contract error, never the translation's fault.

A pytest-style contract (config "kind": "pytest", a plain test module) is run by t2j_contract.pytest_contract
instead of the stage functions. Every result also reports how importing each program went (`imports`:
seconds and what it printed) and the parameter shapes the contract's assert_same_shapes expected (`shapes`).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from t2j_contract.compare import EXPECTED_SHAPES, Mismatch, _plain
from t2j_contract.spec import Unfinished

MARKER = "T2J-CONTRACT-RESULT"
CONFIG = "t2j_run.json"
STAGES = ("spec", "numeric", "behavioral")
TORCH, JAX, CONTRACT = "torch_program", "jax_program", "contract"
IMPORT_BUDGET_S = 20
# A step over its (wall-clock) budget that got less than this share of it as CPU time was starved by a busy
# machine, not slow: neither program is blamed, the run says so and can be repeated.
STARVED_CPU_SHARE = 0.5
IMPORT_OUTPUT_CHARS = 4000
UNFINISHED_HINT = "The contract still has a TODO the scaffold left for a person to decide: finish it in the editor."
GUARD_HINT = (
    "Programs are imported as modules, so everything at module level runs on import. Put training, data "
    'downloads and printing in a main() function called under `if __name__ == "__main__":`, and keep only '
    "imports, constants, functions and classes at module level."
)


class ContractError(Exception):
    """The check could not be carried out; the translation is neither passed nor failed."""

    def __init__(self, message: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(message)
        self.message, self.hint, self.where = message, hint, where
        self.tests: list[dict[str, Any]] = []  # a pytest-style contract's tests recorded before it broke
        self.stages: list[dict[str, Any]] = []  # the stages that passed before it broke


class Overtime(BaseException):
    """Raised by the alarm: a step of the run took longer than its budget (BaseException: not swallowed)."""


# How importing each program went, in order: {"module", "seconds", "output", "truncated"} (see import_program).
IMPORTS: list[dict[str, Any]] = []


def main() -> None:
    config = _read_config()
    result_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # Only the result line goes to the real stdout; programs and contract print to stderr.
    sys.stdout = sys.stderr
    try:
        result = run(config)
    except ContractError as error:
        result = contract_error(error)
    result.update(imports=IMPORTS, shapes=EXPECTED_SHAPES)
    result_out.write(f"{MARKER} {config['nonce']} {json.dumps(_plain(result))}\n")
    result_out.flush()


def _read_config() -> dict[str, Any]:
    with open(CONFIG, encoding="utf-8") as handle:
        config = json.load(handle)
    # Gone before any program runs, so the nonce is not lying around to copy into a forged result line.
    os.remove(CONFIG)
    return config


def contract_error(error: ContractError) -> dict[str, Any]:
    return {
        "verdict": "contract-error",
        "stages": error.stages,
        "error": {"message": error.message, "hint": error.hint, "where": error.where},
        "tests": error.tests,
    }


def run(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("kind") == "pytest":
        from t2j_contract import pytest_contract

        return pytest_contract.run(config)
    contract = _import_contract()
    stages = [name for name in STAGES if callable(getattr(contract, name, None))]
    if not stages:
        raise ContractError(f"the contract defines none of the stage functions {', '.join(STAGES)}", where=CONTRACT)
    # A contract for script-like programs (the paper's) may let them run at import: output captured, time counted.
    at_import = import_budget(config) if getattr(contract, "PROGRAMS_RUN_AT_IMPORT", False) is True else None
    torch_program = import_program(TORCH, run_budget=at_import)
    if config.get("mode") == "time":
        jax_program = import_program(JAX, run_budget=at_import)
        return {"verdict": "timed", "stages": [], "timing": _time(contract, torch_program, jax_program, config)}
    try:
        jax_program = import_program(JAX, run_budget=at_import)
    except Mismatch as mismatch:
        return _stage_results(stages, failed_at=0, mismatch=mismatch.as_dict())
    budget = float(config.get("stage_budget_s") or 0)
    for index, name in enumerate(stages):
        try:
            mismatch = _run_stage(getattr(contract, name), name, torch_program, jax_program, budget)
        except ContractError as error:
            error.stages = [_stage(passed, "passed") for passed in stages[:index]]
            raise
        if mismatch is not None:
            return _stage_results(stages, failed_at=index, mismatch=mismatch)
    return {"verdict": "passed", "stages": [_stage(name, "passed") for name in stages]}


def import_budget(config: dict[str, Any]) -> float:
    """How long a program that runs at import may take: the stage budget (a share of the sample's limit)."""
    return float(config.get("stage_budget_s") or 0) or IMPORT_BUDGET_S


def _stage(name: str, status: str, mismatch: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "mismatch": mismatch}


def _stage_results(stages: list[str], *, failed_at: int, mismatch: dict[str, Any]) -> dict[str, Any]:
    results = [_stage(name, "passed") for name in stages[:failed_at]]
    results.append(_stage(stages[failed_at], "failed", mismatch))
    results += [_stage(name, "not-reached") for name in stages[failed_at + 1 :]]
    return {"verdict": "failed", "stages": results}


# --- imports ---------------------------------------------------------------------------------------------


def _import_contract() -> Any:
    try:
        return importlib.import_module(CONTRACT)
    except BaseException as exc:  # noqa: B036 - any failure here is the contract's
        raise ContractError(f"the contract does not import: {describe(exc)}", where=CONTRACT) from exc


def import_program(name: str, *, run_budget: float | None = None) -> Any:
    """Import a program as a module and record how it went in IMPORTS.

    By default code that runs at import time (printing, more than IMPORT_BUDGET_S) is refused with the guard
    hint. With `run_budget` (seconds) the program may run at import, as a script does: what it prints is
    captured and reported, and it may take that long. Raises ContractError (the PyTorch program, or any
    program exiting), Mismatch (the candidate does not import).
    """
    side = "PyTorch program" if name == TORCH else "JAX translation"
    budget = run_budget if run_budget is not None else IMPORT_BUDGET_S
    captured = io.StringIO()
    sys.stdout = captured
    started = time.monotonic()
    try:
        with Alarm(budget) as alarm:
            module = importlib.import_module(name)
    except Overtime as exc:
        if alarm.starved():
            raise alarm.busy_machine_error(f"importing the {side}") from exc
        if run_budget is not None and name == JAX:
            raise Mismatch(f"import {name}", f"importing the JAX translation took more than {budget:g} s") from exc
        raise ContractError(
            f"importing the {side} took more than {budget:g} s"
            + ("" if run_budget is not None else ": it runs (trains, downloads) at import time"),
            hint="" if run_budget is not None else GUARD_HINT,
            where=name,
        ) from exc
    except SystemExit as exc:
        raise ContractError(
            f"the {side} exits when imported (SystemExit {exc.code!r})", hint=GUARD_HINT, where=name
        ) from None
    except BaseException as exc:  # noqa: B036
        if name == TORCH:
            raise ContractError(f"the PyTorch program does not import: {describe(exc)}", where=name) from exc
        raise Mismatch(f"import {name}", f"the JAX translation does not import: {describe(exc)}") from exc
    finally:
        sys.stdout = sys.stderr
        seconds = time.monotonic() - started
        printed = captured.getvalue()
        sys.stderr.write(printed)
        IMPORTS.append(
            {
                "module": name,
                "seconds": round(seconds, 3),
                "output": printed[-IMPORT_OUTPUT_CHARS:],
                "truncated": len(printed) > IMPORT_OUTPUT_CHARS,
            }
        )
    if printed.strip() and run_budget is None:
        first = printed.strip().splitlines()[0][:200]
        raise ContractError(
            f"the {side} printed output while being imported ({first!r}, after {seconds:.1f} s): "
            "it runs code at import time",
            hint=GUARD_HINT,
            where=name,
        )
    return module


# --- stages ----------------------------------------------------------------------------------------------


def _run_stage(
    function: Callable, name: str, torch_program: Any, jax_program: Any, budget: float
) -> dict[str, Any] | None:
    """None when the stage passes; the mismatch when the translation fails it. Raises ContractError."""
    alarm = Alarm(budget)
    try:
        with alarm:
            function(torch_program, jax_program)
    except Mismatch as mismatch:
        return mismatch.as_dict()
    except Overtime as exc:
        if alarm.starved():
            raise alarm.busy_machine_error(f"the {name} stage") from exc
        if blame(exc) == JAX:
            return {"check": f"{name} stage", "message": f"the JAX translation took more than {budget:g} s"}
        raise ContractError(f"the {name} stage took more than {budget:g} s", where=CONTRACT) from exc
    except Unfinished as exc:
        raise ContractError(f"the contract is unfinished at its {name} stage: {exc}", hint=UNFINISHED_HINT) from exc
    except BaseException as exc:  # noqa: B036
        if isinstance(exc, AttributeError) and getattr(exc, "obj", None) is jax_program:
            return {"check": f"{JAX}.{exc.name}", "message": f"the JAX translation has no {exc.name!r}"}
        if blame(exc) == JAX:
            return {"check": f"{name} stage", "message": f"the JAX translation raised {describe(exc)}"}
        where = blame(exc) or CONTRACT
        raise ContractError(f"the {name} stage crashed in {where}: {describe(exc)}", where=where) from exc
    return None


def blame(exc: BaseException) -> str:
    """Which of our files the error came from: the candidate when any of its frames is on the stack."""
    files = [os.path.splitext(os.path.basename(f.filename))[0] for f in traceback.extract_tb(exc.__traceback__)]
    for name in (JAX, TORCH, CONTRACT):
        if name in files:
            return name
    return ""


def describe(exc: BaseException) -> str:
    """'Type: message (file.py:line in function)' at the innermost frame of our own files."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{text} ({os.path.basename(exc.filename)}:{exc.lineno})"
    ours = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if os.path.splitext(os.path.basename(f.filename))[0] in (JAX, TORCH, CONTRACT)
    ]
    if ours:
        frame = ours[-1]
        text += f" ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
    return text[:2000]


class Alarm:
    """Raise Overtime in the main thread after `seconds` (0: no alarm)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> Alarm:
        self.cpu_started = time.process_time()
        if self.seconds > 0:
            self.previous = signal.signal(signal.SIGALRM, self._ring)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def starved(self) -> bool:
        """Whether the process got less than STARVED_CPU_SHARE of the budget as CPU time (all its threads)."""
        return time.process_time() - self.cpu_started < STARVED_CPU_SHARE * self.seconds

    def busy_machine_error(self, step: str) -> ContractError:
        used = time.process_time() - self.cpu_started
        return ContractError(
            f"{step} was stopped after {self.seconds:g} s having had only {used:.1f} s of CPU: the machine was "
            "too busy to decide, which is no fault of either program",
            hint="Run the contract again when the machine is less busy.",
        )

    def __exit__(self, *exc: object) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)

    @staticmethod
    def _ring(signum: int, frame: Any) -> None:
        raise Overtime()


# --- timing ----------------------------------------------------------------------------------------------


def _time(contract: Any, torch_program: Any, jax_program: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Time the functions the contract names: first call (compile) apart, then the median of `repeats`."""
    timing = getattr(contract, "timing", None)
    names = getattr(contract, "TIME", None)
    if not callable(timing) or not isinstance(names, dict):
        raise ContractError("the contract names no function to time (TIME and timing())", where=CONTRACT)
    try:
        calls = timing(torch_program, jax_program)
    except BaseException as exc:  # noqa: B036
        raise ContractError(f"timing() crashed: {describe(exc)}", where=blame(exc) or CONTRACT) from exc
    repeats = max(1, int(config.get("repeats", 5)))
    out = {}
    for side in ("torch", "jax"):
        if side not in calls or not callable(calls[side]):
            raise ContractError(f"timing() must return a callable for {side!r}", where=CONTRACT)
        out[side] = {"function": str(names.get(side, "")), **_measure(calls[side], repeats)}
    return out


def _measure(call: Callable[[], Any], repeats: int) -> dict[str, Any]:
    started = time.perf_counter()
    _block(call())
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _block(call())
        times.append(time.perf_counter() - started)
    return {"first_s": first, "median_s": statistics.median(times), "repeats": times}


def _block(value: Any) -> None:
    """Wait for JAX's asynchronous dispatch, so the time covers the computation."""
    try:
        import jax

        jax.block_until_ready(value)
    except Exception:
        pass
