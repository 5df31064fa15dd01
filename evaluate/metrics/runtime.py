"""Runtime of verified translations (and of the sample's PyTorch program), measured in the sandbox.

Whole-program wall time: the program is run once to warm up (JAX compile caches, imports) and that run is
left out; then `repeats` timed runs, median reported, labelled 'whole-program'. The time is the one measured
inside the box around the program itself where the sandbox reports it (interpreter start-up excluded), else
the run's duration. Timing one function named by the sample's contract needs the contracts feature (not
built yet); until then every timing is whole-program and says so.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from annotate import sandbox
from annotate.models import SessionStatus, Translation
from evaluate.models import RuntimeMeasurement

WHOLE_PROGRAM = "whole-program"
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


def _seconds(result) -> float | None:
    return result.inprocess_s if result.inprocess_s is not None else result.duration_s


def time_program(code: str, kind: str, *, repeats: int = 3) -> Timing:
    """Warm-up run (kept apart as compile_s), then `repeats` timed runs; stops at the first failing run."""
    times: list[float] = []
    first = None
    last_run = None
    for attempt in range(repeats + 1):
        result = sandbox.run(code, kind, user_key=USER_KEY)
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
    result = sandbox.run(ENVIRONMENT_PROBE, "jax", user_key=USER_KEY)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"environment probe {result.status}: {result.stderr[-200:]}"}


def _store(sample_id: int, translation_id: int | None, timing: Timing, env: dict) -> RuntimeMeasurement:
    values = {
        "label": WHOLE_PROGRAM,
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
    samples_done: set[int] = set()
    for translation in translations:
        session = translation.fix_sessions.filter(status=SessionStatus.VERIFIED).first()
        if session is None or not session.current_code.strip():
            continue
        stored.append(
            _store(
                translation.sample_id, translation.pk, time_program(session.current_code, "jax", repeats=repeats), env
            )
        )
        if pytorch and translation.sample_id not in samples_done:
            samples_done.add(translation.sample_id)
            stored.append(
                _store(
                    translation.sample_id,
                    None,
                    time_program(translation.sample.pytorch_code, "pytorch", repeats=repeats),
                    env,
                )
            )
    return stored


def ratios(baseline_system: str) -> dict[str, dict]:
    """Per system: geometric mean over common samples of (its median time / the baseline system's), with n."""
    times: dict[str, dict[int, float]] = defaultdict(dict)
    for system, sample_id, median in RuntimeMeasurement.objects.filter(
        translation__isnull=False, median_s__isnull=False, status="ok"
    ).values_list("translation__system__name", "sample_id", "median_s"):
        times[system][sample_id] = median
    base = times.get(baseline_system, {})
    out = {}
    for system, by_sample in times.items():
        common = [s for s in by_sample if s in base and base[s] > 0 and by_sample[s] > 0]
        if common:
            logs = [math.log(by_sample[s] / base[s]) for s in common]
            out[system] = {"ratio": math.exp(sum(logs) / len(logs)), "n": len(common)}
    return out
