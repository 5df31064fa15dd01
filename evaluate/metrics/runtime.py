"""Runtime of verified translations (and of the sample's PyTorch program), measured in the sandbox.

Where the sample's contract names a function to time per side (TIME and timing(), see
sandbox_runtime/README.md), that function is timed: the first call (JIT compile, warm-up) is stored apart as
compile_s, then `repeats` calls, median reported, labelled 'function'. One such run times both sides, so the
PyTorch figure of a sample comes from the same run as the first of its translations timed.

Otherwise the whole program's wall time: the program is run once to warm up (JAX compile caches, imports)
and that run is left out; then `repeats` timed runs, median reported, labelled 'whole-program'. The time is
the one measured inside the box around the program itself where the sandbox reports it (interpreter
start-up excluded), else the run's duration.

Ratios only compare like with like: a function time is never divided by a whole-program time.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from annotate import contracts, runs
from annotate.models import Sample, SessionStatus, Translation
from evaluate.metrics.base import ComputeOptions, ComputeReport, StoredValues, TranslationIds
from evaluate.models import RuntimeMeasurement

WHOLE_PROGRAM = "whole-program"
FUNCTION = "function"
USER_KEY = "runtime-bench"
ENVIRONMENT_PROBE = """
import json, os, platform
versions = {}
for name in ("jax", "jaxlib", "flax", "optax", "numpy", "torch"):
    try:
        versions[name] = __import__(name).__version__
    except Exception:
        versions[name] = None
cpu = platform.processor()
try:
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
except OSError:
    pass
