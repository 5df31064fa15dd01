"""Blind pairwise review: which pairs a reviewer gets next, how sides are shown, and recording a vote.

A pair is two translations of the same sample by two systems. Each pair goes to `T2J_REVIEWERS_PER_PAIR`
reviewers. Sides are shuffled per reviewer (deterministically, so a reload shows the same sides) and the
sides actually shown are what the Comparison records. Nothing that names a system, a model or provenance
leaves this module for a reviewer: the page gets the sample, two programs blinded by evaluate.blinding
(comments and docstrings removed unless asked for, names redacted) and a random handle for the pair.

A reviewer sees their progress (pairs voted on / voted on plus waiting), may skip a pair (it comes back after
the others) and may go back through the pairs they voted on ("Previous") to change a vote: the new vote is a
new row that supersedes the old one (Comparison.objects.current()).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from annotate.models import DraftStatus, Sample, Translation
from evaluate import blinding, dashboard
from evaluate.models import BlindPurpose, Comparison, ReviewPair, Verdict

REASON_MAX_CHARS = 2000
# A page left open overnight should not record a 12-hour "time spent".
MAX_TIME_SPENT_S = 3 * 3600
VERDICT_WORDS = {
    Verdict.LEFT: "A is better", Verdict.RIGHT: "B is better", Verdict.TIE: "Tie", Verdict.BOTH_BAD: "Both bad",
}  # fmt: skip

Pair = tuple[int, int]  # (lower, higher) translation id: never leaves the server


class ReviewError(ValueError):
    """A vote that cannot be recorded; the message is shown to the reviewer."""


def reviewable_translations():
    # Drafted with code. Written as "not among those without code" so the database reads both from indexes
    # (translation_status_sample, translation_without_code) instead of every translation's code.
    without_code = Translation.objects.filter(code="").values("pk")
    return Translation.objects.filter(draft_status=DraftStatus.OK).exclude(pk__in=without_code)


def reviewable_sql(alias: str) -> tuple[str, list]:
    """reviewable_translations() as an SQL condition on the translation table named `alias`, and its parameters,
    for the queries written in SQL here and in evaluate.scoring."""
    translation = Translation._meta.db_table
    without_code = f"SELECT id FROM {translation} WHERE code = ''"  # noqa: S608 - the model's table
    return f"{alias}.draft_status = %s AND {alias}.id NOT IN ({without_code})", [DraftStatus.OK]


def _pair_reviewable_sql(lo: str, hi: str) -> tuple[str, list]:
    """An SQL condition that the translations whose ids are the columns `lo` and `hi` are both reviewable (the
    complement of reviewable_sql, so the few that are not are listed from indexes: no translation row is
    joined), and its parameters. For a tallied or voted pair: two translations of one sample (record_vote
    checks it)."""
    translation = Translation._meta.db_table
    unreviewable = (
        f"SELECT id FROM {translation} WHERE draft_status <> %s UNION SELECT id FROM {translation} WHERE code = ''"
    )  # noqa: S608 - the model's table
    return f"{lo} NOT IN ({unreviewable}) AND {hi} NOT IN ({unreviewable})", [DraftStatus.OK, DraftStatus.OK]


def all_pairs() -> list[tuple[int, int, int]]:
    """(sample_id, lower translation id, higher translation id) for every pair of systems on a sample."""
    by_sample: dict[int, list[int]] = defaultdict(list)
    for sample_id, translation_id in (
        reviewable_translations().order_by("sample_id", "pk").values_list("sample_id", "pk")
    ):
        by_sample[sample_id].append(translation_id)
    return [(sample_id, lo, hi) for sample_id, ids in by_sample.items() for lo, hi in combinations(ids, 2)]


def human_votes() -> dict[tuple[int, int], set[int]]:
    """Which reviewers voted on each (lower, higher) translation pair."""
    votes: dict[tuple[int, int], set[int]] = defaultdict(set)
    for left, right, user_id in (
        Comparison.objects.filter(judge_user__isnull=False)
        .order_by()
        .values_list("left_id", "right_id", "judge_user_id")
    ):
        votes[(min(left, right), max(left, right))].add(user_id)
    return votes


def tally_votes() -> int:
    """Count every pair's reviewers again from the votes into ReviewPair, for votes written without
    Comparison.save() (bulk_create, in the benchmarks); returns the pairs tallied."""
    with transaction.atomic():
        ReviewPair.objects.all().delete()
        tallies = [ReviewPair(lo_id=lo, hi_id=hi, reviewers=len(users)) for (lo, hi), users in human_votes().items()]
        ReviewPair.objects.bulk_create(tallies, batch_size=2000)
    return len(tallies)


def queue_for(user, *, skipped: Sequence[Pair] = (), limit: int | None = None) -> list[tuple[int, int, int]]:
    """Pairs this reviewer has not voted on and that still need votes, least-voted first; the pairs they
    `skipped` ((lower, higher) ids, oldest skip first) come last, in the order they were skipped."""
    votes = human_votes()
    later = _skip_ranks(skipped)
    open_pairs = _open_pairs(user, votes)
    open_pairs.sort(key=lambda p: _queue_key(user, p, votes, later))
    return open_pairs[:limit] if limit else open_pairs


def next_pair(user, *, skipped: Sequence[Pair] = ()) -> tuple[tuple[int, int, int] | None, int]:
    """queue_for(user, skipped=skipped)[0] and the queue's length, without loading the queue.

    The length is counted in SQL (every pair minus those closed for this reviewer). The head is, while there
    is one, a pair nobody has voted on and that was not skipped: those share the queue's first two keys, so
    the head is the first of them (in sample order) with the lowest coin; they are read in that order and the
    reading stops at the first coin 0, the lowest there is. Only when every such pair is gone (a review near
    its end) is the queue built in Python as queue_for does.
    """
    waiting = _open_pair_count(user)
    if not waiting:
        return None, 0
    later = _skip_ranks(skipped)
    first = _first_unvoted(user, later)
    if first is None:
        votes = human_votes()
        open_pairs = _open_pairs(user, votes)
        first = min(open_pairs, key=lambda p: _queue_key(user, p, votes, later))
    return first, waiting


def _skip_ranks(skipped: Sequence[Pair]) -> dict[Pair, int]:
    return {tuple(pair): rank for rank, pair in enumerate(skipped, start=1)}


def _open_pairs(user, votes: dict[tuple[int, int], set[int]]) -> list[tuple[int, int, int]]:
    k = settings.T2J_REVIEWERS_PER_PAIR
    nobody: set[int] = set()
    return [
        pair
        for pair in all_pairs()
        if user.pk not in votes.get(pair[1:], nobody) and len(votes.get(pair[1:], nobody)) < k
    ]


def _queue_key(user, pair: tuple[int, int, int], votes: dict, later: dict) -> tuple[int, int, int]:
    # Skipped pairs last; least-voted first finishes pairs; a per-user hash spreads reviewers over different pairs.
    return later.get(pair[1:], 0), len(votes.get(pair[1:], ())), _coin(user, pair[1], pair[2], "order")


def _unvoted_pairs() -> tuple[str, list]:
    """SQL for the pairs of all_pairs() no reviewer voted on, as (sample_id, lo, hi) rows in all_pairs order,
    read from indexes only, and its parameters."""
    translation, tally = Translation._meta.db_table, ReviewPair._meta.db_table
    a_reviewable, a_params = reviewable_sql("a")
    b_reviewable, b_params = reviewable_sql("b")
    sql = f"""
        SELECT a.sample_id, a.id AS lo, b.id AS hi
        FROM {translation} a JOIN {translation} b ON b.sample_id = a.sample_id AND b.id > a.id
        WHERE {a_reviewable} AND {b_reviewable}
          AND NOT EXISTS (SELECT 1 FROM {tally} p WHERE p.lo_id = a.id AND p.hi_id = b.id AND p.reviewers > 0)
        ORDER BY a.sample_id, a.id, b.id
    """  # noqa: S608 - table names from the models, values as parameters
    return sql, a_params + b_params


# The (lower, higher) translation ids of the pairs one reviewer (the parameter) voted on, read from their votes.
_VOTED_PAIRS = f"""
    SELECT DISTINCT CASE WHEN left_id < right_id THEN left_id ELSE right_id END AS lo,
                    CASE WHEN left_id < right_id THEN right_id ELSE left_id END AS hi
    FROM {Comparison._meta.db_table} WHERE judge_user_id = %s
