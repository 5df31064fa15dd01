"""Background tasks of the evaluate app: metric batches, LLM judging and dashboard refreshes, with progress
on a Job row."""

from __future__ import annotations

from django.db import transaction
from django_tasks import task

from annotate import jobs, llm
from annotate.models import Job, JobStatus, Translation
from evaluate import dashboard, llm_compare
from evaluate.compute import ComputeError, compute
from evaluate.metrics import fixcost_estimate


@task()
def compute_metrics_task(job_id: int) -> None:
    """compute_metrics as a job: params metric, reference_system, baseline_system, system, model."""
    job = jobs.begin(job_id)
    if job is None:
        return
    params = job.params
    try:
        report = compute(
            params.get("metric", "all"),
            reference_system=params.get("reference_system"),
            baseline_system=params.get("baseline_system"),
            system=job.system.name if job.system else None,
            model=params.get("model", ""),
            should_stop=lambda: jobs.cancelled(job),
        )
    except ComputeError as error:
        job.finish(JobStatus.FAILED, str(error))
        return
    if jobs.cancelled(job):
        job.finish(JobStatus.CANCELLED, "Cancelled; what was computed so far is stored.")
        return
    job.advance(done=1, failed=len(report.problems))
    message = "\n".join(report.lines + report.problems[:20])
    job.finish(JobStatus.DONE, message)


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
