from __future__ import annotations

import pytest

from annotate.demo import DEMO_DIR
from annotate.models import SessionStatus
from evaluate.metrics import runtime
from evaluate.models import RuntimeMeasurement
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.sandbox_support import require_sandbox


def _measurement(system: str, sample, seconds: float, label: str = "whole-program") -> None:
    t = TranslationFactory(sample=sample, system=SystemFactory(name=system))
    RuntimeMeasurement.objects.create(sample=sample, translation=t, label=label, median_s=seconds)


def _demo(key: str, name: str) -> str:
    return (DEMO_DIR / key / name).read_text(encoding="utf-8")


def _verified(sample, system: str, code: str):
    translation = TranslationFactory(sample=sample, system=SystemFactory(name=system))
    FixSessionFactory(translation=translation, status=SessionStatus.VERIFIED, current_code=code)
    return translation


@pytest.mark.django_db
def test_ratios_are_geometric_means_over_common_samples():
    s1, s2, s3 = SampleFactory(), SampleFactory(), SampleFactory()
    _measurement("base", s1, 2.0)
    _measurement("base", s2, 1.0)
    _measurement("fast", s1, 1.0)  # 0.5x
    _measurement("fast", s2, 2.0)  # 2x -> geometric mean 1.0
    _measurement("fast", s3, 9.0)  # no baseline on s3: left out
    ratios = runtime.ratios("base")
    assert ratios["fast"] == {"ratio": pytest.approx(1.0), "n": 2}
    assert ratios["base"] == {"ratio": 1.0, "n": 2}
    assert runtime.ratios("nobody") == {}


@pytest.mark.sandbox
@pytest.mark.django_db
def test_verified_code_and_the_pytorch_program_are_timed_in_the_sandbox(settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []  # a cold box here: no runner process in tests
    sample = SampleFactory(pytorch_code="import time\ntime.sleep(0.05)\nprint('torch side')\n")
    translation = TranslationFactory(sample=sample, code="broken draft")
    FixSessionFactory(
        translation=translation,
        status=SessionStatus.VERIFIED,
        current_code="import time\ntime.sleep(0.1)\nprint('verified')\n",
    )
    unverified = TranslationFactory(sample=sample)

    stored = runtime.measure([translation, unverified], repeats=2)

    jax_row = RuntimeMeasurement.objects.get(translation=translation)
    torch_row = RuntimeMeasurement.objects.get(sample=sample, translation__isnull=True)
    assert len(stored) == 2 and not RuntimeMeasurement.objects.filter(translation=unverified).exists()
    assert jax_row.status == "ok" and jax_row.label == "whole-program" and len(jax_row.repeats) == 2
    assert 0.1 <= jax_row.median_s < 5 and jax_row.compile_s is not None
    assert 0.05 <= torch_row.median_s < jax_row.median_s
    assert "jax" in jax_row.environment["versions"] and jax_row.environment["cpu"]


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_failing_program_is_recorded_without_a_time(settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    timing = runtime.time_program("raise SystemExit(3)", "jax", repeats=2)
    assert timing.status == "error" and timing.median_s is None and "run 1 failed" in timing.message
    assert timing.repeats == []


@pytest.mark.django_db
def test_ratios_never_divide_a_function_time_by_a_whole_program_time():
    s1, s2 = SampleFactory(), SampleFactory()
    _measurement("base", s1, 2.0, label="function")
    _measurement("base", s2, 1.0, label="whole-program")
    _measurement("other", s1, 1.0, label="function")  # 0.5x, like with like
    _measurement("other", s2, 0.001, label="function")  # timed differently from the baseline: left out

    assert runtime.ratios("base")["other"] == {"ratio": pytest.approx(0.5), "n": 1}


@pytest.mark.sandbox
@pytest.mark.django_db
def test_the_function_the_contract_names_is_timed_with_the_compile_kept_apart(settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    sample = SampleFactory(
        key="linreg", pytorch_code=_demo("linreg", "pytorch.py"), contract=_demo("linreg", "contract.py")
    )
    # The first translation timed cannot be (no train_step): an error, labelled 'function' all the same.
    broken = _verified(sample, "broken", _demo("linreg", "fixed.py").replace("def train_step", "def renamed_step"))
    good = _verified(sample, "good", _demo("linreg", "fixed.py"))

    runtime.measure([broken, good], repeats=3)

    broken_row = RuntimeMeasurement.objects.get(translation=broken)
    assert (broken_row.label, broken_row.status, broken_row.median_s) == ("function", "error", None)
    assert "function timing failed" in broken_row.message
    jax_row = RuntimeMeasurement.objects.get(translation=good)
    torch_row = RuntimeMeasurement.objects.get(sample=sample, translation__isnull=True)
    for row in (jax_row, torch_row):
        assert (row.label, row.function, row.status, len(row.repeats)) == ("function", "train_step", "ok", 3)
        assert 0 < row.median_s < 5 and row.compile_s is not None
    # One run timed both sides; the first JAX call compiles and is kept apart from the steady state.
    assert jax_row.run_id == torch_row.run_id is not None
    assert jax_row.compile_s > jax_row.median_s
    assert "jax" in jax_row.environment["versions"]
