"""The background task of an experiment's steps, and what queues it (glue: only views and commands import it)."""

from __future__ import annotations

from django.db import transaction
from django_tasks import task

from annotate import jobs
from annotate.models import Job
from evaluate import experiment as experiments
from evaluate import experiment_report
from evaluate.models import Experiment


def start_step(experiment: Experiment, step: str, user=None) -> Job:
    """Queue one step of `experiment` as a Job; ExperimentError for an unknown step or one already active."""
    job = experiments.new_job(experiment, step, user)
    transaction.on_commit(lambda: experiment_step_task.enqueue(job.pk))
    return job


@task()
def experiment_step_task(job_id: int) -> None:
    """Run the step the job names; resumable (what is done is skipped) and cancellable between items."""
    job = jobs.begin(job_id)
    if job is not None:
        experiments.execute(job)
        experiment_report.store(experiments.named(job.params["experiment"]))  # what the page shows next