"""  # noqa: S608 - the model's table


def _open_pair_count(user) -> int:
    """len(_open_pairs(user, human_votes())) in one query: every pair (counted per sample) minus the pairs
    with T2J_REVIEWERS_PER_PAIR reviewers, minus the other pairs `user` voted on; the reviewers are read from
    the ReviewPair tally, so no vote is grouped here."""
    per_sample, per_sample_params = (
        reviewable_translations().order_by().values("sample_id").annotate(n=Count("pk")).values("n")
    ).query.sql_with_params()
    tally = ReviewPair._meta.db_table
    both_reviewable, both_params = _pair_reviewable_sql("p.lo_id", "p.hi_id")
    # The pairs `user` voted on are read from their own votes first (CROSS JOIN: SQLite keeps the order written):
    # walking every tally row and looking for their vote took SQLite 1 s for a reviewer with 800 votes.
    sql = f"""
        SELECT (SELECT COALESCE(SUM(n * (n - 1) / 2), 0) FROM ({per_sample}) per_sample)
             - (SELECT COUNT(*) FROM {tally} p WHERE p.reviewers >= %s AND {both_reviewable})
             - (SELECT COUNT(*) FROM ({_VOTED_PAIRS}) mine CROSS JOIN {tally} p
                WHERE p.lo_id = mine.lo AND p.hi_id = mine.hi AND p.reviewers < %s AND {both_reviewable})
    """  # noqa: S608 - table names from the models, values as parameters
    k = settings.T2J_REVIEWERS_PER_PAIR
    params = [*per_sample_params, k, *both_params, user.pk, k, *both_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])  # PostgreSQL sums to a decimal


def _first_unvoted(user, later: dict[Pair, int]) -> tuple[int, int, int] | None:
    """The first pair (in all_pairs order) with the lowest coin among those nobody voted on and not skipped."""
    best, best_coin = None, None
    with connection.cursor() as cursor:
        cursor.execute(*_unvoted_pairs())
        while rows := cursor.fetchmany(256):
            for pair in rows:
                if pair[1:] in later:
                    continue
                coin = _coin(user, pair[1], pair[2], "order")
                if best_coin is None or coin < best_coin:
                    best, best_coin = tuple(pair), coin
                if coin == 0:
                    return best
    return best


@dataclass(frozen=True)
class Progress:
    """A reviewer's progress through a queue: items they have done and done plus waiting."""

    done: int
    total: int

    @property
    def left(self) -> int:
        return self.total - self.done


