from __future__ import annotations

import re
from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse

from annotate.models import Translation
from annotate.roles import REVIEWER
from evaluate import review
from evaluate.models import BlindToken, Comparison, ReviewPair
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory

COMPARE = reverse("evaluate:review_compare")
VOTE = reverse("evaluate:comparison_vote")
SKIP = reverse("evaluate:comparison_skip")


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
    for secret in ("secret-system", "provenance-marker", "gpt-secret-model", "drafted by"):
        assert secret not in html  # the comment naming the model is gone by default


def test_the_original_view_keeps_comments_with_names_redacted(reviewer_client, pair):
    token = _token(reviewer_client.get(COMPARE).content.decode(), "pair")
    html = reviewer_client.get(COMPARE, {"pair": token, "original": "1"}).content.decode()
    assert "# drafted by [redacted]" in html and "gpt-secret-model" not in html and "alpha code" in html
    assert 'name="original" value="1"' in html and _token(html, "pair") == token


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
        {"pair": _token(html, "pair"), "verdict": "left", "reason": "Keeps the key explicit."},
    )

    assert response.status_code == 302
    vote = Comparison.objects.get()
    assert vote.judge_user == reviewer and vote.verdict == "left" and vote.reason == "Keeps the key explicit."
    assert vote.left == (pair[0] if left_is_alpha else pair[1])
    assert vote.time_spent_s is not None and 0 <= vote.time_spent_s < 60
    assert vote.comments_stripped


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


def test_a_changed_vote_supersedes_the_first_and_each_pair_goes_to_k_reviewers(settings, pair):
    settings.T2J_REVIEWERS_PER_PAIR = 2
    lo, hi = sorted(t.pk for t in pair)
    first, second, third = (make_user(REVIEWER, name) for name in ("k1", "k2", "k3"))

    token = review.show_pair(first, lo, hi).token
    original = review.record_vote(first, token, verdict="tie", reason="same")
    changed = review.record_vote(first, review.show_pair(first, lo, hi).token, verdict="left", reason="changed my mind")
    assert review.queue_for(first) == []
    assert review.queue_for(third) != []  # first's two votes are one reviewer on the pair
    review.record_vote(second, review.show_pair(second, lo, hi).token, verdict="left", reason="ok")

    assert review.queue_for(third) == []
    assert Comparison.objects.count() == 3  # the superseded vote stays for audit
    assert list(Comparison.objects.superseded()) == [original]
    assert set(Comparison.objects.current()) == {changed, Comparison.objects.get(judge_user=second)}


def test_the_same_vote_sent_twice_is_stored_once(reviewer, pair):
    lo, hi = sorted(t.pk for t in pair)
    token = review.show_pair(reviewer, lo, hi).token
    first = review.record_vote(reviewer, token, verdict="right", reason="r")
    assert review.record_vote(reviewer, token, verdict="right", reason="r") == first
    assert Comparison.objects.count() == 1


def _progress(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'<div class="queue-progress".*?</div>', html, re.S).group(0))


@pytest.fixture
def two_pairs(pair):
    other = SampleFactory(key="e10", pytorch_code="import torch\n")
    TranslationFactory(sample=other, code="print('gamma code')\n")
    TranslationFactory(sample=other, code="print('delta code')\n")
    return pair


def test_the_page_shows_progress_and_skip_puts_a_pair_last(reviewer_client, two_pairs):
    html = reviewer_client.get(COMPARE).content.decode()
    assert "<strong>0 of 2</strong> pairs done" in _progress(html) and "2 left" in _progress(html)
    first_sample = re.search(r"Blind comparison: sample (\w+)", html).group(1)

    response = reviewer_client.post(SKIP, {"pair": _token(html, "pair")}, follow=True)
    html = response.content.decode()
    assert "Skipped" in html and f"sample {first_sample}<" not in html  # the other pair now
    reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "left", "reason": "clear"})

    html = reviewer_client.get(COMPARE).content.decode()
    assert f"sample {first_sample}<" in html  # the skipped pair came back
    assert "<strong>1 of 2</strong> pairs done" in _progress(html) and "1 left" in _progress(html)


