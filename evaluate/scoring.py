"""Human CodeTrans scores: reviewers score a translation 0–4 on the judge's rubric, blind to its system.

Each translation is scored first without the reference translation, then (when one exists) with it, so the
human figures line up with the LLM judge's four columns. A translation's with-reference item comes only once
the reviewer has scored REFERENCE_SPACING other translations without the reference since (or nothing is left
to score without it), so the reference they see does not colour a score they just gave. Programs are blinded
like the pairs of the blind review (evaluate.blinding), and the page names its item by a random handle.

Like votes, scores can be changed: "Previous" walks back through the items a reviewer scored, and saving
again adds rows that supersede the earlier ones (Judgement.objects.current()).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from annotate.models import Translation
from evaluate import blinding, dashboard
from evaluate.metrics.codebleu import samples_with_verified_reference, verified_reference
from evaluate.metrics.codetrans import RUBRICS
from evaluate.models import Aspect, BlindPurpose, Judgement
from evaluate.review import Progress, ReviewError, reviewable_translations

# Other translations a reviewer scores without the reference before a translation's with-reference item.
REFERENCE_SPACING = 5

Item = tuple[int, bool]  # (translation id, with the reference): never leaves the server


@dataclass(frozen=True)
class ScoreItem:
    token: str
    sample_key: str
    pytorch_code: str
    code: str
    reference: str  # empty when scored without reference
    rubrics: dict[str, str]
    original: bool  # comments and docstrings shown (names still redacted)
    done: int  # items this reviewer has scored
    total: int  # done plus those waiting for them
    left: int  # waiting for them
    scored: dict[str, int]  # this reviewer's current score per aspect ({} before they score it)
    back: int  # 0 for an item from the queue; n for the n-th most recent item scored ("Previous")
    earlier: bool  # there is an item scored before this one to go back to


@dataclass(frozen=True)
class Plan:
    """What a reviewer's score queue holds: the items offered now, in order, and the progress."""

    offered: list[Item]
    progress: Progress
    scored: list[Item]  # items scored, the most recently scored first


def plan_for(user, *, skipped: Sequence[Item] = ()) -> Plan:
    """The items offered to this reviewer now: with-reference items whose spacing is reached first (oldest
    first), then items without the reference in sample order; `skipped` items last, in the order skipped.

    Reads ids only (translations in order, the reviewer's scores, the samples with a reference): a few queries
    and no program text, however many translations there are.
    """
    with_reference = set(samples_with_verified_reference())
    ordered = reviewable_translations().order_by("sample__import_position", "sample__key", "pk")
    translations = list(ordered.values_list("pk", "sample_id"))
    items = [(pk, False) for pk, _ in translations]
    items += [(pk, True) for pk, sample_id in translations if sample_id in with_reference]
    existing = set(items)
    first_scored: dict[Item, int] = {}
    last_scored: dict[Item, int] = {}
    for translation_id, with_ref, pk in (
        Judgement.objects.filter(judge_user=user).order_by("pk").values_list("translation_id", "with_reference", "pk")
    ):
        item = (translation_id, with_ref)
        if item in existing:
            first_scored.setdefault(item, pk)
            last_scored[item] = pk
    # Translations scored without the reference, in the order first scored: the spacing counts places.
    order = sorted((pk, item[0]) for item, pk in first_scored.items() if not item[1])
    place = {translation_id: n for n, (_, translation_id) in enumerate(order)}
    without_left = [item for item in items if not item[1] and item not in first_scored]

    def spaced(translation_id: int) -> bool:
        after = len(order) - 1 - place.get(translation_id, len(order))
        return translation_id in place and (after >= REFERENCE_SPACING or not without_left)

    with_due = [item for item in items if item[1] and item not in first_scored and spaced(item[0])]
    with_due.sort(key=lambda item: place[item[0]])
    later = {tuple(item): rank for rank, item in enumerate(skipped, start=1)}
    offered = sorted(with_due + without_left, key=lambda item: later.get(item, 0))
    scored = [item for _, item in sorted(((pk, item) for item, pk in last_scored.items()), reverse=True)]
    return Plan(offered, Progress(len(first_scored), len(items)), scored)


def next_item(user, *, original: bool = False, skipped: Sequence[Item] = ()) -> ScoreItem | None:
    """The first item offered to this reviewer, under a new handle; None when nothing is waiting."""
    plan = plan_for(user, skipped=skipped)
    if not plan.offered:
        return None
    translation_id, with_reference = plan.offered[0]
    translation = Translation.objects.select_related("sample").get(pk=translation_id)
    return _issue(user, translation, with_reference, original=original, plan=plan, back=0)


def previous_item(user, back: int, *, original: bool = False) -> ScoreItem:
    """The `back`-th most recent item this reviewer scored (1 = the last), with their scores, to change them;
    ReviewError when there is no such item."""
    plan = plan_for(user)
    if not 1 <= back <= len(plan.scored):
        raise ReviewError("There is no earlier score to go back to.")
    translation_id, with_reference = plan.scored[back - 1]
    translation = Translation.objects.select_related("sample").get(pk=translation_id)
    return _issue(user, translation, with_reference, original=original, plan=plan, back=back)


def _issue(user, translation: Translation, with_reference: bool, *, original: bool, plan: Plan, back: int):
    token = blinding.issue(user, BlindPurpose.SCORE, translation.pk, with_reference=with_reference)
    return _item(user, token, translation, with_reference, original=original, progress=plan.progress, back=back)


def item_from_token(user, token: str, *, original: bool = False) -> ScoreItem:
    """The item a reviewer's handle names, under the same handle; ReviewError when it is not one of theirs."""
    handle = _read(user, token)
    translation = Translation.objects.select_related("sample").get(pk=handle.first_id)
    progress = plan_for(user).progress
    return _item(user, handle.key, translation, handle.with_reference, original=original, progress=progress, back=0)


def _item(
    user, token: str, translation: Translation, with_reference: bool, *, original: bool, progress: Progress, back: int
) -> ScoreItem:
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
        done=progress.done,
        total=progress.total,
        left=progress.left,
        scored=_current_scores(user, translation.pk, with_reference),
        back=back,
        earlier=back < progress.done,
    )


def _current_scores(user, translation_id: int, with_reference: bool) -> dict[str, int]:
    rows = Judgement.objects.filter(judge_user=user, translation_id=translation_id, with_reference=with_reference)
    return dict(rows.current().values_list("aspect", "score"))


def skipped_item(user, token: str) -> Item:
    """The (translation id, with reference) a handle names, for the reviewer's skip list (kept server side)."""
    handle = _read(user, token)
    return handle.first_id, handle.with_reference


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
    """Store one reviewer's usefulness and functional-correctness scores for one item (both or neither).

    Scores for an item they scored before supersede those (new rows; the old stay for audit); the same
    scores again add nothing.
    """
    handle = _read(user, token)
    translation_id, with_reference = handle.first_id, handle.with_reference
    parsed = {aspect: _score(scores.get(aspect, ""), aspect) for aspect in Aspect.values}
    with transaction.atomic():
        if not Translation.objects.filter(pk=translation_id).exists():
            raise ReviewError("This translation no longer exists.")
        if _current_scores(user, translation_id, with_reference) == parsed:
            return []  # sent twice (a double click, a reload): nothing changed
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
