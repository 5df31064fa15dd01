"""Human CodeTrans scores: reviewers score a translation 0–4 on the judge's rubric, blind to its system.

Each translation is scored first without the reference translation, then (when one exists) with it, so the
human figures line up with the LLM judge's four columns. Programs are blinded like the pairs of the blind
review (evaluate.blinding), and the page names its item by a random handle.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from annotate.models import Translation
from evaluate import blinding, dashboard
from evaluate.metrics.codebleu import samples_with_verified_reference, verified_reference
from evaluate.metrics.codetrans import RUBRICS
from evaluate.models import Aspect, BlindPurpose, Judgement
from evaluate.review import ReviewError, reviewable_translations


@dataclass(frozen=True)
class ScoreItem:
    token: str
    sample_key: str
    pytorch_code: str
    code: str
    reference: str  # empty when scored without reference
    rubrics: dict[str, str]
    original: bool  # comments and docstrings shown (names still redacted)
    remaining: int


def _done_by(user) -> set[tuple[int, bool]]:
    return set(Judgement.objects.filter(judge_user=user).values_list("translation_id", "with_reference").distinct())


def next_item(user, *, original: bool = False) -> ScoreItem | None:
    """The next (translation, with/without reference) this reviewer has not scored; None when all are done.

    Reads ids only (translations in order, the reviewer's scores, the samples with a reference), then the
    one translation shown: a few queries and no program text beyond it, however many translations there are.
    """
    done = _done_by(user)
    with_reference = set(samples_with_verified_reference())
    order = ("sample__import_position", "sample__key", "pk")
    todo = []
    for translation_id, sample_id in reviewable_translations().order_by(*order).values_list("pk", "sample_id"):
        if (translation_id, False) not in done:
            todo.append((translation_id, False))
        elif (translation_id, True) not in done and sample_id in with_reference:
            todo.append((translation_id, True))
    if not todo:
        return None
    translation_id, with_reference = todo[0]
    translation = Translation.objects.select_related("sample").get(pk=translation_id)
    token = blinding.issue(user, BlindPurpose.SCORE, translation.pk, with_reference=with_reference)
    return _item(token, translation, with_reference, original=original, remaining=len(todo))


def item_from_token(user, token: str, *, original: bool = False) -> ScoreItem:
    """The item a reviewer's handle names, under the same handle; ReviewError when it is not one of theirs."""
    handle = _read(user, token)
    translation = Translation.objects.select_related("sample").get(pk=handle.first_id)
    return _item(handle.key, translation, handle.with_reference, original=original, remaining=0)


def _item(token: str, translation: Translation, with_reference: bool, *, original: bool, remaining: int) -> ScoreItem:
    names = blinding.names_pattern(blinding.identity_names())
    reference = (verified_reference(translation.sample_id) or "") if with_reference else ""
    return ScoreItem(
        token=token,
        sample_key=translation.sample.key,
        pytorch_code=translation.sample.pytorch_code,
        code=blinding.blind_code(translation.code, names, original=original),
        reference=blinding.blind_code(reference, names, original=original) if reference else "",
        rubrics={aspect: RUBRICS[aspect] for aspect in Aspect.values},
        original=original,
        remaining=remaining,
    )


def _read(user, token: str) -> blinding.Handle:
    try:
        return blinding.redeem(user, BlindPurpose.SCORE, token)
    except blinding.InvalidToken as error:
        raise ReviewError("This scoring link is not valid; take the next translation from the queue.") from error


def _score(value: str, aspect: str) -> int:
    try:
        score = int(value)
    except (TypeError, ValueError):
        score = -1
    if not 0 <= score <= 4:
        raise ReviewError(f"Give {aspect} a score from 0 to 4.")
    return score


def record_scores(user, token: str, scores: dict[str, str]) -> list[Judgement]:
    """Store one reviewer's usefulness and functional-correctness scores for one item (both or neither)."""
    handle = _read(user, token)
    translation_id, with_reference = handle.first_id, handle.with_reference
    parsed = {aspect: _score(scores.get(aspect, ""), aspect) for aspect in Aspect.values}
    with transaction.atomic():
        if not Translation.objects.filter(pk=translation_id).exists():
            raise ReviewError("This translation no longer exists.")
        if Judgement.objects.filter(
            judge_user=user, translation_id=translation_id, with_reference=with_reference
        ).exists():
            raise ReviewError("You already scored this translation.")
        judgements = [
            Judgement.objects.create(
                translation_id=translation_id,
                judge_user=user,
                aspect=aspect,
                with_reference=with_reference,
                score=score,
            )
            for aspect, score in parsed.items()
        ]
        dashboard.mark_stale()  # the reviewers' CodeTrans means and the human vs LLM agreement move
    return judgements
