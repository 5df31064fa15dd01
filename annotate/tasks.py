"""Background tasks (Django's Tasks API through the django-tasks backport) and the functions that queue them.

Every annotate task lives here; each fills in the progress of its Job (annotate.jobs). A task's results that
its page shows afterwards go into the Job's params (`results` of a batch verification, `proposal` of a
contract proposal).
"""

from __future__ import annotations

from collections import Counter

from django_tasks import task

from annotate import batch_runs, contract_proposals, contracts, drafting, job_kinds, jobs, llm, system_stats
from annotate.models import Job, JobStatus, Sample, System

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


# --- contracts: a system's batch verification, an LLM's contract proposal ------------------------------------

VERIFY_JOB = "verify"
PROPOSAL_JOB = "contract-proposal"


def start_verify_job(system: System, user=None) -> Job:
    """Queue "check every translation of `system` against its sample's contract"; samples without one are
    listed in the job, not counted."""
    checked, no_contract = contracts.batch_plan(system)
    return jobs.start_job(
        VERIFY_JOB, verify_system_task, system=system, user=user, total=len(checked), no_contract=no_contract
    )


def _save_params(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(params=job.params)


@task()
def verify_system_task(job_id: int) -> None:
    """Run the contracts one translation at a time, keeping each verdict; cancellable between translations."""
    job = jobs.begin(job_id)
    if job is None:
        return
    job.params["results"] = []
    _save_params(job)

    def keep(outcome: contracts.SampleVerdict) -> None:
        job.params["results"].append(
            {"sample": outcome.sample, "verdict": outcome.verdict, "message": outcome.message, "run_id": outcome.run_id}
        )
        _save_params(job)
        job.advance(done=1, message=f"{outcome.sample}: {outcome.verdict}")

    try:
        report = contracts.verify_system(
            job.system, user=job.created_by, on_result=keep, should_stop=lambda: jobs.cancelled(job)
        )
    except Exception as error:
        job.finish(JobStatus.FAILED, f"Verification stopped on an unexpected error: {type(error).__name__}: {error}")
        raise
    counts = report.counts()
    summary = (
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['contract-error']} contract error; "
        f"{len(report.no_contract)} without a contract"
    )
    job.finish(JobStatus.CANCELLED if report.cancelled else JobStatus.DONE, summary)


def start_proposal_job(sample: Sample, draft: str, user=None) -> Job:
    """Queue "ask the LLM to finish this contract draft" for `sample` (the draft: a scaffold or the editor's text)."""
    return jobs.start_job(PROPOSAL_JOB, contract_proposal_task, user=user, total=1, sample=sample.key, draft=draft)


@task()
def contract_proposal_task(job_id: int) -> None:
    """One LLM call and, when the sample has a verified translation, one contract run against it."""
    job = jobs.begin(job_id)
    if job is None:
        return
    sample = Sample.objects.filter(key=job.params.get("sample")).first()
    if sample is None:
        job.finish(JobStatus.FAILED, "The sample no longer exists.")
        return
    try:
        proposal = contract_proposals.propose(sample, job.params.get("draft", ""), user=job.created_by)
    except (llm.LLMError, contract_proposals.ProposalProblem) as error:
        job.advance(failed=1)
        job.finish(JobStatus.FAILED, str(error))
        return
    job.params["proposal"] = proposal.as_dict()
    _save_params(job)
    job.advance(done=1)
    if not proposal.checked:
        message = "Proposal ready, unchecked: the sample has no verified translation to run it against."
    else:
        message = f"Proposal ready; against the verified translation: {proposal.verdict}."
    job.finish(JobStatus.DONE, message)


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
job_kinds.register(VERIFY_JOB, "Contract verification", lambda job, user: start_verify_job(job.system, user))
job_kinds.register(PROPOSAL_JOB, "Contract proposal")
