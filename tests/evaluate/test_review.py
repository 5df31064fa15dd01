from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotate.roles import REVIEWER
from evaluate import review
from evaluate.models import Comparison
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.conftest import make_user

COMPARE = reverse("evaluate:review_compare")
VOTE = reverse("evaluate:comparison_vote")


@pytest.fixture
def pair(db):
    """Two translations of one sample by systems whose names and models must never reach a reviewer."""
    sample = SampleFactory(key="e9", pytorch_code="import torch\nprint('pytorch source')\n")
    first = TranslationFactory(
        sample=sample,
        system=SystemFactory(name="secret-system-alpha", model="gpt-secret-model"),
        code="# drafted by gpt-secret-model\nimport jax\nprint('alpha code')\n",
        model="gpt-secret-model",
        raw_answer="provenance-marker",
    )
    second = TranslationFactory(
        sample=sample, system=SystemFactory(name="secret-system-beta"), code="import jax\nprint('beta code')\n"
    )
    return first, second


def _token(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def test_reviewer_sees_both_programs_and_the_pytorch_source_but_no_identity(reviewer_client, pair):
    response = reviewer_client.get(COMPARE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "alpha code" in html and "beta code" in html and "pytorch source" in html
    for secret in ("secret-system", "provenance-marker"):
        assert secret not in html
    assert "gpt-secret-model" in html  # a comment in the code itself: the strip option exists for this


def test_stripping_comments_removes_model_names_in_comments_from_both_sides(reviewer_client, pair):
    html = reviewer_client.get(COMPARE, {"strip": "1"}).content.decode()
    assert "gpt-secret-model" not in html and "alpha code" in html
    assert 'name="strip" value="1"' in html


def test_sides_are_shuffled_per_reviewer_and_stable_across_reloads(pair):
    lo, hi = sorted(t.pk for t in pair)
    reviewers = [make_user(REVIEWER, f"r{i}") for i in range(16)]
    sides = {review.sides_for(r, lo, hi) for r in reviewers}
    assert sides == {(lo, hi), (hi, lo)}
    assert all(review.sides_for(r, lo, hi) == review.sides_for(r, lo, hi) for r in reviewers)


def test_a_vote_records_the_sides_shown_the_reason_and_the_time(reviewer_client, reviewer, pair):
    html = reviewer_client.get(COMPARE).content.decode()
    left_is_alpha = html.index("alpha code") < html.index("beta code")

    response = reviewer_client.post(
        VOTE,
        {
            "pair": _token(html, "pair"),
            "shown_at": _token(html, "shown_at"),
            "verdict": "left",
            "reason": "Keeps the key explicit.",
        },
    )

    assert response.status_code == 302
    vote = Comparison.objects.get()
    assert vote.judge_user == reviewer and vote.verdict == "left" and vote.reason == "Keeps the key explicit."
    assert vote.left == (pair[0] if left_is_alpha else pair[1])
    assert vote.time_spent_s is not None and 0 <= vote.time_spent_s < 60


def test_a_vote_without_a_reason_is_refused_and_changes_nothing(reviewer_client, pair):
    html = reviewer_client.get(COMPARE).content.decode()
    response = reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "tie", "reason": "  "})
    assert response.status_code == 400
    assert "Give a short reason" in response.content.decode()
    assert "secret-system" not in response.content.decode()
    assert not Comparison.objects.exists()


@pytest.mark.parametrize("data", [{"pair": "forged", "verdict": "left", "reason": "x"}, {}])
def test_a_forged_or_missing_pair_is_refused(reviewer_client, pair, data):
    assert reviewer_client.post(VOTE, data).status_code == 302
    assert not Comparison.objects.exists()


def test_an_unknown_verdict_is_refused(reviewer_client, pair):
    html = reviewer_client.get(COMPARE).content.decode()
    response = reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "left-ish", "reason": "x"})
    assert response.status_code == 400 and not Comparison.objects.exists()


