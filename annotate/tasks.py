"""Background tasks (Django's Tasks API through the django-tasks backport) and the functions that queue them.

Every annotate task lives here; each fills in the progress of its Job (annotate.jobs).
"""

from __future__ import annotations

from collections import Counter

from django_tasks import task

from annotate import batch_runs, drafting, job_kinds, jobs, llm, system_stats
from annotate.models import Job, JobStatus, System

# --- system statistics --------------------------------------------------------------------------------------


def start_recount_job(system: System, user=None) -> Job:
    return jobs.start_job("recount", recount_system_stats, system=system, user=user, total=system.translations.count())


@task()
def recount_system_stats(job_id: int) -> None:
    """Recount a system's translations, sessions, steps and tokens, one translation at a time."""
    job = jobs.begin(job_id)
    if job is None:
        return
    counted = []
    for translation in job.system.translations.select_related("sample").iterator():
        if jobs.cancelled(job):
            job.finish(JobStatus.CANCELLED, "Cancelled; statistics were left as they were.")
            return
        counted.append(system_stats.translation_counts(translation))
        job.advance(done=1, message=f"Counted {translation.sample.key}")
    system_stats.store(job.system, counted)
    job.finish(JobStatus.DONE, "Statistics are up to date.")


# --- drafting -----------------------------------------------------------------------------------------------


def start_draft_job(system: System, user=None, *, retry_failed: bool = False) -> Job:
    """Queue "draft all samples" (or "retry the failed drafts") for `system`; raises drafting.DraftingError
    for what cannot run (see drafting.draft_job_keys)."""
    keys = drafting.draft_job_keys(system, retry_failed=retry_failed)
    return jobs.start_job(
        drafting.DRAFT_JOB,
        draft_system_task,
        system=system,
        user=user,
        total=len(keys),
        sample_keys=keys,
        retry_failed=retry_failed,
    )


@task()
def draft_system_task(job_id: int) -> None:
    """Draft the samples the job names; resumable (drafted samples are skipped) and cancellable between samples."""
    job = jobs.begin(job_id)
    if job is None:
        return
    try:
        samples = drafting.samples_by_keys(job.params.get("sample_keys") or [])
        report = drafting.draft_samples(
            job.system,
            samples,
            retry_failed=bool(job.params.get("retry_failed")),
            on_outcome=drafting.progress_callback(job),
            should_stop=lambda: jobs.cancelled(job),
        )
    except (drafting.DraftingError, llm.LLMNotConfigured) as error:
        job.finish(JobStatus.FAILED, str(error))
        return
    except Exception as error:
        job.finish(JobStatus.FAILED, f"Drafting stopped on an unexpected error: {type(error).__name__}: {error}")
        raise
    job.finish(JobStatus.CANCELLED if report.cancelled else JobStatus.DONE, report.summary())


# --- batch runs ---------------------------------------------------------------------------------------------


def start_batch_run_job(system: System, kind: str, user=None) -> Job:
    """Queue a batch run of every translation of `system` (kind jax) or of its samples' PyTorch programs
    (kind pytorch); raises batch_runs.BatchProblem for an unknown kind."""
    translations = batch_runs.plan(system.name, kind=kind)
    return jobs.start_job(
        batch_runs.JOB_KIND, batch_run_task, system=system, user=user, total=len(translations), run_kind=kind
    )


@task()
def batch_run_task(job_id: int) -> None:
    """Run the system's programs through the sandbox, each Run linked to its translation; cancellable between runs."""
    job = jobs.begin(job_id)
    if job is None:
        return
    kind = job.params.get("run_kind", "jax")
    try:
        translations = batch_runs.plan(job.system.name, kind=kind)
    except batch_runs.BatchProblem as problem:
        job.finish(JobStatus.FAILED, str(problem))
        return
    counts: Counter = Counter()
    for translation, result in batch_runs.run_all(translations, kind, should_stop=lambda: jobs.cancelled(job)):
        counts[result.status] += 1
        job.advance(done=1, message=f"{translation.sample.key}: {result.status}")
    by_status = ", ".join(f"{count} {status}" for status, count in counts.most_common()) or "nothing to run"
    if jobs.cancelled(job):
        job.finish(JobStatus.CANCELLED, f"Cancelled after {sum(counts.values())} run(s): {by_status}.")
    else:
        job.finish(JobStatus.DONE, f"{sum(counts.values())} run(s) stored: {by_status}.")


# --- the Jobs page's names for these kinds, and how "Retry" starts each again ----------------------------

job_kinds.register("recount", "Recount statistics", lambda job, user: start_recount_job(job.system, user))
job_kinds.register(
    drafting.DRAFT_JOB,
    "Drafting",
    lambda job, user: start_draft_job(job.system, user, retry_failed=bool(job.params.get("retry_failed"))),
)
job_kinds.register(
    batch_runs.JOB_KIND,
    "Batch run",
    lambda job, user: start_batch_run_job(job.system, job.params.get("run_kind", "jax"), user),
)
