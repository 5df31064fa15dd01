"""FixCost: the counted steps of a translation's verified session, FixCost Score = 1 / (1 + steps).

Effort-weighted variants come from what each step logged: time spent, edit size (characters changed) and runs.
Steps flagged by step hygiene (annotate.hygiene: duplicates, near-duplicates and repeats of an earlier step)
count by default, as the paper counted them; their number is stored beside, and FixCost.of_session can leave
them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Prefetch, Q, Sum
from django.utils import timezone

from annotate.models import FixSession, SessionStatus, Translation
from evaluate.metrics.base import ComputeOptions, ComputeReport, StoredValues, TranslationIds
from evaluate.models import FixCostRecord, FixCostSource


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
        steps = session.counted_steps()
        flagged = steps.exclude(flags=[]).count()
        if not count_flagged:
            steps, flagged = steps.filter(flags=[]), 0
        totals = steps.aggregate(
            n=Count("pk"), time=Sum("time_spent_s"), edit=Sum("edit_size"), runs=Count("run", distinct=True)
        )
        # A session's own runs count even when no step points at them (runs that showed nothing new).
        runs = max(totals["runs"], session.runs.count())
        return cls(
            steps=totals["n"], time_spent_s=totals["time"], edit_size=totals["edit"], runs=runs, flagged=flagged
        )


def verified_translations() -> Iterable[Translation]:
    verified = FixSession.objects.filter(status=SessionStatus.VERIFIED)
    return (
        Translation.objects.filter(fix_sessions__status=SessionStatus.VERIFIED)
        .select_related("sample", "system")
        .prefetch_related(Prefetch("fix_sessions", queryset=verified, to_attr="verified_sessions"))
        .distinct()
    )


def compute_human(translations: Iterable[Translation] | None = None) -> int:
    """Store the human FixCost of every verified translation (or of `translations`); returns how many."""
    stored = 0
    with transaction.atomic():
        for translation in translations if translations is not None else verified_translations():
            session = translation.verified_session()
            if session is None:
                continue
            cost = FixCost.of_session(session)
            FixCostRecord.objects.update_or_create(
                translation=translation,
                source=FixCostSource.HUMAN,
                defaults={
                    "steps": cost.steps,
                    "score": cost.score,
                    "time_spent_s": cost.time_spent_s,
                    "edit_size": cost.edit_size,
                    "runs": cost.runs,
                    "flagged_steps": cost.flagged,
                    "computed_at": timezone.now(),
                },
            )
            stored += 1
        # A translation whose session was reopened is no longer verified: its human figure must go.
        FixCostRecord.objects.filter(source=FixCostSource.HUMAN).exclude(
            Q(translation__fix_sessions__status=SessionStatus.VERIFIED)
        ).delete()
    return stored


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
    verified = verified_translations().filter(pk__in=translations.values("pk"))
    report.say(f"fixcost: {compute_human(verified)} verified translations")


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
