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

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotate.models import Sample, Translation
from evaluate import blinding, dashboard
from evaluate.metrics.codebleu import samples_with_verified_reference, verified_reference, verified_references
from evaluate.metrics.codetrans import RUBRICS
from evaluate.models import Aspect, BlindPurpose, Judgement
from evaluate.review import Progress, ReviewError, reviewable_sql, reviewable_translations

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
    """The first item offered to this reviewer (plan_for(user, skipped=skipped).offered[0]), under a new handle;
    None when nothing is waiting.

    Reads no more than the reviewer's own scores, the reviewable translations per sample and the first
    waiting ones in sample order: plan_for's rules without listing every item.
    """
    scores = _Scores.of(user)
    head = scores.head(skipped)
    if head is None:
        return None
    translation = Translation.objects.select_related("sample").get(pk=head[0])
    return _issue(user, translation, head[1], original=original, progress=scores.progress, back=0)


def previous_item(user, back: int, *, original: bool = False) -> ScoreItem:
    """The `back`-th most recent item this reviewer scored (1 = the last), with their scores, to change them;
    ReviewError when there is no such item."""
    scores = _Scores.of(user)
    if not 1 <= back <= len(scores.scored):
        raise ReviewError("There is no earlier score to go back to.")
    translation_id, with_reference = scores.scored[back - 1]
    translation = Translation.objects.select_related("sample").get(pk=translation_id)
    return _issue(user, translation, with_reference, original=original, progress=scores.progress, back=back)


def progress(user) -> Progress:
    """plan_for(user).progress."""
    return _Scores.of(user).progress


def _reviewable_count():
    """The reviewable translations of the sample OuterRef("pk"), counted (a subquery)."""
    of_sample = reviewable_translations().filter(sample=OuterRef("pk")).order_by()
    return of_sample.values("sample").annotate(n=Count("pk")).values("n")


@dataclass(frozen=True)
class _Scores:
    """What plan_for derives from one reviewer's scores, read without listing every item: their first and last
    judgement of each item still offered, the samples with a verified reference, and the items in total."""

    user: object
    first: dict[Item, int]  # item -> the reviewer's first judgement of it (pk)
    last: dict[Item, int]
    sample_of: dict[int, int]  # translation -> sample, for the translations scored
    referenced: set[int]  # samples with a verified reference
    total: int

    @classmethod
    def of(cls, user) -> _Scores:
        per_sample = Sample.objects.order_by().annotate(
            n=Coalesce(Subquery(_reviewable_count()), 0),
            referenced=Exists(verified_references().filter(translation__sample=OuterRef("pk"))),
        )
        referenced, total = set(), 0
        for sample_id, n, has_reference in per_sample.values_list("pk", "n", "referenced"):
            total += n * (2 if has_reference else 1)
            if has_reference:
                referenced.add(sample_id)
        first: dict[Item, int] = {}
        last: dict[Item, int] = {}
        sample_of: dict[int, int] = {}
        judged = Judgement.objects.filter(judge_user=user, translation__in=reviewable_translations().values("pk"))
        for translation_id, with_ref, sample_id, pk in judged.order_by("pk").values_list(
            "translation_id", "with_reference", "translation__sample_id", "pk"
        ):
            if with_ref and sample_id not in referenced:
                continue  # not an item: the sample has no reference (any more)
            first.setdefault((translation_id, with_ref), pk)
            last[(translation_id, with_ref)] = pk
            sample_of[translation_id] = sample_id
        return cls(user, first, last, sample_of, referenced, total)

    @property
    def progress(self) -> Progress:
        return Progress(len(self.first), self.total)

    @property
    def scored(self) -> list[Item]:
        return [item for item, _ in sorted(self.last.items(), key=lambda entry: entry[1], reverse=True)]

    def head(self, skipped: Sequence[Item]) -> Item | None:
        """plan_for(user, skipped=skipped).offered[0], or None."""
        later = {tuple(item): rank for rank, item in enumerate(skipped, start=1)}
        order = [t for _, t in sorted((pk, item[0]) for item, pk in self.first.items() if not item[1])]
        # The first translations waiting to be scored without the reference, in sample order: enough of them to
        # pass the skipped ones (and none at all says nothing is left to score without it).
        waiting = _first_waiting(self.user, sum(1 for item in later if not item[1]) + 1)
        place = {translation_id: n for n, translation_id in enumerate(order)}

        def spaced(translation_id: int) -> bool:
            return len(order) - 1 - place[translation_id] >= REFERENCE_SPACING or not waiting

        with_due = [
            (t, True)
            for t in order
            if self.sample_of[t] in self.referenced and (t, True) not in self.first and spaced(t)
        ]
        offered = with_due + [(t, False) for t in waiting]
        return min(offered, key=lambda item: later.get(item, 0), default=None)


def _first_waiting(user, count: int) -> list[int]:
    """The first `count` reviewable translations this reviewer has not scored without the reference, in sample
    order (plan_for's). The samples drive the join (CROSS JOIN: SQLite keeps the order written), walked in
    their index order, so the query stops after `count` instead of sorting every translation."""
    sample, translation, judgement = Sample._meta.db_table, Translation._meta.db_table, Judgement._meta.db_table
    reviewable, params = reviewable_sql("t")
    sql = f"""
        SELECT t.id FROM {sample} s CROSS JOIN {translation} t
        WHERE t.sample_id = s.id AND {reviewable}
          AND t.id NOT IN (SELECT translation_id FROM {judgement} WHERE judge_user_id = %s AND NOT with_reference)
        ORDER BY s.import_position, s.key, t.id
        LIMIT %s
    """  # noqa: S608 - table names from the models, values as parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, user.pk, count])
        return [row[0] for row in cursor.fetchall()]


def _issue(user, translation: Translation, with_reference: bool, *, original: bool, progress: Progress, back: int):
    token = blinding.issue(user, BlindPurpose.SCORE, translation.pk, with_reference=with_reference)
    return _item(user, token, translation, with_reference, original=original, progress=progress, back=back)


def item_from_token(user, token: str, *, original: bool = False) -> ScoreItem:
    """The item a reviewer's handle names, under the same handle; ReviewError when it is not one of theirs."""
    handle = _read(user, token)
    translation = Translation.objects.select_related("sample").get(pk=handle.first_id)
    waiting = progress(user)
    return _item(user, handle.key, translation, handle.with_reference, original=original, progress=waiting, back=0)


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