def test_previous_shows_the_last_vote_and_voting_again_changes_it(reviewer_client, reviewer, two_pairs):
    html = reviewer_client.get(COMPARE).content.decode()
    reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "left", "reason": "A is clearer"})
    voted = Comparison.objects.get()

    html = reviewer_client.get(COMPARE, {"back": "1"}).content.decode()
    assert "Your vote: <strong>A is better</strong> — “A is clearer”" in html
    assert 'value="left" data-key="1" aria-pressed="true"' in html
    assert "<strong>1 of 2</strong>" in _progress(html)
    response = reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "tie", "reason": "on second look"})
    assert response.status_code == 302

    assert Comparison.objects.count() == 2 and list(Comparison.objects.superseded()) == [voted]
    changed = Comparison.objects.current().get()
    assert (changed.verdict, changed.reason, changed.judge_user) == ("tie", "on second look", reviewer)
    assert {changed.left_id, changed.right_id} == {voted.left_id, voted.right_id}
    html = reviewer_client.get(COMPARE).content.decode()
    assert "<strong>1 of 2</strong>" in _progress(html)  # a changed vote is not a second pair done
    assert "Your vote" not in html  # the next pair from the queue


def test_going_back_further_than_the_votes_says_so(reviewer_client, pair):
    response = reviewer_client.get(COMPARE, {"back": "1"}, follow=True)
    assert "There is no earlier vote to go back to." in response.content.decode()


def test_the_queue_offers_least_voted_pairs_first(settings, pair):
    settings.T2J_REVIEWERS_PER_PAIR = 3
    other = SampleFactory()
    a, b = TranslationFactory(sample=other), TranslationFactory(sample=other)
    voted_lo, voted_hi = sorted(t.pk for t in pair)
    early = make_user(REVIEWER, "early")
    review.record_vote(early, review.show_pair(early, voted_lo, voted_hi).token, verdict="tie", reason="r")
    queue = review.queue_for(make_user(REVIEWER, "late"))
    assert [q[1:] for q in queue] == [tuple(sorted((a.pk, b.pk))), (voted_lo, voted_hi)]


def test_the_next_pair_is_the_head_of_the_queue_without_ordering_all_of_it(settings, db):
    settings.T2J_REVIEWERS_PER_PAIR = 2
    samples = [SampleFactory() for _ in range(4)]
    for sample in samples:
        for _ in range(3):  # three systems: three pairs per sample
            TranslationFactory(sample=sample)
    reviewers = [make_user(REVIEWER, f"r{i}") for i in range(3)]
    for step in range(8):
        voter = reviewers[step % 3]
        for user in reviewers:
            queue = review.queue_for(user)
            assert review.next_pair(user) == ((queue[0] if queue else None), len(queue))
        first, _ = review.next_pair(voter)
        if first:
            review.record_vote(voter, review.show_pair(voter, *first[1:]).token, verdict="tie", reason="same")


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
    # Two more than before progress and "your vote": the pairs voted on, and the vote on the pair shown.
    with django_assert_max_num_queries(12):
        assert reviewer_client.get(COMPARE).status_code == 200


def test_voting_costs_a_fixed_number_of_queries(reviewer_client, pair, django_assert_max_num_queries):
    html = reviewer_client.get(COMPARE).content.decode()
    # The vote, its blind handle, the pair's reviewer tally (made, locked, counted) and the stored dashboard's
    # stale mark with its one refresh.
    with django_assert_max_num_queries(17):
        reviewer_client.post(VOTE, {"pair": _token(html, "pair"), "verdict": "right", "reason": "r"})
    assert Comparison.objects.count() == 1


def test_developers_cannot_open_the_review(developer_client, pair):
    assert developer_client.get(COMPARE).status_code == 403
    assert developer_client.post(VOTE, {}).status_code == 403


def test_a_handle_works_only_for_the_reviewer_it_was_shown_to(reviewer_client, pair):
    token = _token(reviewer_client.get(COMPARE).content.decode(), "pair")
    other = make_user(REVIEWER, "someone-else")
    with pytest.raises(review.ReviewError, match="not valid"):
        review.record_vote(other, token, verdict="tie", reason="not mine")
    assert not Comparison.objects.exists()


def test_an_expired_handle_is_refused_and_deleted_when_a_new_one_is_issued(reviewer_client, reviewer, pair):
    token = _token(reviewer_client.get(COMPARE).content.decode(), "pair")
    BlindToken.objects.filter(key=token).update(
        created_at=BlindToken.objects.get(key=token).created_at - timedelta(days=31)
    )
    response = reviewer_client.post(VOTE, {"pair": token, "verdict": "tie", "reason": "late"})
    assert response.status_code == 302 and not Comparison.objects.exists()
    reviewer_client.get(COMPARE)
    assert not BlindToken.objects.filter(key=token).exists()


