"""The stored dashboard: a refresh builds the unfiltered context and stores it; pages only read it.

Votes, scores, imports and metric batches move a generation counter on (a database row, so the web
processes and the worker see the same one); a stored context built from an older generation is shown marked
stale. Each such change also queues a refresh, at most one at a time: `queue_refresh` takes the one slot
with a conditional UPDATE, which holds across processes, and sends `refresh_queued` for the task module to
enqueue the job once the transaction commits (domain code never imports tasks).

Filtered views (origin, difficulty, runtime baseline) are built once per generation and kept in the cache
(settings.CACHES: a DatabaseCache, shared by all processes), keyed by the generation, so an entry built
before a change is never served as current.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from annotate.models import Job
from evaluate.contexts import DashboardContext, Filters
from evaluate.models import DashboardGeneration, DashboardSnapshot

REFRESH_JOB = "dashboard"
ROW = 1  # the one row of DashboardGeneration and of DashboardSnapshot
FILTERED_SECONDS = 24 * 3600  # a generation rarely lives this long; the key makes older entries unreachable

# A refresh Job was queued (sent inside the caller's transaction). Keyword argument: job.
refresh_queued = Signal()


@dataclass(frozen=True)
class Shown:
    """What the dashboard shows: the context (JSON-ready dicts, None before the first refresh) and its age."""

    context: dict | None
    computed_at: datetime | None
    stale: bool = False


def generation() -> int:
    return DashboardGeneration.objects.filter(pk=ROW).values_list("value", flat=True).first() or 0


def mark_stale() -> Job | None:
    """What the dashboard shows changed: move the generation on (the stored context is now stale) and queue
    a refresh unless one is queued or running. Call it in the transaction that made the change."""
    with transaction.atomic(savepoint=False):  # joins the caller's transaction: no savepoint per vote
        _next_generation()
        return queue_refresh()


def data_changed(sender=None, **kwargs) -> None:
    """mark_stale as a receiver of annotate's signals (imports, verified or reopened sessions)."""
    mark_stale()


def queue_refresh(user=None) -> Job | None:
    """A new queued refresh Job, or None when one is already queued or running (it will do).

    The claim is a compare-and-swap on the generation row's refresh_job: of two processes that both saw
    the slot free, the second UPDATE matches nothing, and its Job is removed again.
    """
    with transaction.atomic(savepoint=False):
        held = _refresh_job_held()
        if held is not None and held.is_active:
            return None
        job = Job.objects.create(kind=REFRESH_JOB, created_by=user, total=1)
        if not DashboardGeneration.objects.filter(pk=ROW, refresh_job=held).update(refresh_job=job):
            job.delete()
            return None
        refresh_queued.send(sender=Job, job=job)
        return job


def _next_generation() -> None:
    if not DashboardGeneration.objects.filter(pk=ROW).update(value=F("value") + 1):
        DashboardGeneration.objects.get_or_create(pk=ROW)  # the row the migration made was removed (a flush)
        DashboardGeneration.objects.filter(pk=ROW).update(value=F("value") + 1)


def _refresh_job_held() -> Job | None:
    state = DashboardGeneration.objects.select_related("refresh_job").filter(pk=ROW).first()
    if state is None:
        DashboardGeneration.objects.get_or_create(pk=ROW)
        return None
    return state.refresh_job


def refresh(*, changed: bool = False) -> DashboardSnapshot:
    """Build the unfiltered context from the database and store it, tagged with the generation read first.

    `changed`: the caller just changed the data (a metric batch), so the generation moves on first and
    cached filtered views built before are not served. Reading the generation before building means a
    change during the build leaves the snapshot stale rather than wrongly fresh. A snapshot of an older
    generation never replaces a newer one.
    """
    if changed:
        _next_generation()
    built_from = generation()
    payload = json.dumps(DashboardContext.from_database().to_payload(), ensure_ascii=False, allow_nan=False)
    values = {"payload": payload, "generation": built_from, "computed_at": timezone.now()}
    if not DashboardSnapshot.objects.filter(pk=ROW, generation__lte=built_from).update(**values):
        DashboardSnapshot.objects.get_or_create(pk=ROW, defaults=values)
    return DashboardSnapshot.objects.get(pk=ROW)


def stored() -> Shown:
    """The stored unfiltered context, stale when the generation moved on since it was built."""
    snapshot = DashboardSnapshot.objects.filter(pk=ROW).first()
    if snapshot is None:
        return Shown(None, None)
    return Shown(json.loads(snapshot.payload), snapshot.computed_at, stale=snapshot.generation < generation())


def filtered(filters: Filters, baseline: str) -> Shown:
    """A filtered context: from the cache when built at this generation, else built now and cached."""
    key = _cache_key(generation(), filters, baseline)
    cached = cache.get(key)
    if cached is None:
        context = DashboardContext.from_database(filters, baseline=baseline).to_payload()
        cached = (context, timezone.now())
        cache.set(key, cached, FILTERED_SECONDS)
    return Shown(*cached)


def shown(filters: Filters, baseline: str = "") -> Shown:
    """What a GET of the dashboard (or one of its table downloads) shows for these filters."""
    if filters == Filters() and not baseline:
        return stored()
    return filtered(filters, baseline)


def _cache_key(at: int, filters: Filters, baseline: str) -> str:
    what = json.dumps([filters.origin, filters.difficulty, baseline])
    return f"evaluate:dashboard:{at}:{hashlib.sha256(what.encode()).hexdigest()}"

