"""Background tasks (Django's Tasks API through the django-tasks backport)."""

from __future__ import annotations

from collections import Counter

from django.utils import timezone
from django_tasks import task

from annotate import jobs
from annotate.models import DraftStatus, JobStatus, SessionStatus, Translation

STAT_KEYS = (
    "translations", "drafts_failed", "sessions_open", "sessions_verified", "sessions_abandoned",
    "fix_steps", "prompt_tokens", "completion_tokens",
)


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


@task()
def recount_system_stats(job_id: int) -> None:
    """Recount a system's translations, sessions, steps and tokens, one translation at a time."""
    job = jobs.begin(job_id)
    if job is None:
        return
    totals = Counter({key: 0 for key in STAT_KEYS})
    for translation in job.system.translations.select_related("sample").iterator():
        if jobs.cancelled(job):
            job.finish(JobStatus.CANCELLED, "Cancelled; statistics were left as they were.")
            return
        totals.update(translation_counts(translation))
        job.advance(done=1, message=f"Counted {translation.sample.key}")
    job.system.stats = {key: totals[key] for key in STAT_KEYS}
    job.system.stats_updated_at = timezone.now()
    job.system.save(update_fields=["stats", "stats_updated_at"])
    job.finish(JobStatus.DONE, "Statistics are up to date.")