def voted_pairs(user) -> list[Pair]:
    """(lower, higher) translation ids of the pairs this reviewer voted on and that can still be reviewed, the
    most recently voted first: what "Previous" walks back through."""
    reviewable = reviewable_translations().values("pk")
    votes = Comparison.objects.filter(judge_user=user, left__in=reviewable, right__in=reviewable).current()
    seen: dict[Pair, None] = {}
    for left, right in votes.order_by("-pk").values_list("left_id", "right_id"):
        seen.setdefault((min(left, right), max(left, right)))
    return list(seen)


def progress(user, waiting: int) -> Progress:
    """This reviewer's progress: the pairs they voted on, and those plus the `waiting` ones.

    The pairs are counted in SQL, len(voted_pairs(user)) without listing them: a changed vote is the same pair,
    so no vote needs to be told superseded (that took 60 ms per request for a reviewer with 800 votes)."""
    both_reviewable, both_params = _pair_reviewable_sql("mine.lo", "mine.hi")
    sql = f"SELECT COUNT(*) FROM ({_VOTED_PAIRS}) mine WHERE {both_reviewable}"  # noqa: S608 - see _VOTED_PAIRS
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, *both_params])
        done = cursor.fetchone()[0]
    return Progress(done, done + waiting)


def read_pair(user, token: str) -> blinding.Handle:
    """The pair a reviewer's handle names; ReviewError when it is not one of theirs (or has expired)."""
    try:
        return blinding.redeem(user, BlindPurpose.PAIR, token)
    except blinding.InvalidToken as error:
        raise ReviewError("This comparison link is not valid; take the next pair from the queue.") from error


def time_spent_since(shown_at: datetime) -> float | None:
    spent = (timezone.now() - shown_at).total_seconds()
    return round(spent, 1) if 0 <= spent <= MAX_TIME_SPENT_S else None


