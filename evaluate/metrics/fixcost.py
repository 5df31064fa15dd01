"""FixCost: the counted steps of a translation's verified session, FixCost Score = 1 / (1 + steps).

Effort-weighted variants come from what each step logged: time spent, edit size (characters changed) and runs.
Steps flagged by step hygiene (annotate.hygiene: duplicates, near-duplicates and repeats of an earlier step)
count by default, as the paper counted them; their number is stored beside, and FixCost.of_session can leave
them out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from annotate.models import FixSession, FixStep, Run, SessionStatus, Translation
from evaluate.metrics.base import ComputeOptions, ComputeReport, StoredValues, TranslationIds
from evaluate.models import FixCostRecord, FixCostSource

BATCH = 500
RECORD_FIELDS = ["steps", "score", "time_spent_s", "edit_size", "runs", "flagged_steps", "computed_at"]


def fixcost_score(steps: float) -> float:
    if steps < 0:
        raise ValueError(f"FixCost steps cannot be negative, got {steps}")
    return 1.0 / (1.0 + steps)


@dataclass(frozen=True)
class FixCost:
    steps: int
    time_spent_s: float | None
    edit_size: int | None
    runs: int
    flagged: int = 0  # how many of the counted steps step hygiene flagged (0 when they were left out)

    @property
    def score(self) -> float:
        return fixcost_score(self.steps)

    @classmethod
    def of_session(cls, session: FixSession, *, count_flagged: bool = True) -> FixCost:
        """The session's FixCost; with count_flagged=False the flagged steps are left out (steps, time, edits)."""
        return costs_of(FixSession.objects.filter(pk=session.pk), count_flagged=count_flagged)[session.pk]


def costs_of(sessions: QuerySet[FixSession], *, count_flagged: bool = True) -> dict[int, FixCost]:
    """The FixCost of each session of `sessions`, keyed by session id: three queries however many sessions.

    Counted steps are grouped in the database (not one aggregate per session); a session's own runs count even
    when no step points at them (runs that showed nothing new). With count_flagged=False the steps step hygiene
    flagged are left out (steps, time, edits) and `flagged` is 0.
    """
    steps = FixStep.objects.counted().filter(session__in=sessions)
    if not count_flagged:
        steps = steps.filter(flags=[])
    totals = {
        row["session_id"]: row
        for row in steps.order_by()  # the default ordering would join and sort sessions inside the GROUP BY
        .values("session_id")
        .annotate(
            n=Count("pk"), time=Sum("time_spent_s"), edit=Sum("edit_size"), runs=Count("run", distinct=True),
            flagged=Count("pk", filter=~Q(flags=[])),
        )  # fmt: skip
    }
    own_runs = dict(
        Run.objects.filter(session__in=sessions).order_by().values("session_id").annotate(n=Count("pk"))
        .values_list("session_id", "n")
    )  # fmt: skip
    costs = {}
    for session_id in sessions.order_by().values_list("pk", flat=True):
        row = totals.get(session_id, {"n": 0, "time": None, "edit": None, "runs": 0, "flagged": 0})
        runs = max(row["runs"], own_runs.get(session_id, 0))
        costs[session_id] = FixCost(
            steps=row["n"], time_spent_s=row["time"], edit_size=row["edit"], runs=runs, flagged=row["flagged"]
        )
    return costs


def compute_human(translations: QuerySet[Translation] | None = None) -> int:
    """Store the human FixCost of every verified translation (or of `translations`); returns how many.

    Reads the costs in three grouped queries and writes the records in batches, so its time grows with the
    rows written, not with a query per session.
    """
    sessions = FixSession.objects.verified()
    if translations is not None:
        sessions = sessions.filter(translation__in=translations)
    now = timezone.now()
    with transaction.atomic():
        costs = costs_of(sessions)
        by_translation = dict(sessions.order_by().values_list("translation_id", "pk"))
        existing = {
            record.translation_id: record
            for record in FixCostRecord.objects.filter(
                source=FixCostSource.HUMAN, translation_id__in=sessions.values("translation_id")
            )
        }
        new, changed = [], []
        for translation_id, session_id in by_translation.items():
            cost = costs[session_id]
            record = existing.get(translation_id) or FixCostRecord(
                translation_id=translation_id, source=FixCostSource.HUMAN
            )
            record.steps, record.score, record.computed_at = cost.steps, cost.score, now
            record.time_spent_s, record.edit_size, record.runs = cost.time_spent_s, cost.edit_size, cost.runs
            record.flagged_steps = cost.flagged
            (changed if record.pk else new).append(record)
        FixCostRecord.objects.bulk_create(new, batch_size=BATCH)
        FixCostRecord.objects.bulk_update(changed, RECORD_FIELDS, batch_size=BATCH)
        # A translation whose session was reopened is no longer verified: its human figure must go.
        FixCostRecord.objects.filter(source=FixCostSource.HUMAN).exclude(
            Q(translation__fix_sessions__status=SessionStatus.VERIFIED)
        ).delete()
    return len(by_translation)


def weighted(record: FixCostRecord) -> dict[str, float | None]:
    """Effort-weighted variants: minutes spent, characters edited, and runs needed (None when not logged)."""
    return {
        "minutes": round(record.time_spent_s / 60, 2) if record.time_spent_s is not None else None,
        "edit_size": record.edit_size,
        "runs": record.runs,
        "score_by_minutes": fixcost_score(record.time_spent_s / 60) if record.time_spent_s is not None else None,
        "score_by_runs": fixcost_score(record.runs) if record.runs is not None else None,
    }


def compute(translations, report: ComputeReport, options: ComputeOptions) -> None:
    """The registry's compute step: the human FixCost of the verified ones among `translations` (a queryset)."""
    report.say(f"fixcost: {compute_human(translations)} verified translations")


def stored_values(translation_ids: TranslationIds) -> StoredValues:
    """The human FixCost (steps as counted, an int) with how many of them step hygiene flagged, and beside it the
    LLM estimate where there is one."""
    values: StoredValues = defaultdict(dict)
    for translation_id, source, steps, score, flagged in FixCostRecord.objects.filter(
        translation_id__in=translation_ids
    ).values_list("translation_id", "source", "steps", "score", "flagged_steps"):
        if source == FixCostSource.HUMAN:
            values[translation_id].update(fixcost_steps=int(steps), fixcost_score=score)
            if flagged is not None:
                values[translation_id]["fixcost_flagged_steps"] = flagged
        else:
            values[translation_id].update(fixcost_llm_steps=steps, fixcost_llm_score=score)
    return values


def session_changed(sender=None, *, session: FixSession, **kwargs) -> None:
    """Receiver of annotate's fix_session_changed: a verified session's FixCost is stored at once (one
    translation, a few queries), and a reopened one's is dropped, so the dashboard refresh that follows shows it."""
    compute_human([session.translation])
