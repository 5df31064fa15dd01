from __future__ import annotations

import pytest

from annotate import jobs
from annotate.models import SessionStatus
from evaluate.metrics.fixcost import compute_human
from evaluate.metrics.fixcost_estimate import estimate, parse_steps
from evaluate.models import FixCostRecord
from evaluate.tasks import fixcost_estimate_task
from tests.annotate.factories import FixSessionFactory, FixStepFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, completion


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("1. PRNG\n2. shapes\nSteps: 2", 2.0),
        ("**Steps:** 0", 0.0),
        ("Steps needed: 3.5", 3.5),
        ("many", None),
        ("Steps: 1000", None),
    ],
)
def test_steps_are_parsed(text, steps):
    assert parse_steps(text) == steps


def test_the_estimate_is_stored_beside_the_human_figure(llm_endpoint, db):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Steps: 3", model="judge"))
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    FixStepFactory(session=session, index=1)
    compute_human()

    record = estimate(session.translation)

    assert (record.source, record.steps, record.score, record.judge_model) == ("llm", 3.0, 0.25, "judge")
    assert set(FixCostRecord.objects.values_list("source", "steps")) == {("human", 1.0), ("llm", 3.0)}


def test_an_answer_without_a_number_stores_nothing(llm_endpoint, db):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Hard to say."))
    assert estimate(TranslationFactory()) is None
    assert not FixCostRecord.objects.exists()


def test_the_task_estimates_only_unfixed_translations(llm_endpoint, db, django_capture_on_commit_callbacks):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Steps: 2"))
    unfixed = TranslationFactory()
    fixed = TranslationFactory(system=unfixed.system)
    FixSessionFactory(translation=fixed, status=SessionStatus.VERIFIED)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job("fixcost-estimate", fixcost_estimate_task, system=unfixed.system, total=1)
    job.refresh_from_db()
    assert job.status == "done" and job.done == 1
    assert list(FixCostRecord.objects.values_list("translation", flat=True)) == [unfixed.pk]