print(json.dumps({"versions": versions, "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}))
"""


@dataclass(frozen=True)
class Timing:
    status: str
    median_s: float | None
    compile_s: float | None
    repeats: list[float]
    message: str = ""
    run_id: int | None = None
    label: str = WHOLE_PROGRAM
    function: str = ""


def _seconds(result) -> float | None:
    return result.inprocess_s if result.inprocess_s is not None else result.duration_s


def time_program(code: str, kind: str, *, repeats: int = 3) -> Timing:
    """Warm-up run (kept apart as compile_s), then `repeats` timed runs; stops at the first failing run."""
    times: list[float] = []
    first = None
    last_run = None
    for attempt in range(repeats + 1):
        result = runs.run(code, kind, user_key=USER_KEY)
        last_run = result.run_id
        if result.status != "ok":
            why = result.exception_message or result.stderr[-300:] or result.status
            return Timing(result.status, None, first, times, f"run {attempt + 1} failed: {why}", last_run)
        if attempt == 0:
            first = _seconds(result)
        elif (seconds := _seconds(result)) is not None:
            times.append(seconds)
    median = statistics.median(times) if times else None
    return Timing("ok", median, first, times, run_id=last_run)


def environment() -> dict:
    """Library versions and CPU as the sandbox sees them, stored with each timing."""
    result = runs.run(ENVIRONMENT_PROBE, "jax", user_key=USER_KEY)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"environment probe {result.status}: {result.stderr[-200:]}"}


def time_functions(sample: Sample, code: str, *, repeats: int = 3) -> tuple[Timing | None, Timing]:
    """(PyTorch timing, JAX timing) of the functions the contract names, from one sandbox run.

    A run that gives no timing (the translation crashes, the contract cannot time it) is an error timing
    of the JAX side, labelled 'function' all the same: falling back to the whole program would put a
    different quantity in the same column. The PyTorch side is None then.
    """
    try:
        timing, run_id = contracts.timing_run(sample, code, repeats=repeats, user_key=USER_KEY)
    except contracts.ContractProblem as problem:
        return None, _failed(f"function timing failed: {problem}")
    return _side(timing["torch"], run_id), _side(timing["jax"], run_id)


def _failed(message: str) -> Timing:
    return Timing("error", None, None, [], message, label=FUNCTION)


def _side(side: dict, run_id: int | None) -> Timing:
    return Timing(
        "ok", side["median_s"], side["first_s"], list(side["repeats"]), "", run_id, FUNCTION, side["function"]
    )


def _store(sample_id: int, translation_id: int | None, timing: Timing, env: dict) -> RuntimeMeasurement:
    values = {
        "label": timing.label,
        "function": timing.function,
        "median_s": timing.median_s,
        "compile_s": timing.compile_s,
        "repeats": timing.repeats,
        "status": timing.status,
        "message": timing.message,
        "environment": env,
        "run_id": timing.run_id,
        "computed_at": timezone.now(),
    }
    RuntimeMeasurement.objects.filter(sample_id=sample_id, translation_id=translation_id).delete()
    return RuntimeMeasurement.objects.create(sample_id=sample_id, translation_id=translation_id, **values)


def measure(translations: Iterable[Translation], *, repeats: int = 3, pytorch: bool = True) -> list[RuntimeMeasurement]:
    """Time the verified code of each translation (and each sample's PyTorch program once)."""
    env = environment()
    stored = []
    pytorch_done: set[int] = set()
    pytorch_failed: dict[int, Timing] = {}
    for translation in translations:
        session = translation.fix_sessions.filter(status=SessionStatus.VERIFIED).first()
        if session is None or not session.current_code.strip():
            continue
        sample = translation.sample
        if contracts.names_timed_functions(sample):
            torch_timing, jax_timing = time_functions(sample, session.current_code, repeats=repeats)
        else:
            jax_timing = time_program(session.current_code, "jax", repeats=repeats)
            torch_timing = None
            if pytorch and sample.pk not in pytorch_done:
                torch_timing = time_program(sample.pytorch_code, "pytorch", repeats=repeats)
        stored.append(_store(sample.pk, translation.pk, jax_timing, env))
        if not pytorch or sample.pk in pytorch_done:
            continue
        if torch_timing is not None:
            pytorch_done.add(sample.pk)
            pytorch_failed.pop(sample.pk, None)
            stored.append(_store(sample.pk, None, torch_timing, env))
        else:
            # No translation of this sample could be timed (yet): say so rather than keep an old figure.
            pytorch_failed[sample.pk] = _failed("the contract's timing run failed for every verified translation")
    stored += [_store(sample_id, None, timing, env) for sample_id, timing in pytorch_failed.items()]
    return stored


def ratios(baseline_system: str) -> dict[str, dict]:
    """Per system: geometric mean over common samples of (its median time / the baseline system's), with n."""
    times: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)
    for system, sample_id, median, label in RuntimeMeasurement.objects.filter(
        translation__isnull=False, median_s__isnull=False, status="ok"
    ).values_list("translation__system__name", "sample_id", "median_s", "label"):
        times[system][sample_id] = (median, label)
    base = times.get(baseline_system, {})
    out = {}
    for system, by_sample in times.items():
        # Only samples timed the same way on both sides: a function time is never divided by a program time.
        pairs = [
            (seconds, base[sample][0])
            for sample, (seconds, label) in by_sample.items()
            if sample in base and base[sample][1] == label and seconds > 0 and base[sample][0] > 0
        ]
        if pairs:
            logs = [math.log(seconds / baseline) for seconds, baseline in pairs]
            out[system] = {"ratio": math.exp(sum(logs) / len(logs)), "n": len(pairs)}
    return out


def compute(translations, report: ComputeReport, options: ComputeOptions) -> None:
    """The registry's compute step: time the verified translations of the queryset; ratios to the baseline."""
    measured = measure(translations.filter(fix_sessions__status=SessionStatus.VERIFIED).distinct())
    failed = [m for m in measured if m.status != "ok"]
    labels = Counter(m.label for m in measured if m.status == "ok")
    timed_as = ", ".join(f"{n} {label}" for label, n in sorted(labels.items()))
    report.say(f"runtime: {len(measured) - len(failed)} programs timed ({timed_as or 'none'})")
    report.problems += [f"runtime: {m.sample.key} {m.translation or 'pytorch'}: {m.message}" for m in failed]
    baseline = options.baseline
    if baseline is not None:
        for name, ratio in sorted(ratios(baseline.name).items()):
            report.say(f"runtime ratio {name}/{baseline.name}: {ratio['ratio']:.3f} over {ratio['n']} samples")


def stored_values(translation_ids: TranslationIds) -> StoredValues:
    """The median seconds of each timed translation (None where its timing failed)."""
    return {
        translation_id: {"runtime_median_s": median}
        for translation_id, median in RuntimeMeasurement.objects.filter(translation_id__in=translation_ids).values_list(
            "translation_id", "median_s"
        )
    }
