"""The run and verify steps of an experiment through the real sandbox: outcomes per arm, contract verdicts, and a
second run that skips what already ran."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from annotate.models import Run
from evaluate import experiment as experiments
from evaluate import experiment_report
from tests.annotate.contract_support import demo_file, demo_sample
from tests.annotate.factories import SystemFactory, TranslationFactory

pytest_plugins = ["tests.annotate.sandbox_fixtures"]
pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]


def _step(step: str) -> str:
    out = io.StringIO()
    call_command("experiment", "run", "sandboxed", "--step", step, stdout=out)
    return out.getvalue()


def test_run_and_verify_record_each_drafts_outcome_and_resume(sandbox_settings):
    sample = demo_sample("linreg")
    TranslationFactory(sample=sample, system=SystemFactory(name="fixed"), code=demo_file("linreg", "fixed.py"))
    TranslationFactory(sample=sample, system=SystemFactory(name="broken"), code="import jax\nraise TypeError('bad')\n")
    experiment, _ = experiments.create(
        {"name": "sandboxed", "samples": ["linreg"], "metrics": ["fixcost"],
         "arms": [{"name": "fixed", "system": "fixed"}, {"name": "broken", "system": "broken"}]}  # fmt: skip
    )
    assert "2 run(s) (1 error, 1 ok)" in _step("run")
    assert "2 checked" in _step("verify")
    runs = Run.objects.count()
    again = _step("run")
    assert "0 run(s)" in again and "2 draft(s) had already run" in again
    assert "0 checked" in _step("verify")
    assert Run.objects.count() == runs  # nothing ran twice
    report = experiment_report.build(experiment, resamples=99)
    rates = {row["arm"]: (row["n"], row["ok"], row["error"]) for row in report["runs"]["rows"]}
    assert rates == {"fixed": (1, 1, 0), "broken": (1, 0, 1)}
    broken = next(row for row in report["runs"]["rows"] if row["arm"] == "broken")
    assert broken["top_exceptions"] == ["TypeError: bad (1)"]
    verdicts = {row["arm"]: row for row in report["verify"]["rows"]}
    assert verdicts["fixed"]["passed"] == 1 and verdicts["broken"]["n"] == 1 and verdicts["broken"]["passed"] == 0
