"""Background tasks of the evaluate app: metric batches, LLM judging and dashboard refreshes, with progress
on a Job row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from django.db import transaction
from django_tasks import task

from annotate import job_kinds, jobs, llm
from annotate.models import Job, JobStatus, System, Translation
from evaluate import dashboard, llm_compare
from evaluate.compute import ComputeError, compute, metrics_for, system_named
from evaluate.metrics import fixcost_estimate
from evaluate.metrics.base import DONE, FAILED, SKIPPED, MetricOutcome


def start_compute_job(chosen: Sequence[str], user=None, *, system: System | None = None, **options) -> Job:
    """Queue computing the `chosen` metric names (check them with compute.metrics_for first); `options` are
    compute()'s reference_system, baseline_system and model. One progress step per metric."""
    return jobs.start_job(
        "metrics", compute_metrics_task, system=system, user=user, total=len(chosen), metrics=list(chosen), **options
    )


@task()
def compute_metrics_task(job_id: int) -> None:
    """compute_metrics as a job: params metrics (names; older jobs: metric), reference_system, baseline_system,
    model; the job's system limits it to that system. Each metric's outcome goes into params["outcomes"]."""
    job = jobs.begin(job_id)
    if job is None:
        return
    params = job.params

    def record(outcome: MetricOutcome) -> None:
        job.params = {**job.params, "outcomes": [*job.params.get("outcomes", []), asdict(outcome)]}
        Job.objects.filter(pk=job.pk).update(params=job.params)
        failed = outcome.status == FAILED
        job.advance(done=0 if failed else 1, failed=1 if failed else 0, message=f"{outcome.label}: {outcome.status}")

    try:
        report = compute(
            params.get("metrics") or params.get("metric", "all"),
            reference_system=params.get("reference_system"),
            baseline_system=params.get("baseline_system"),
            system=job.system.name if job.system else None,
            model=params.get("model", ""),
            should_stop=lambda: jobs.cancelled(job),
            on_outcome=record,
        )
    except ComputeError as error:
        job.finish(JobStatus.FAILED, str(error))
        return
    if jobs.cancelled(job):
        job.finish(JobStatus.CANCELLED, "Cancelled; what was computed so far is stored.")
        return
    by_status = Counter(outcome.status for outcome in report.outcomes)
    summary = ", ".join(f"{by_status[status]} {status}" for status in (DONE, SKIPPED, FAILED) if by_status[status])
    message = "\n".join([f"{summary}; the dashboard was recomputed.", *report.problems[:20]])
    job.finish(JobStatus.FAILED if by_status[FAILED] == len(report.outcomes) else JobStatus.DONE, message)


@task()
def llm_compare_task(job_id: int) -> None:
    """LLM pairwise comparison, both orders, of every common sample of params system_a and system_b."""
    job = jobs.begin(job_id)
    if job is None:
        return
    a, b = job.params["system_a"], job.params["system_b"]
    model = job.params.get("model", "")
    by_sample: dict[int, dict[str, Translation]] = {}
    for t in Translation.objects.filter(system__name__in=[a, b]).exclude(code="").select_related("sample", "system"):
        by_sample.setdefault(t.sample_id, {})[t.system.name] = t
    pairs = [(ts[a], ts[b]) for ts in by_sample.values() if len(ts) == 2]
    for first, second in pairs:
        if jobs.cancelled(job):
            job.finish(JobStatus.CANCELLED, "Cancelled; comparisons so far are stored.")
            return
        try:
            llm_compare.compare_pair(first, second, model=model)
            job.advance(done=1, message=f"Compared {first.sample.key}")
        except (llm.LLMError, llm_compare.CompareError) as error:
            reason = getattr(error, "reason", str(error))
            job.advance(failed=1, message=f"{first.sample.key}: {reason}")
            if isinstance(error, llm.LLMNotConfigured):
                job.finish(JobStatus.FAILED, reason)
                return
    job.finish(JobStatus.DONE, f"Compared {len(pairs)} samples in both orders.")


