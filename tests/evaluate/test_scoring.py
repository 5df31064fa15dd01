from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotate.models import FixSession, SessionStatus, SystemMode
from evaluate import scoring
from evaluate.models import Judgement
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

PAGE = reverse("evaluate:score_translation")
SUBMIT = reverse("evaluate:judgement_create")
SKIP = reverse("evaluate:judgement_skip")


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


def _left(html: str) -> int:
    return int(re.search(r'<span id="queue-left">(\d+) left</span>', html).group(1))


def test_a_reviewer_scores_without_then_with_the_reference_blind(reviewer_client, reviewer, candidate):
    seen, left = [], []
    for _ in range(4):  # two translations, each without and with the reference
        html = reviewer_client.get(PAGE).content.decode()
        assert "secret-" not in html
        seen.append("REFERENCE" in html)
        left.append(_left(html))
        response = reviewer_client.post(SUBMIT, {"item": _item(html), "usefulness": "3", "functional-correctness": "2"})
        assert response.status_code == 302
    # Fewer than REFERENCE_SPACING others to score: the with-reference items come once none is left without.
    assert seen == [False, False, True, True]
    assert left == [4, 3, 2, 1]  # QA: the count used to stay put as the same translation came back
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


def test_scoring_an_item_again_supersedes_and_the_same_scores_twice_add_nothing(reviewer, candidate):
    item = scoring.next_item(reviewer)
    first = scoring.record_scores(reviewer, item.token, {"usefulness": "1", "functional-correctness": "1"})
    assert scoring.record_scores(reviewer, item.token, {"usefulness": "1", "functional-correctness": "1"}) == []
    changed = scoring.record_scores(reviewer, item.token, {"usefulness": "2", "functional-correctness": "1"})

    assert Judgement.objects.count() == 4
    assert set(Judgement.objects.superseded()) == set(first)
    assert set(Judgement.objects.current()) == set(changed)


def test_with_reference_items_wait_until_five_others_were_scored_without(reviewer, db):
    sample = SampleFactory()
    FixSessionFactory(
        translation=TranslationFactory(sample=sample, code="print('draft')\n"),
        status=SessionStatus.VERIFIED,
        current_code="print('REFERENCE')\n",
    )
    for _ in range(6):
        TranslationFactory(sample=sample, code="print('other')\n")
    order = []  # (translation id, with reference) as offered
    while (item := scoring.plan_for(reviewer).offered):
        order.append(item[0])
        token = scoring.next_item(reviewer).token
        scoring.record_scores(reviewer, token, {"usefulness": "2", "functional-correctness": "2"})

    # The first translation's with-reference item comes after five others without; the second's after the
    # seventh; the rest once nothing is left to score without the reference.
    assert [with_reference for _, with_reference in order] == [False] * 6 + [True, False] + [True] * 6
    without = [pk for pk, with_reference in order if not with_reference]
    assert [pk for pk, with_reference in order if with_reference][:2] == without[:2]
    assert scoring.plan_for(reviewer).progress == scoring.Progress(done=14, total=14)


def test_previous_shows_the_last_scores_and_saving_again_changes_them(reviewer_client, reviewer, candidate):
    html = reviewer_client.get(PAGE).content.decode()
    reviewer_client.post(SUBMIT, {"item": _item(html), "usefulness": "3", "functional-correctness": "2"})
    left = _left(reviewer_client.get(PAGE).content.decode())

    html = reviewer_client.get(PAGE, {"back": "1"}).content.decode()
    assert "Usefulness <strong>3</strong>" in html and "Functional-correctness <strong>2</strong>" in html
    assert 'name="usefulness" value="3" required checked' in html
    reviewer_client.post(SUBMIT, {"item": _item(html), "usefulness": "1", "functional-correctness": "2"})

    assert dict(Judgement.objects.current().values_list("aspect", "score")) == {
        "usefulness": 1,
        "functional-correctness": 2,
    }
    assert Judgement.objects.superseded().count() == 2
    assert _left(reviewer_client.get(PAGE).content.decode()) == left  # changing is not scoring another


