"""Every URL of the app, walked with every role and anonymously, against the allowed/forbidden matrix.

A new view must be added to MATRIX (the test fails on an unknown URL name), so no page ships unchecked.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from annotate.models import Run, RunPlot, SampleFile
from annotate.roles import ADMIN, DEVELOPER, REVIEWER
from evaluate.models import Experiment
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    JobFactory,
    SampleFactory,
    SystemFactory,
    TranslationFactory,
)
from tests.conftest import make_user

ANY = {DEVELOPER, REVIEWER, ADMIN}

# url name -> (HTTP method, roles allowed). Everyone else gets 403; anonymous users are sent to log in.
MATRIX: dict[str, tuple[str, set[str]]] = {
    "home": ("get", ANY),
    "help": ("get", ANY),
    "annotate:sample_list": ("get", ANY),
    "annotate:sample_detail": ("get", {DEVELOPER, ADMIN}),
    "annotate:sample_settings_update": ("post", {ADMIN}),
    "annotate:sample_file_create": ("post", {ADMIN}),
    "annotate:sample_file_download": ("get", {DEVELOPER, ADMIN}),
    "annotate:sample_file_delete": ("post", {ADMIN}),
    "annotate:system_list": ("get", {ADMIN}),
    "annotate:system_detail": ("get", {ADMIN}),
    "annotate:system_recount": ("post", {ADMIN}),
    "annotate:system_stats_hx": ("get", {ADMIN}),
    "annotate:system_runs_start": ("post", {ADMIN}),
    "annotate:run_plot": ("get", {DEVELOPER, ADMIN}),
    "annotate:sandbox_contents": ("get", ANY),
    "annotate:job_list": ("get", {ADMIN}),
    "annotate:system_verification": ("get", {ADMIN}),
    "annotate:system_verify": ("post", {ADMIN}),
    "annotate:job_progress_hx": ("get", {ADMIN}),
    "annotate:job_cancel": ("post", {ADMIN}),
    "annotate:job_retry": ("post", {ADMIN}),
    "evaluate:dashboard": ("get", {ADMIN}),
    "evaluate:dashboard_refresh": ("post", {ADMIN}),
    "dataset:home": ("get", {ADMIN}),
    "dataset:import_preview": ("post", {ADMIN}),
    "dataset:import_confirm": ("post", {ADMIN}),
    "dataset:export_download": ("get", {ADMIN}),
    "drafting:system_list": ("get", {ADMIN}),
    "drafting:system_create": ("get", {ADMIN}),
    "drafting:system_detail": ("get", {ADMIN}),
    "drafting:draft_start": ("post", {ADMIN}),
    "drafting:draft_retry": ("post", {ADMIN}),
    "drafting:prompt_preview": ("get", {ADMIN}),
    "evaluate:metrics_export": ("get", {ADMIN}),
    "evaluate:metrics_compute": ("post", {ADMIN}),
    "evaluate:llm_compare_start": ("post", {ADMIN}),
    "evaluate:fixcost_estimate_start": ("post", {ADMIN}),
    "evaluate:review_compare": ("get", {REVIEWER, ADMIN}),
    "evaluate:comparison_vote": ("post", {REVIEWER, ADMIN}),
    "evaluate:comparison_skip": ("post", {REVIEWER, ADMIN}),
    "evaluate:score_translation": ("get", {REVIEWER, ADMIN}),
    "evaluate:judgement_create": ("post", {REVIEWER, ADMIN}),
    "evaluate:judgement_skip": ("post", {REVIEWER, ADMIN}),
    "workspace:queue": ("get", {DEVELOPER, ADMIN}),
    "workspace:translation_claim": ("post", {DEVELOPER, ADMIN}),
    "workspace:session_detail": ("get", {DEVELOPER, ADMIN}),
    "workspace:code_save": ("post", {DEVELOPER, ADMIN}),
    "workspace:run_create": ("post", {DEVELOPER, ADMIN}),
    "workspace:run_cancel": ("post", {DEVELOPER, ADMIN}),
    "workspace:session_restore": ("post", {DEVELOPER, ADMIN}),
    "workspace:fix_step_new": ("get", {DEVELOPER, ADMIN}),
    "workspace:fix_step_create": ("post", {DEVELOPER, ADMIN}),
    "workspace:fix_step_suggest": ("post", {DEVELOPER, ADMIN}),
    "workspace:session_verify": ("post", {DEVELOPER, ADMIN}),
    "workspace:contract_run_create": ("post", {DEVELOPER, ADMIN}),
    "workspace:session_abandon": ("post", {DEVELOPER, ADMIN}),
    "workspace:fix_step_detail": ("get", {DEVELOPER, ADMIN}),
    "workspace:fix_step_retract": ("post", {DEVELOPER, ADMIN}),
    "workspace:session_reassign": ("post", {ADMIN}),
    "workspace:session_reopen": ("post", {ADMIN}),
    "contracts:contract_list": ("get", {ADMIN}),
    "contracts:contract_edit": ("get", {ADMIN}),
    "contracts:contract_check": ("post", {ADMIN}),
    "contracts:contract_scaffold_new": ("get", {ADMIN}),
    "contracts:contract_proposal_create": ("post", {ADMIN}),
    "evaluate:experiment_list": ("get", {ADMIN}),
    "evaluate:experiment_detail": ("get", {ADMIN}),
    "evaluate:experiment_step_start": ("post", {ADMIN}),
    "evaluate:experiment_report_rebuild": ("post", {ADMIN}),
    "evaluate:experiment_export": ("get", {ADMIN}),
}
# Django's own views with their own access rules, tested elsewhere.
NOT_ROLE_CHECKED = {"login", "logout"}


def _named_patterns(patterns=None, prefix: str = "") -> list[tuple[str, list[str]]]:
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            found += _named_patterns(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{prefix}{entry.name}", list(entry.pattern.converters)))
    return found


def _example_args() -> dict:
    """One example value for every URL parameter name the app uses, on fresh rows.

    The session is verified: the matrix users own nothing, and verified work is visible to every developer.
    """
    system = SystemFactory(name="secret-system-name")
    translation = TranslationFactory(system=system)
    session = FixSessionFactory(
        translation=TranslationFactory(system=system), status="verified", verified_at=timezone.now()
    )
    run = Run.objects.create(kind="jax", code_hash="0" * 64, status="ok", session=session)
    RunPlot.objects.create(run=run, position=1, source="show", png=b"\x89PNG\r\n\x1a\n")
    return {
        "run_id": run.pk,
        "position": 1,
        "file_id": SampleFile.objects.create(
            sample=translation.sample, name="data.csv", content=b"a\n", size=2, sha256="0" * 64
        ).pk,
        "key": translation.sample.key,
        "name": system.name,
        "pk": JobFactory(system=system).pk,
        "translation_id": translation.pk,
        "session_id": session.pk,
        "step_id": FixStepFactory(session=session).pk,
        "experiment_name": Experiment.objects.get_or_create(name="matrix-experiment")[0].name,
    }


@pytest.fixture
def url_args(db):
    """A callable giving example URL arguments on fresh rows, so a POST that changes state (a claim, a
    reopen) cannot change what the next URL sees."""

    return _example_args


def _reverse(name: str, params: list[str], url_args) -> str:
    values = url_args()
    missing = [p for p in params if p not in values]
    assert not missing, f"{name}: add an example value for {missing} to _example_args"
    return reverse(name, kwargs={p: values[p] for p in params})


def test_every_url_is_in_the_matrix():
    names = {name for name, _ in _named_patterns()} - NOT_ROLE_CHECKED
    assert names - set(MATRIX) == set(), "new URLs need a row in MATRIX"
    assert set(MATRIX) - names == set(), "MATRIX names URLs that no longer exist"


@pytest.mark.parametrize("role", [None, DEVELOPER, REVIEWER, ADMIN])
def test_each_role_gets_exactly_its_pages(client, url_args, role):
    if role:
        client.force_login(make_user(role))
    for name, params in _named_patterns():
        if name in NOT_ROLE_CHECKED:
            continue
        method, allowed = MATRIX[name]
        url = _reverse(name, params, url_args)
        response = getattr(client, method)(url)
        if role is None:
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
        elif role in allowed:
            # A request without parameters may be refused as bad input (400), but never for the role.
            assert response.status_code in (200, 302, 400), f"{role} should open {name}, got {response.status_code}"
        else:
            assert response.status_code == 403, f"{role} must not open {name}, got {response.status_code}"


def test_user_without_a_role_is_forbidden_everywhere_but_login(client, url_args):
    client.force_login(make_user(None))
    for name, params in _named_patterns():
        if name in NOT_ROLE_CHECKED:
            continue
        method, _ = MATRIX[name]
        assert getattr(client, method)(_reverse(name, params, url_args)).status_code == 403, name


def test_reviewer_pages_never_name_a_system(reviewer_client, url_args):
    SampleFactory()
    for name, params in _named_patterns():
        method, allowed = MATRIX.get(name, ("", set()))
        if method != "get" or REVIEWER not in allowed:
            continue
        response = reviewer_client.get(_reverse(name, params, url_args))
        assert b"secret-system-name" not in response.content, name


def test_django_admin_is_closed_to_developers_and_reviewers(client, db):
    for role in (DEVELOPER, REVIEWER):
        client.force_login(make_user(role))
        response = client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