def test_a_reviewer_votes_once_per_pair_and_each_pair_goes_to_k_reviewers(settings, pair):
    settings.T2J_REVIEWERS_PER_PAIR = 2
    lo, hi = sorted(t.pk for t in pair)
    token = review.pair_token(lo, hi)
    first, second, third = (make_user(REVIEWER, name) for name in ("k1", "k2", "k3"))

    review.record_vote(first, token, verdict="tie", reason="same")
    with pytest.raises(review.ReviewError, match="already voted"):
        review.record_vote(first, token, verdict="left", reason="changed my mind")
    assert review.queue_for(first) == []
    assert review.queue_for(third) != []
    review.record_vote(second, token, verdict="left", reason="ok")

    assert review.queue_for(third) == []
    assert Comparison.objects.count() == 2


def test_the_queue_offers_least_voted_pairs_first(settings, pair):
    settings.T2J_REVIEWERS_PER_PAIR = 3
    other = SampleFactory()
    a, b = TranslationFactory(sample=other), TranslationFactory(sample=other)
    voted_lo, voted_hi = sorted(t.pk for t in pair)
    review.record_vote(make_user(REVIEWER, "early"), review.pair_token(voted_lo, voted_hi), verdict="tie", reason="r")
    queue = review.queue_for(make_user(REVIEWER, "late"))
    assert [q[1:] for q in queue] == [tuple(sorted((a.pk, b.pk))), (voted_lo, voted_hi)]


def test_translations_of_one_system_or_failed_drafts_are_never_paired(db):
    sample = SampleFactory()
    TranslationFactory(sample=sample)
    TranslationFactory(sample=sample, draft_status="failed")
    TranslationFactory(sample=sample, code="")
    assert review.all_pairs() == []


def test_no_pairs_left_shows_a_thank_you(reviewer_client, db):
    assert "No pairs are waiting" in reviewer_client.get(COMPARE).content.decode()


def test_the_compare_page_costs_a_fixed_number_of_queries(reviewer_client, pair, django_assert_max_num_queries):
    for _ in range(20):
        sample = SampleFactory()
        TranslationFactory(sample=sample), TranslationFactory(sample=sample)
    with django_assert_max_num_queries(10):
        assert reviewer_client.get(COMPARE).status_code == 200


def test_voting_costs_a_fixed_number_of_queries(reviewer_client, pair, django_assert_max_num_queries):
    html = reviewer_client.get(COMPARE).content.decode()
    with django_assert_max_num_queries(12):
        reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "right", "reason": "r"})
    assert Comparison.objects.count() == 1


def test_developers_cannot_open_the_review(developer_client, pair):
    assert developer_client.get(COMPARE).status_code == 403
    assert developer_client.post(VOTE, {}).status_code == 403


def test_strip_comments_keeps_code_strings_and_blank_lines():
    code = "# made by model-x\nimport jax  # trailing\n\ns = '# not a comment'\n    # indented note\n"
    assert review.strip_comments(code) == "import jax\n\ns = '# not a comment'\n"


def test_strip_comments_copes_with_code_that_does_not_tokenize():
    assert review.strip_comments("x = (\n# dangling\n") == "x = (\n"


def test_time_spent_is_ignored_when_the_stamp_is_forged():
    assert review.time_spent_since("forged") is None
    assert review.time_spent_since(review.shown_at_token()) >= 0


def test_a_refused_vote_keeps_the_reason_typed_and_the_first_showing_time(reviewer_client, pair):
    html = reviewer_client.get(COMPARE).content.decode()
    shown_at = _token(html, "shown_at")
    response = reviewer_client.post(
        VOTE, {"pair": _token(html, "pair"), "shown_at": shown_at, "verdict": "maybe", "reason": "half written"}
    )
    page = response.content.decode()
    assert "half written" in page and f'value="{shown_at}"' in page