def test_skip_puts_the_item_last(reviewer_client, candidate):
    html = reviewer_client.get(PAGE).content.decode()
    skipped = "CAND" in html
    response = reviewer_client.post(SKIP, {"item": _item(html)}, follow=True)
    assert "Skipped" in response.content.decode()
    assert ("CAND" in response.content.decode()) != skipped


def test_a_forged_item_is_refused(reviewer_client, candidate):
    assert (
        reviewer_client.post(SUBMIT, {"item": "forged", "usefulness": "1", "functional-correctness": "1"}).status_code
        == 302
    )
    assert not Judgement.objects.exists()


def test_the_scoring_page_costs_a_fixed_number_of_queries(reviewer_client, candidate, django_assert_max_num_queries):
    for _ in range(15):
        TranslationFactory(sample=SampleFactory(), system=candidate.system)
    # One more than before "your scores": the reviewer's current scores of the item shown.
    with django_assert_max_num_queries(13):
        assert reviewer_client.get(PAGE).status_code == 200


def test_the_next_item_and_progress_are_those_of_the_whole_plan_with_skips(reviewer, db):
    """next_item reads the reviewer's scores and the first waiting translations only; it offers what plan_for
    (every item listed) offers first, with the same progress and "Previous" order, as scores and skips go on."""
    samples = [SampleFactory() for _ in range(3)]
    for sample in samples[:2]:  # two samples with a verified reference, one without
        FixSessionFactory(
            translation=TranslationFactory(sample=sample, code="print('draft')\n"),
            status=SessionStatus.VERIFIED,
            current_code="print('REFERENCE')\n",
        )
    FixSessionFactory(  # verified, but blank: not a reference
        translation=TranslationFactory(sample=samples[2], code="print('draft')\n"),
        status=SessionStatus.VERIFIED,
        current_code="  \n",
    )
    for sample in samples:
        for _ in range(3):
            TranslationFactory(sample=sample, code="print('other')\n")
    TranslationFactory(sample=samples[0], code="")  # never offered
    skipped: list[tuple[int, bool]] = []
    for step in range(40):
        plan = scoring.plan_for(reviewer, skipped=skipped)
        item = scoring.next_item(reviewer, skipped=skipped)
        assert scoring.progress(reviewer) == plan.progress
        if not plan.offered:
            assert item is None
            break
        handle = scoring.skipped_item(reviewer, item.token)
        assert handle == plan.offered[0], step
        assert (item.done, item.total) == (plan.progress.done, plan.progress.total)
        if step % 4 == 1 and handle not in skipped:
            skipped.append(handle)  # skipped now, scored when it comes back
            continue
        scoring.record_scores(reviewer, item.token, {"usefulness": "1", "functional-correctness": "3"})
        previous = scoring.previous_item(reviewer, 1)
        assert scoring.skipped_item(reviewer, previous.token) == scoring.plan_for(reviewer).scored[0] == handle
    assert scoring.plan_for(reviewer).offered == [] and scoring.progress(reviewer).left == 0


def test_the_queue_total_counts_with_reference_items_only_for_code_that_is_not_blank(reviewer, db):
    """Two translations per sample; a sample whose verified code is not blank adds their with-reference items.
    The total follows the code however it is written (here update(), no save()), as plan_for's does."""
    sessions = {}
    for code in ["print('REFERENCE')\n", "", "  \n\t"]:
        sample = SampleFactory()
        sessions[code] = FixSessionFactory(
            translation=TranslationFactory(sample=sample, code="print('draft')\n"),
            status=SessionStatus.VERIFIED,
            current_code=code,
        )
        TranslationFactory(sample=sample, code="print('other')\n")
    assert scoring.progress(reviewer) == scoring.plan_for(reviewer).progress == scoring.Progress(done=0, total=8)

    FixSession.objects.filter(pk=sessions[""].pk).update(current_code="print('FIXED')\n")
    assert scoring.progress(reviewer) == scoring.plan_for(reviewer).progress == scoring.Progress(done=0, total=10)
    FixSession.objects.filter(pk=sessions["print('REFERENCE')\n"].pk).update(current_code="\n")
    assert scoring.progress(reviewer) == scoring.plan_for(reviewer).progress == scoring.Progress(done=0, total=8)
