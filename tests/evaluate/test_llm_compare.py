from __future__ import annotations

import json

import pytest
from werkzeug import Request, Response

from annotate import jobs
from evaluate import llm_compare
from evaluate.llm_compare import parse_verdict
from evaluate.models import Comparison
from evaluate.tasks import llm_compare_task
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, completion, prompt_text


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Verdict: A", "left"),
        ("**Verdict:** B", "right"),
        ("verdict: Tie", "tie"),
        ("Verdict: both bad", "both-bad"),
        ("Verdict: both-bad", "both-bad"),
        ("I prefer A", None),
    ],
)
def test_verdicts_are_parsed(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.fixture
def two(db):
    sample = SampleFactory()
    good = TranslationFactory(sample=sample, system=SystemFactory(name="good"), code="print('GOOD')\n")
    bad = TranslationFactory(sample=sample, system=SystemFactory(name="bad"), code="print('BAD')\n")
    return good, bad


def _prefers_good(request: Request) -> Response:
    text = prompt_text(json.loads(request.get_data()))
    a_is_good = text.index("GOOD") < text.index("BAD")
    return Response(json.dumps(completion(f"Verdict: {'A' if a_is_good else 'B'}")), content_type="application/json")


def test_a_consistent_judge_is_asked_both_orders_and_recorded_twice(llm_endpoint, two):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(_prefers_good)
    good, bad = two

    first, second = llm_compare.compare_pair(good, bad)

    assert (first.left, first.right, first.verdict) == (good, bad, "left")
    assert (second.left, second.right, second.verdict) == (bad, good, "right")
    assert not first.inconsistent and not second.inconsistent
    assert first.judge_model == "served-model" and first.order_seen == "left-first" and first.judge_user is None


def test_a_verdict_that_flips_with_the_order_is_marked_inconsistent(llm_endpoint, two):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Verdict: A"))  # always the first one
    first, second = llm_compare.compare_pair(*two)
    assert first.inconsistent and second.inconsistent


def test_no_verdict_stores_nothing(llm_endpoint, two):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Hard to say."))
    with pytest.raises(llm_compare.CompareError):
        llm_compare.compare_pair(*two)
    assert not Comparison.objects.exists()


def test_the_task_compares_every_common_sample(llm_endpoint, two, django_capture_on_commit_callbacks):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(_prefers_good)
    TranslationFactory(system=two[0].system)  # sample the other system lacks
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job("llm-compare", llm_compare_task, total=1, system_a="good", system_b="bad")
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", 1, 0)
    assert Comparison.objects.count() == 2
