"""Background drafting: "draft all samples with this system" as a task that fills in its Job's progress."""

from __future__ import annotations

from django_tasks import task

from annotate import drafting, jobs, llm
from annotate.models import JobStatus


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
