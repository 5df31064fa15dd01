from __future__ import annotations

import pytest

from annotate.models import FixStep, SessionStatus
from evaluate.metrics import fixcost
from evaluate.metrics.fixcost import FixCost, compute_human, fixcost_score, weighted
from evaluate.models import FixCostRecord, FixCostSource
from tests.annotate.factories import FixSessionFactory, FixStepFactory, RunFactory


def test_fixcost_score_is_one_over_one_plus_steps():
    assert fixcost_score(0) == 1.0
    assert fixcost_score(3) == 0.25
    with pytest.raises(ValueError):
        fixcost_score(-1)


@pytest.fixture
def verified_session(db):
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    run = RunFactory(session=session)
    FixStepFactory(session=session, index=1, time_spent_s=60, edit_size=10, run=run)
    FixStepFactory(session=session, index=2, time_spent_s=120, edit_size=5, run=RunFactory(session=session))
    wrong = FixStepFactory(session=session, index=3, time_spent_s=600, edit_size=99)
    FixStep.objects.create(session=session, index=4, retracts=wrong, author=session.owner)
    return session


def test_retracted_steps_and_retractions_do_not_count(verified_session):
    cost = FixCost.of_session(verified_session)
    assert (cost.steps, cost.time_spent_s, cost.edit_size, cost.runs) == (2, 180, 15, 2)
    assert cost.score == pytest.approx(1 / 3)


def test_flagged_steps_count_by_default_and_can_be_left_out(verified_session):
    FixStepFactory(session=verified_session, index=5, time_spent_s=30, edit_size=1,
                   flags=[{"kind": "duplicate", "of": 1}])  # fmt: skip

    counted = FixCost.of_session(verified_session)
    without = FixCost.of_session(verified_session, count_flagged=False)

    assert (counted.steps, counted.flagged, counted.time_spent_s) == (3, 1, 210)  # as the paper counted
    assert (without.steps, without.flagged, without.time_spent_s, without.edit_size) == (2, 0, 180, 15)


def test_the_flagged_count_is_stored_and_read_beside_the_steps(verified_session):
    FixStepFactory(session=verified_session, index=5, flags=[{"kind": "repeat", "of": 2}])

    compute_human()

    assert FixCostRecord.objects.get().flagged_steps == 1
    values = fixcost.stored_values([verified_session.translation_id])
    assert values[verified_session.translation_id] == {
        "fixcost_steps": 3, "fixcost_score": 0.25, "fixcost_flagged_steps": 1
    }  # fmt: skip


def test_compute_human_stores_the_figures_and_the_weighted_variants(verified_session):
    FixSessionFactory(status=SessionStatus.OPEN)  # unverified: no FixCost

    assert compute_human() == 1

    record = FixCostRecord.objects.get()
    assert (record.translation, record.source, record.steps) == (verified_session.translation, FixCostSource.HUMAN, 2)
    assert weighted(record) == {
        "minutes": 3.0,
        "edit_size": 15,
        "runs": 2,
        "score_by_minutes": 0.25,
        "score_by_runs": pytest.approx(1 / 3),
    }


def test_a_reopened_translation_loses_its_stored_human_figure(verified_session):
    compute_human()
    verified_session.status = SessionStatus.ABANDONED
    verified_session.save()
    compute_human()
    assert not FixCostRecord.objects.exists()
