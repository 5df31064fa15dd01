"""manage.py experiment create --spec FILE.json | run NAME [--step STEP] [--queue] | report NAME --format md|csv|json
[--output FILE] | list

`run` runs the steps (all, in order: draft, run, verify, metrics, judge; or the one named) in the foreground, each
as a Job that the experiment's page shows with its progress and can cancel; running again resumes (what is done is
skipped). With --queue the step goes to the task worker instead. Exit status 1 when a step failed or was cancelled.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate import jobs
from annotate.models import JobStatus
from evaluate import experiment as experiments
from evaluate import experiment_report
from evaluate.experiment_tasks import start_step
from evaluate.models import Experiment


class Command(BaseCommand):
    help = "Create, run and report experiments (the paper's protocol: samples, arms, reference, metrics)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create an experiment from a JSON spec")
        create.add_argument("--spec", required=True, type=Path, help="the spec (see evaluate/experiment.py)")
        run = actions.add_parser("run", help="Run (or resume) the experiment's steps")
        run.add_argument("name")
        run.add_argument("--step", choices=experiments.STEPS, help="only this step (default: all, in order)")
        run.add_argument("--queue", action="store_true", help="queue the step for the task worker, do not wait")
        report = actions.add_parser("report", help="Write the experiment's report")
        report.add_argument("name")
        report.add_argument("--format", choices=experiment_report.FORMATS, default="md", dest="fmt")
        report.add_argument("--output", type=Path, help="write to this file (default: standard output)")
        actions.add_parser("list", help="List the experiments")

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except experiments.ExperimentError as error:
            raise CommandError(error.message) from None

    def _create(self, *, spec: Path, **options) -> None:
        experiment, status = experiments.create_from_file(spec)
        arms = experiments.arms_of(experiment)
        arms = ", ".join(f"{arm.name} ({arm.system.name}, {arm.prompt_mode})" for arm in arms)
        self.stdout.write(f"Experiment {experiment.name} {status}: {len(experiment.sample_keys)} samples; arms {arms}.")

    def _run(self, *, name: str, step: str | None, queue: bool, **options) -> None:
        experiment = experiments.named(name)
        if queue:
            if step is None:
                raise CommandError("--queue needs --step: queued steps run one at a time, in the order you queue them")
            job = start_step(experiment, step)
            self.stdout.write(f"Queued {step} of {name} as job {job.pk}.")
            return
        for chosen in [step] if step else experiments.STEPS:
            job = experiments.new_job(experiment, chosen)
            job = jobs.begin(job.pk)
            result = experiments.execute(job)
            experiment_report.store(experiment)  # the page shows the report as of this step
            job.refresh_from_db()
            self.stdout.write(f"{chosen}: {job.status} — {result.message}")
            if job.status != JobStatus.DONE:
                raise CommandError(f"step {chosen} {job.status}; run it again to resume")

    def _report(self, *, name: str, fmt: str, output: Path | None, **options) -> None:
        text = experiment_report.render(experiment_report.store(experiments.named(name)), fmt)
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {output} ({fmt}).")

    def _list(self, **options) -> None:
        for experiment in Experiment.objects.prefetch_related("arms"):
            self.stdout.write(
                f"{experiment.name}\t{len(experiment.sample_keys)} samples\t{experiment.arms.count()} arms\t"
                f"reference {experiment.reference}"
            )