@task()
def fixcost_estimate_task(job_id: int) -> None:
    """LLM FixCost estimates for params system's translations (only unfixed ones unless params all=True)."""
    job = jobs.begin(job_id)
    if job is None:
        return
    translations = job.system.translations.exclude(code="").select_related("sample")
    if not job.params.get("all"):
        translations = translations.exclude(fix_sessions__status="verified")
    for translation in translations:
        if jobs.cancelled(job):
            job.finish(JobStatus.CANCELLED, "Cancelled; estimates so far are stored.")
            return
        try:
            record = fixcost_estimate.estimate(translation, model=job.params.get("model", ""))
        except llm.LLMError as error:
            job.advance(failed=1, message=f"{translation.sample.key}: {error.reason}")
            continue
        job.advance(
            done=1 if record else 0,
            failed=0 if record else 1,
            message=f"{translation.sample.key}: " + ("estimated" if record else "no number in the answer"),
        )
    dashboard.mark_stale()  # the LLM estimates show beside the human FixCost
    job.finish(JobStatus.DONE, "Estimates stored.")


def enqueue_refresh(sender=None, *, job: Job, **kwargs) -> None:
    """Receiver of dashboard.refresh_queued: run the refresh once the Job row is committed."""
    transaction.on_commit(lambda: refresh_dashboard_task.enqueue(job.pk))


@task()
def refresh_dashboard_task(job_id: int) -> None:
    """Build and store the unfiltered dashboard; if data changed meanwhile, queue the next refresh."""
    job = jobs.begin(job_id)
    if job is None:
        return
    try:
        snapshot = dashboard.refresh()
    except Exception as error:
        # Failed, not left running: the refresh slot frees at once instead of after the silence allowance.
        job.finish(JobStatus.FAILED, f"Dashboard refresh failed: {type(error).__name__}: {error}")
        raise
    job.advance(done=1)
    job.finish(JobStatus.DONE, f"Dashboard stored (generation {snapshot.generation}).")
    if dashboard.generation() > snapshot.generation:
        dashboard.queue_refresh()  # data changed while it was building


# --- the Jobs page's names for these kinds, and how "Retry" starts each again ----------------------------

_SETTINGS = ("reference_system", "baseline_system", "model")


def _restart_metrics(job: Job, user) -> Job:
    chosen = metrics_for(job.params.get("metrics") or job.params.get("metric", "all"))
    return start_compute_job(chosen, user, system=job.system, **{k: job.params.get(k, "") for k in _SETTINGS})


def start_llm_compare_job(system_a: str, system_b: str, user=None, *, model: str = "") -> Job:
    """Queue the LLM comparison of two systems (checked by the caller) on their common samples."""
    return jobs.start_job("llm-compare", llm_compare_task, user=user, total=1, system_a=system_a, system_b=system_b,
                          model=model)  # fmt: skip


def start_fixcost_estimate_job(system: System, user=None, *, model: str = "", every: bool = False) -> Job:
    return jobs.start_job(
        "fixcost-estimate", fixcost_estimate_task, system=system, user=user, total=system.translations.count(),
        model=model, all=every,
    )  # fmt: skip


def _restart_llm_compare(job: Job, user) -> Job:
    a, b = job.params["system_a"], job.params["system_b"]
    system_named(a), system_named(b)  # either may have gone since
    return start_llm_compare_job(a, b, user, model=job.params.get("model", ""))


job_kinds.register("metrics", "Compute metrics", _restart_metrics)
job_kinds.register("llm-compare", "LLM comparison", _restart_llm_compare)
job_kinds.register(
    "fixcost-estimate",
    "LLM FixCost estimate",
    lambda job, user: start_fixcost_estimate_job(
        job.system, user, model=job.params.get("model", ""), every=bool(job.params.get("all"))
    ),
)
job_kinds.register(dashboard.REFRESH_JOB, "Dashboard refresh", lambda job, user: dashboard.queue_refresh(user))
