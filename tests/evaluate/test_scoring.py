from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotate.models import SessionStatus, SystemMode
from evaluate import scoring
from evaluate.models import Judgement
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

PAGE = reverse("evaluate:score_translation")
SUBMIT = reverse("evaluate:judgement_create")


@pytest.fixture
def candidate(db):
    sample = SampleFactory()
    human = SystemFactory(name="secret-human-system", mode=SystemMode.HUMAN)
    FixSessionFactory(
        translation=TranslationFactory(sample=sample, system=human, code="print('REF-DRAFT')\n"),
        status=SessionStatus.VERIFIED,
        current_code="print('REFERENCE')\n",
    )
    return TranslationFactory(sample=sample, system=SystemFactory(name="secret-llm-system"), code="print('CAND')\n")


def _item(html: str) -> str:
    return re.search(r'name="item" value="([^"]+)"', html).group(1)


def test_a_reviewer_scores_without_then_with_the_reference_blind(reviewer_client, reviewer, candidate):
    seen = []
    for _ in range(4):  # two translations, each without and with the reference
        html = reviewer_client.get(PAGE).content.decode()
        assert "secret-" not in html
        seen.append("REFERENCE" in html)
        response = reviewer_client.post(SUBMIT, {"item": _item(html), "usefulness": "3", "functional-correctness": "2"})
        assert response.status_code == 302
    assert seen == [False, True, False, True]
    assert "Nothing is waiting" in reviewer_client.get(PAGE).content.decode()
    assert Judgement.objects.filter(judge_user=reviewer).count() == 8
    assert set(Judgement.objects.filter(translation=candidate).values_list("aspect", "with_reference", "score")) == {
        ("usefulness", False, 3),
        ("usefulness", True, 3),
        ("functional-correctness", False, 2),
        ("functional-correctness", True, 2),
    }


@pytest.mark.parametrize(
    "scores",
    [
        {"usefulness": "3"},
        {"usefulness": "5", "functional-correctness": "1"},
        {"usefulness": "x", "functional-correctness": "1"},
    ],
)
def test_missing_or_out_of_range_scores_store_nothing(reviewer_client, candidate, scores):
    html = reviewer_client.get(PAGE).content.decode()
    response = reviewer_client.post(SUBMIT, {"item": _item(html), **scores})
    assert response.status_code == 302
    assert not Judgement.objects.exists()


def test_scoring_the_same_item_twice_is_refused(reviewer, candidate):
    item = scoring.next_item(reviewer)
    scoring.record_scores(reviewer, item.token, {"usefulness": "1", "functional-correctness": "1"})
    with pytest.raises(scoring.ReviewError, match="already scored"):
        scoring.record_scores(reviewer, item.token, {"usefulness": "2", "functional-correctness": "2"})


def test_a_forged_item_is_refused(reviewer_client, candidate):
    assert (
        reviewer_client.post(SUBMIT, {"item": "forged", "usefulness": "1", "functional-correctness": "1"}).status_code
        == 302
    )
    assert not Judgement.objects.exists()


def test_the_scoring_page_costs_a_fixed_number_of_queries(reviewer_client, candidate, django_assert_max_num_queries):
    for _ in range(15):
        TranslationFactory(sample=SampleFactory(), system=candidate.system)
    with django_assert_max_num_queries(12):
        assert reviewer_client.get(PAGE).status_code == 200
