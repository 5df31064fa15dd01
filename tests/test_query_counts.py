"""Every page of the role matrix, and every Django admin list, runs as many queries at 3×S as at S (issue 19).

A page whose query count grows with the data (a query per row, per system, per session) gets slow at a team's
volume long before a test notices the time; the count is what can be asserted. S is a small world built with
the factories (samples with drafts of several systems, verified and open sessions with steps and a retraction,
runs, votes, scores, stored metrics, session events); 3×S adds the same twice more, and a job that has waited
in the queue for half an hour, as the demo's dashboard refresh does when no worker runs: waiting is not lost
(a queued job may wait hours behind a long one), so the pages that look for lost jobs must do no more for it.
Times are measured by bench/scale.py, never here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotate.models import FixStep, Job, JobStatus, RunPlot, SampleFile, SessionEvent, SessionEventKind, SessionStatus
from annotate.roles import ADMIN, DEVELOPER, REVIEWER
from evaluate import dashboard, experiment_report
from evaluate import experiment as experiments
from evaluate.models import CodeBLEUScore, FixCostRecord, FixCostSource
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    JobFactory,
    RunFactory,
    SampleFactory,
    SystemFactory,
    TranslationFactory,
)
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory, JudgementFactory
from tests.test_role_matrix import MATRIX, NOT_ROLE_CHECKED, _named_patterns

SYSTEMS_PER_UNIT = 2
SAMPLES_PER_UNIT = 3
# Pages that need parameters to do their work (without them they answer 400 at once).
QUERIES = {"dataset:export_download": "?format=jsonl", "evaluate:experiment_export": "?format=json"}
# Downloads beside the pages: a table of every vote, of every score, the paper's format.
DOWNLOADS = {
    "comparisons csv": "evaluate:metrics_export", "judgements json": "evaluate:metrics_export",
    "dataset t2j": "dataset:export_download",
}  # fmt: skip


def _unit(n: int, users: dict) -> dict:
    """One S-worth of data; returns the rows the URLs of the first unit point at."""
    systems = [SystemFactory(name=f"system-{n}-{i}") for i in range(SYSTEMS_PER_UNIT)]
    first = {}
    for s in range(SAMPLES_PER_UNIT):
        sample = SampleFactory(key=f"u{n}-s{s}")
        translations = [TranslationFactory(sample=sample, system=system) for system in systems]
        verified = FixSessionFactory(
            translation=translations[0], owner=users[DEVELOPER], status=SessionStatus.VERIFIED,
            verified_at=timezone.now(), current_code="import jax\n",
        )  # fmt: skip
        steps = [FixStepFactory(session=verified, index=i) for i in (1, 2, 3)]
        FixStep.objects.create(session=verified, index=4, retracts=steps[1], author=users[DEVELOPER])
        run = RunFactory(session=verified, user=users[DEVELOPER])
        FixStepFactory(session=verified, index=5, run=run)
        SessionEvent.objects.create(session=verified, kind=SessionEventKind.VERIFIED, actor=users[DEVELOPER])
        FixSessionFactory(translation=translations[1], owner=users[DEVELOPER], status=SessionStatus.OPEN)
        ComparisonFactory(sample=sample, left=translations[0], right=translations[1], judge_user=users["other"])
        JudgementFactory(translation=translations[0], judge_user=users["other"])
        JudgementFactory(translation=translations[1], judge_user=None, judge_model="judge", with_reference=True)
        for t in translations:
            RunFactory(translation=t, status="error", exception_type="KeyError", exception_message=sample.key)  # batch
            CodeBLEUScore.objects.create(translation=t, reference="verified", codebleu=0.5, ngram=0.5,
                                         weighted_ngram=0.5, syntax=0.5, dataflow=0.5)  # fmt: skip
        FixCostRecord.objects.create(translation=translations[0], source=FixCostSource.HUMAN, steps=4, score=0.2)
        first.setdefault("key", sample.key)
        first.setdefault("name", systems[0].name)
        first.setdefault("translation_id", translations[1].pk)
        first.setdefault("session_id", verified.pk)
        first.setdefault("step_id", steps[0].pk)
        RunPlot.objects.create(run=run, position=1, source="show", png=b"\x89PNG\r\n\x1a\n")
        first.setdefault("run_id", run.pk)
        first.setdefault("position", 1)
        data = SampleFile.objects.create(sample=sample, name="data.csv", content=b"a\n", size=2, sha256="0" * 64)
        first.setdefault("file_id", data.pk)
    first["pk"] = JobFactory(system=systems[0]).pk
    experiment, _ = experiments.create(
        {"name": f"experiment-{n}", "samples": [f"u{n}-s{s}" for s in range(SAMPLES_PER_UNIT)],
         "metrics": ["codebleu", "fixcost", "comparison"],
         "arms": [{"name": f"arm-{i}", "system": system.name} for i, system in enumerate(systems)]}
    )  # fmt: skip
    experiment_report.store(experiment, resamples=99)
    first["experiment_name"] = experiment.name
    return first


def _urls(values: dict) -> dict[str, tuple[str, str]]:
    """label -> (role opening it, url): every GET of the role matrix and every admin change list."""
    urls = {}
    for name, params in _named_patterns():
        if name in NOT_ROLE_CHECKED or MATRIX[name][0] != "get":
            continue
        role = next(r for r in (DEVELOPER, REVIEWER, ADMIN) if r in MATRIX[name][1])
        urls[name] = (role, reverse(name, kwargs={p: values[p] for p in params}) + QUERIES.get(name, ""))
    for label, name in DOWNLOADS.items():
        table, fmt = label.split()
        query = f"?format=t2j&system={values['name']}" if fmt == "t2j" else f"?table={table}&format={fmt}"
        urls[label] = (ADMIN, reverse(name) + query)
    for model in admin.site._registry:
        opts = model._meta
        urls[f"admin {opts.label}"] = (ADMIN, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def _counts(clients: dict, urls: dict) -> dict[str, int]:
    counts = {}
    for label, (role, url) in urls.items():
        clients[role].get(url)  # first request: sessions, caches and blind handles settle
        with CaptureQueriesContext(connection) as queries:
            response = clients[role].get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code in (200, 302), f"{label}: {response.status_code}"
        counts[label] = len(queries)
    return counts


@pytest.mark.django_db
def test_every_page_runs_as_many_queries_at_three_times_the_data(client_factory):
    users = {role: make_user(role, name) for role, name in ((DEVELOPER, "dev"), (REVIEWER, "rev"), (ADMIN, "boss"))}
    users["other"] = make_user(REVIEWER, "rev2")
    users[ADMIN].is_staff = users[ADMIN].is_superuser = True
    users[ADMIN].save()
    clients = client_factory(users)
    values = _unit(0, users)
    dashboard.refresh(changed=True)
    urls = _urls(values)
    small = _counts(clients, urls)

    for n in (1, 2):
        _unit(n, users)
    _waiting_job(minutes=30)
    dashboard.refresh(changed=True)
    large = _counts(clients, urls)

    grew = {label: (small[label], large[label]) for label in urls if large[label] != small[label]}
    assert grew == {}, f"pages whose queries grow with the data (S, 3×S): {grew}"


def _waiting_job(minutes: int) -> None:
    """A job queued `minutes` ago that no worker has started yet: longer than its kind may stay silent while
    running (jobs.DEFAULT_SILENCE), shorter than a queued job may wait (jobs.QUEUE_WAIT)."""
    job = JobFactory(kind="dashboard", system=None, status=JobStatus.QUEUED)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))  # auto_now


@pytest.fixture
def client_factory():
    from django.test import Client

    def make(users: dict) -> dict:
        clients = {}
        for role in (DEVELOPER, REVIEWER, ADMIN):
            clients[role] = Client()
            clients[role].force_login(users[role])
        return clients

    return make
