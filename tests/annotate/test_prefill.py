"""The step prefill: the record-step form starts from the failing run, the change since the last step and
similar shared fixes."""

from __future__ import annotations

import pytest

from annotate import fixlog, prefill
from annotate.models import RunStatus, SessionStatus
from tests.annotate.factories import FixStepFactory
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run, open_session

pytestmark = pytest.mark.django_db


def test_the_step_prefill_comes_from_the_failing_run_and_the_diff(developer):
    session = open_session(developer)
    run = failing_run(session)
    fixlog.save_code(session, FIXED, 1, developer)

    step_prefill = prefill.prefill_step(session)

    assert step_prefill.error.startswith("TypeError: JAX arrays are immutable")
    assert step_prefill.run_id == run.pk
    assert "x[0] = 1.0" in step_prefill.error_code and "x.at[0]" not in step_prefill.error_code
    assert "x = x.at[0].set(1.0)" in step_prefill.fixed_code
    assert step_prefill.category == "inplace-mutation"
    assert (step_prefill.code_before, step_prefill.code_after) == (DRAFT, FIXED)


def test_the_error_of_a_run_without_an_exception_is_the_end_of_stderr(developer):
    session = open_session(developer)
    failing_run(
        session,
        status=RunStatus.TIMEOUT,
        exception_type="",
        exception_message="",
        stderr="a\nb\nkilled: wall-clock limit\n",
    )

    assert prefill.prefill_step(session).error == "a\nb\nkilled: wall-clock limit"


def test_the_step_prefill_ignores_failing_runs_from_before_the_last_step(developer):
    session = open_session(developer)
    failing_run(session)
    fixlog.record_step(session, developer, fix_info="fixed the in-place update")

    assert prefill.prefill_step(session).error == ""
    assert prefill.prefill_step(session).run_id is None


def test_similar_fixes_are_shared_steps_of_other_sessions(developer):
    shared = FixStepFactory(session__status=SessionStatus.VERIFIED, error="TypeError: item assignment immutable")
    session = open_session(developer)
    FixStepFactory(session=session, error="TypeError: item assignment immutable", author=developer)

    assert prefill.similar_fixes(session, "TypeError: does not support item assignment") == [shared]
    assert prefill.similar_fixes(session, "") == []