def test_a_refused_vote_keeps_the_reason_typed_and_the_first_showing_time(reviewer_client, pair):
    html = reviewer_client.get(COMPARE).content.decode()
    token = _token(html, "pair")
    shown = BlindToken.objects.get(key=token)
    BlindToken.objects.filter(pk=shown.pk).update(created_at=shown.created_at - timedelta(seconds=40))
    response = reviewer_client.post(VOTE, {"pair": token, "verdict": "maybe", "reason": "half written"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "half written" in page and _token(page, "pair") == token
    reviewer_client.post(VOTE, {"pair": token, "verdict": "tie", "reason": "half written, then done"})
    assert Comparison.objects.get().time_spent_s >= 40


def test_the_next_pair_follows_the_queue_past_the_unvoted_pairs_and_with_skips(settings, db):
    """Once every pair has a vote (the SQL head finds no unvoted pair), and with skipped pairs, next_pair still
    gives queue_for's head and length."""
    settings.T2J_REVIEWERS_PER_PAIR = 3
    for sample in [SampleFactory() for _ in range(3)]:
        for _ in range(3):
            TranslationFactory(sample=sample)
    TranslationFactory(sample=SampleFactory(), code="")  # never paired
    reviewers = [make_user(REVIEWER, f"s{i}") for i in range(4)]
    for step in range(30):
        voter = reviewers[step % 4]
        skipped = [pair[1:] for pair in review.queue_for(voter)[-2:]][::-1]  # two skipped, the last one first
        for user in reviewers:
            queue = review.queue_for(user, skipped=skipped)
            assert review.next_pair(user, skipped=skipped) == ((queue[0] if queue else None), len(queue)), step
        first, _ = review.next_pair(voter, skipped=skipped)
        if first:
            review.record_vote(voter, review.show_pair(voter, *first[1:]).token, verdict="tie", reason="same")
    assert not any(review.queue_for(user) for user in reviewers)


def test_the_reviewer_tally_counts_people_not_votes_either_way_round(settings, db):
    """The queue reads each pair's reviewers from ReviewPair: a changed vote (shown the other way round) and an
    LLM verdict add no reviewer; the next pair and the pairs left stay queue_for's, also once a translation
    stops being reviewable; the recount (tally_votes) and the migration's backfill agree with what votes kept."""
    settings.T2J_REVIEWERS_PER_PAIR = 2
    sample = SampleFactory()
    a, b, c = (TranslationFactory(sample=sample) for _ in range(3))
    x, y, z = (make_user(REVIEWER, name) for name in ("x", "y", "z"))

    def reviewers_of(first, second) -> int:
        lo, hi = sorted((first.pk, second.pk))
        return ReviewPair.objects.get(lo_id=lo, hi_id=hi).reviewers

    def next_pairs_follow_the_queue():
        for user in (x, y, z):
            queue = review.queue_for(user)
            assert review.next_pair(user) == ((queue[0] if queue else None), len(queue))
            assert review.progress(user, 0).done == len(review.voted_pairs(user))

    ComparisonFactory(sample=sample, left=a, right=b, judge_user=x)
    ComparisonFactory(sample=sample, left=b, right=a, judge_user=x, verdict="tie")
    ComparisonFactory(sample=sample, left=a, right=b, judge_user=None, judge_model="judge-model")
    ComparisonFactory(sample=sample, left=c, right=a, judge_user=None, judge_model="judge-model")
    assert reviewers_of(a, b) == 1 and not ReviewPair.objects.filter(lo_id=a.pk, hi_id=c.pk).exists()
    next_pairs_follow_the_queue()

    ComparisonFactory(sample=sample, left=b, right=a, judge_user=y)
    ComparisonFactory(sample=sample, left=c, right=b, judge_user=y)
    assert reviewers_of(a, b) == 2 and review.progress(y, 0).done == 2
    next_pairs_follow_the_queue()
    assert review.next_pair(z)[1] == 2  # (a, b) has its two reviewers

    Translation.objects.filter(pk=c.pk).update(code="")
    next_pairs_follow_the_queue()
    assert review.next_pair(z) == (None, 0) and review.progress(y, 0).done == 1  # (b, c) is gone

    kept = set(ReviewPair.objects.values_list("lo_id", "hi_id", "reviewers"))
    assert review.tally_votes() == 2
    assert set(ReviewPair.objects.values_list("lo_id", "hi_id", "reviewers")) == kept
    ReviewPair.objects.all().delete()
    import_module("evaluate.migrations.0011_review_pair_tally").tally_existing_votes(apps, None)
    assert set(ReviewPair.objects.values_list("lo_id", "hi_id", "reviewers")) == kept