def _coin(user, lo: int, hi: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{purpose}:{user.pk}:{lo}:{hi}".encode()).digest()
    return digest[0]


def sides_for(user, lo: int, hi: int) -> tuple[int, int]:
    """(left id, right id) as this reviewer sees the pair: shuffled per reviewer, stable across reloads."""
    return (hi, lo) if _coin(user, lo, hi, "sides") % 2 else (lo, hi)


@dataclass(frozen=True)
class BlindPair:
    """Exactly what a reviewer's compare page may show: no system, model or provenance."""

    token: str
    sample_key: str
    sample_title: str
    pytorch_code: str
    left_code: str
    right_code: str
    original: bool  # comments and docstrings shown (names still redacted)
    done: int  # pairs this reviewer has voted on
    total: int  # done plus those waiting for them
    left: int  # waiting for them
    voted: str  # this reviewer's current verdict on the pair ("" before a vote), as on the sides shown
    voted_reason: str
    back: int  # 0 for a pair from the queue; n for the n-th most recent pair voted on ("Previous")
    earlier: bool  # there is a pair voted on before this one to go back to


NO_PROGRESS = Progress(0, 0)


def show_pair(
    user, lo: int, hi: int, *, original: bool = False, progress: Progress = NO_PROGRESS, back: int = 0
) -> BlindPair:
    """The pair under a new handle (its showing time starts now)."""
    token = blinding.issue(user, BlindPurpose.PAIR, lo, hi)
    return _blind_pair(user, token, lo, hi, original, progress, back)


def show_again(user, token: str, *, original: bool = False, progress: Progress = NO_PROGRESS) -> BlindPair:
    """The pair a handle names, under the same handle (its first showing time kept)."""
    handle = read_pair(user, token)
    return _blind_pair(user, handle.key, handle.first_id, handle.second_id, original, progress, 0)


def show_previous(user, back: int, *, original: bool = False, progress: Progress) -> BlindPair:
    """The `back`-th most recent pair this reviewer voted on (1 = their last vote), with that vote, so they
    can change it; ReviewError when there is no such pair."""
    voted = voted_pairs(user)
    if not 1 <= back <= len(voted):
        raise ReviewError("There is no earlier vote to go back to.")
    lo, hi = voted[back - 1]
    return show_pair(user, lo, hi, original=original, progress=progress, back=back)


def _blind_pair(user, token: str, lo: int, hi: int, original: bool, progress: Progress, back: int) -> BlindPair:
    translations = {t.pk: t for t in Translation.objects.filter(pk__in=[lo, hi]).select_related("sample")}
    if len(translations) != 2 or translations[lo].sample_id != translations[hi].sample_id:
        raise ReviewError("This pair no longer exists.")
    left_id, right_id = sides_for(user, lo, hi)
    names = blinding.names_pattern(blinding.identity_names())
    sample: Sample = translations[lo].sample
    vote = _latest_vote(user, lo, hi)
    return BlindPair(
        token=token,
        sample_key=sample.key,
        sample_title=sample.title,
        pytorch_code=sample.pytorch_code,
        left_code=blinding.blind_code(translations[left_id].code, names, original=original),
        right_code=blinding.blind_code(translations[right_id].code, names, original=original),
        original=original,
        done=progress.done,
        total=progress.total,
        left=progress.left,
        voted=_as_shown(vote, left_id) if vote else "",
        voted_reason=vote.reason if vote else "",
        back=back,
        earlier=back < progress.done,
    )


def _as_shown(vote: Comparison, left_id: int) -> str:
    """The vote's verdict on the sides shown now (a vote recorded with the sides the other way round swaps)."""
    if vote.left_id == left_id or vote.verdict not in (Verdict.LEFT, Verdict.RIGHT):
        return vote.verdict
    return Verdict.RIGHT if vote.verdict == Verdict.LEFT else Verdict.LEFT


def _latest_vote(user, lo: int, hi: int) -> Comparison | None:
    return (
        Comparison.objects.filter(judge_user=user, left_id__in=[lo, hi], right_id__in=[lo, hi])
        .order_by("-pk")
        .only("verdict", "reason", "left_id", "right_id")
        .first()
    )


def record_vote(user, token: str, *, verdict: str, reason: str, original: bool = False) -> Comparison:
    """Store one reviewer's verdict on the sides they were shown. A vote on a pair they voted on before
    supersedes that one (a new row; the old stays for audit); the same verdict and reason again adds nothing."""
    handle = read_pair(user, token)
    lo, hi = handle.first_id, handle.second_id
    if verdict not in Verdict.values:
        raise ReviewError("Choose A, B, tie or both bad.")
    reason = reason.strip()
    if not reason:
        raise ReviewError("Give a short reason for your choice.")
    if len(reason) > REASON_MAX_CHARS:
        raise ReviewError(f"Keep the reason under {REASON_MAX_CHARS} characters.")
    if "\x00" in reason:
        raise ReviewError("Write the reason without NUL characters.")
    left_id, right_id = sides_for(user, lo, hi)
    with transaction.atomic():
        pair = list(Translation.objects.filter(pk__in=[lo, hi]).values_list("pk", "sample_id"))
        if len(pair) != 2 or pair[0][1] != pair[1][1]:
            raise ReviewError("This pair no longer exists.")
        earlier = _latest_vote(user, lo, hi)
        if earlier is not None and (earlier.verdict, earlier.reason) == (verdict, reason):
            return earlier  # sent twice (a double click, a reload): nothing changed
        comparison = Comparison.objects.create(
            sample_id=pair[0][1],
            left_id=left_id,
            right_id=right_id,
            judge_user=user,
            verdict=verdict,
            reason=reason,
            time_spent_s=time_spent_since(handle.shown_at),
            comments_stripped=not original,
        )
        dashboard.mark_stale()  # the pair scores, the Bradley–Terry fit and the agreement move
    return comparison
