"""A system's statistics: how many translations, failed drafts, fix sessions by status, steps and tokens.

The recount job (annotate/tasks.py) counts them one translation at a time with progress; the demo counts
its systems at once. They are stored on the System (`stats`, `stats_updated_at`) and shown with LABELS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.utils import timezone

from annotate.models import DraftStatus, SessionStatus, System, Translation

# Stored key -> what the system page calls it, in the order shown.
LABELS = {
    "translations": "Translations",
    "drafts_failed": "Failed drafts",
    "sessions_open": "Fix sessions open",
    "sessions_verified": "Fix sessions verified",
    "sessions_abandoned": "Fix sessions abandoned",
    "fix_steps": "Fix steps (of verified sessions)",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Completion tokens",
}
STAT_KEYS = tuple(LABELS)


def translation_counts(translation: Translation) -> Counter:
    """What one translation adds to its system's statistics."""
    counts = Counter(translations=1)
    counts["drafts_failed"] += translation.draft_status == DraftStatus.FAILED
    counts["prompt_tokens"] += translation.prompt_tokens or 0
    counts["completion_tokens"] += translation.completion_tokens or 0
    for session in translation.fix_sessions.all():
        counts[f"sessions_{session.status}"] += 1
        if session.status == SessionStatus.VERIFIED:
            counts["fix_steps"] += session.counted_steps().count()
    return counts


def store(system: System, per_translation: Iterable[Counter]) -> None:
    """Add up the translations' counts and store them as the system's statistics, counted now."""
    totals = Counter({key: 0 for key in STAT_KEYS})
    for counts in per_translation:
        totals.update(counts)
    system.stats = {key: totals[key] for key in STAT_KEYS}
    system.stats_updated_at = timezone.now()
    system.save(update_fields=["stats", "stats_updated_at"])


def recount(system: System) -> None:
    """Count and store a system's statistics at once (no job: for small systems such as the demo's)."""
    store(system, (translation_counts(t) for t in system.translations.prefetch_related("fix_sessions")))


def rows(system: System) -> list[tuple[str, int]]:
    """(label, value) of the stored statistics, in LABELS order; keys stored by older versions keep their name."""
    stats = system.stats or {}
    known = [(LABELS[key], stats[key]) for key in LABELS if key in stats]
    return known + [(key, value) for key, value in stats.items() if key not in LABELS]
