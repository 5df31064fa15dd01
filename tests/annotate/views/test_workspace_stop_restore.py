"""The workspace's Stop button, Reset to draft / restore a step, and what marks output as from an earlier version
(issue 18, developer part). Views in annotate/views/workspace.py."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import Client
from django.urls import reverse

from annotate import fixlog, runs, sandbox
from annotate.models import FixSession, Run, RunStatus, SessionEvent
from annotate.sandbox import cancel
from tests.annotate.factories import RunFactory, SampleFactory, TranslationFactory
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run
from tests.annotate.sandbox_support import require_sandbox
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
JSON = {"HTTP_ACCEPT": "application/json"}


def url(name: str, *args) -> str:
    return reverse(f"workspace:{name}", args=args)


@pytest.fixture(autouse=True)
def no_runner(settings):
    settings.T2J_RUNNER_URLS = []  # stops reach this process only (the registry the tests watch)


@pytest.fixture
def session(developer):
    return fixlog.claim(TranslationFactory(code=DRAFT), developer)


# --- Stop ---


def test_stop_stops_the_owners_runs_of_the_session(developer_client, developer, session):
    with cancel.watching(runs.cancel_key(session, developer)) as flag:
        response = developer_client.post(url("run_cancel", session.pk), **JSON)

    assert response.status_code == 200 and response.json() == {"stopped": 1, "message": "Stopped 1 run."}
    assert flag.is_set()


@pytest.mark.parametrize("htmx", [False, True])
def test_stop_without_script_goes_back_to_the_session_saying_what_it_did(developer_client, session, htmx):
    response = developer_client.post(url("run_cancel", session.pk), **(HX if htmx else {}))

    assert (response["HX-Redirect"] if htmx else response.url) == url("session_detail", session.pk)
    page = developer_client.get(url("session_detail", session.pk)).content.decode()
    assert "Nothing of yours was running." in page


def test_stop_stops_only_the_askers_own_runs(admin_client_role, developer, session):
    with cancel.watching(runs.cancel_key(session, developer)) as flag:
        response = admin_client_role.post(url("run_cancel", session.pk), **JSON)

    assert response.json()["stopped"] == 0 and not flag.is_set()


def test_nobody_else_can_stop_a_developers_run(client, other_developer, developer, session):
    client.force_login(other_developer)
    with cancel.watching(runs.cancel_key(session, developer)) as flag:
        # Someone else's open session does not exist for another developer.
        assert client.post(url("run_cancel", session.pk), **JSON).status_code == 404
        assert not flag.is_set()


def test_on_a_closed_session_a_developer_has_nothing_to_stop(developer_client, developer, session):
    fixlog.abandon(session, developer)

    response = developer_client.post(url("run_cancel", session.pk), **JSON)

    assert response.status_code == 400 and "abandoned" in response.json()["message"]


def test_stop_needs_this_browsers_csrf_token(developer, session):
    client = Client(enforce_csrf_checks=True)
    client.force_login(developer)
    with cancel.watching(runs.cancel_key(session, developer)) as flag:
        response = client.post(url("run_cancel", session.pk), **JSON)

    assert response.status_code == 403 and not flag.is_set()


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_a_stopped_run_is_stored_as_killed_and_shown_without_the_runners_address(settings, tmp_path):
    require_sandbox()
    settings.T2J_COMPILE_CACHE_DIR = tmp_path / "compile-cache"
    settings.T2J_RUNNER_URLS = ["http://127.0.0.1:9"]  # no runner there: a cold start here, and a note naming it
    developer = make_user("developer", "looper")
    session = fixlog.claim(TranslationFactory(code="while True:\n    pass\n"), developer)
    running, stopping = Client(), Client()
    running.force_login(developer)
    stopping.force_login(developer)
    answers = []
    post = {"code": session.current_code, "version": session.version, "kind": "jax"}
    thread = threading.Thread(target=lambda: answers.append(running.post(url("run_create", session.pk), post, **HX)))
    thread.start()
    deadline = time.monotonic() + 90
    while stopping.post(url("run_cancel", session.pk), **JSON).json()["stopped"] == 0:
        assert time.monotonic() < deadline and thread.is_alive(), "the run never started or ended by itself"
        time.sleep(0.3)
    thread.join(60)

    (response,) = answers
    run = Run.objects.get(session=session)
    assert response.status_code == 200
    assert (run.status, run.exception_message) == (RunStatus.KILLED, sandbox.STOPPED_MESSAGE)
    page = response.content.decode()
    assert "stopped on request" in page and "cold start" in page and "127.0.0.1:9" not in page


# --- Verify answers beside its button ---


def test_a_refused_verification_answers_beside_the_verify_button(developer_client, session):
    failing_run(session)

    response = developer_client.post(url("session_verify", session.pk), {"confirmed": "on"}, **HX)

    assert response.status_code == 400 and response["HX-Retarget"] == "#verify-result"
    page = developer_client.get(url("session_detail", session.pk)).content.decode()
    assert '<div id="verify-result"' in page and 'hx-target="#verify-result"' in page


# --- Reset to draft and restore a step ---


def _save(session, developer, code: str) -> None:
    fixlog.save_code(session, code, session.version, developer)


@pytest.mark.parametrize("htmx", [False, True])
def test_reset_to_draft_saves_the_draft_as_a_new_version_and_records_it(developer_client, developer, session, htmx):
    _save(session, developer, FIXED)  # version 2

    response = developer_client.post(
        url("session_restore", session.pk), {"version": 2, "confirm": "yes"}, **(HX if htmx else {})
    )

    assert (response["HX-Redirect"] if htmx else response.url) == url("session_detail", session.pk)
    session.refresh_from_db()
    assert (session.version, session.current_code) == (3, DRAFT)
    event = SessionEvent.objects.get(kind="restored")
    assert (event.actor, event.detail) == (developer, {"from": "draft", "over_version": 2, "version": 3})
    page = developer_client.get(url("session_detail", session.pk)).content.decode()
    assert "Restored the draft as version 3" in page and "the draft as version 3 (over version 2)" in page


def test_restore_a_step_saves_its_code_as_a_new_version_and_keeps_the_log(developer_client, developer, session):
    _save(session, developer, FIXED)
    step = fixlog.record_step(session, developer, fix_info="Use .at[].set", no_error=True)
    _save(session, developer, FIXED + "print('more')\n")  # version 3, after the step

    response = developer_client.post(
        url("session_restore", session.pk) + f"?step={step.pk}", {"version": 3, "confirm": "yes"}, **HX
    )

    assert response.status_code == 200
    session.refresh_from_db()
    assert (session.version, session.current_code) == (4, FIXED)
    assert SessionEvent.objects.get(kind="restored").detail == {
        "from": "step",
        "step": 1,
        "over_version": 3,
        "version": 4,
    }
    assert session.steps.count() == 1  # nothing in the log is rewritten or added


def test_restore_saves_the_posted_editor_text_first(developer_client, developer, session):
    response = developer_client.post(
        url("session_restore", session.pk), {"code": "x = 'typed'\n", "version": 1, "confirm": "yes"}, **HX
    )

    assert response.status_code == 200
    session.refresh_from_db()
    # The typed text became version 2 (kept in history), the draft version 3.
    assert (session.version, session.current_code) == (3, DRAFT)
    assert SessionEvent.objects.get(kind="restored").detail["over_version"] == 2


@pytest.mark.parametrize(
    ("post", "query", "message"),
    [
        ({"version": 2}, "", "confirm that the code should be replaced"),
        ({"version": 2, "confirm": "no"}, "", "confirm"),
        ({"confirm": "yes"}, "", "version"),
        ({"version": 2, "confirm": "yes"}, "?step=abc", "step"),
    ],
)
def test_restore_without_confirmation_or_with_bad_input_changes_nothing(
    developer_client, developer, session, post, query, message
):
    _save(session, developer, FIXED)

    response = developer_client.post(url("session_restore", session.pk) + query, post, **HX)

    assert response.status_code == 400 and message in response.content.decode()
    assert FixSession.objects.get().current_code == FIXED and not SessionEvent.objects.filter(kind="restored").exists()


def test_restore_over_a_version_saved_elsewhere_is_a_conflict(developer_client, developer, session):
    _save(session, developer, FIXED)  # version 2, saved in another tab

    response = developer_client.post(url("session_restore", session.pk), {"version": 1, "confirm": "yes"}, **HX)

    assert response.status_code == 409
    assert FixSession.objects.get().current_code == FIXED


def test_a_retracted_step_or_another_sessions_step_cannot_be_restored(developer_client, developer, session):
    _save(session, developer, FIXED)
    step = fixlog.record_step(session, developer, fix_info="fix", no_error=True)
    fixlog.retract(step, developer, "wrong")
    _save(session, developer, "x = 3\n")
    other = fixlog.claim(TranslationFactory(code="y = 1\n"), developer)
    _save(other, developer, "y = 2\n")
    foreign = fixlog.record_step(other, developer, fix_info="fix", no_error=True)

    for step_id in (step.pk, foreign.pk):
        query = f"?step={step_id}"
        response = developer_client.post(
            url("session_restore", session.pk) + query, {"version": 4, "confirm": "yes"}, **HX
        )
        assert response.status_code == 400
    assert FixSession.objects.get(pk=session.pk).current_code == "x = 3\n"


def test_only_the_owner_of_an_open_session_restores(admin_client_role, session):
    response = admin_client_role.post(url("session_restore", session.pk), {"version": 1, "confirm": "yes"}, **HX)

    assert response.status_code == 403


def test_restore_needs_this_browsers_csrf_token(developer, session):
    fixlog.save_code(session, FIXED, 1, developer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(developer)

    response = client.post(url("session_restore", session.pk), {"version": 2, "confirm": "yes"})

    assert response.status_code == 403 and FixSession.objects.get().current_code == FIXED


def test_the_page_offers_reset_and_restore_only_to_the_editor(developer_client, admin_user, developer, session):
    _save(session, developer, FIXED)
    step = fixlog.record_step(session, developer, fix_info="fix", no_error=True)
    admin_client = Client()
    admin_client.force_login(admin_user)

    mine = developer_client.get(url("session_detail", session.pk)).content.decode()
    theirs = admin_client.get(url("session_detail", session.pk)).content.decode()

    assert 'id="reset-button"' in mine and f'id="restore-step-{step.pk}"' in mine
    assert 'id="reset-button"' not in theirs and "restore-step-" not in theirs


# --- nothing stale looks current ---


def test_output_of_an_earlier_version_is_greyed_with_its_version_and_marks_no_line(
    developer_client, developer, session
):
    failing_run(session, session_version=1)
    _save(session, developer, FIXED)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert 'class="run run-error stale-output"' in page and "data-failing-line" not in page
    assert '<p class="stale-note" role="note">From an earlier version of the code (version 1)' in page


def test_output_of_the_current_code_is_current(developer_client, session):
    failing_run(session, session_version=1)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "stale-output" not in page and 'data-version="1"' in page and 'data-failing-line="4"' in page
    assert '<p class="stale-note" role="note" hidden>' in page  # for the page's script, once the code changes


def test_a_contract_run_remembers_the_version_it_checked(developer, session):
    _save(session, developer, FIXED)
    run = RunFactory(kind="contract", session=session, code="driver")

    runs.record_verdict(run.pk, verdict="passed", stages=[], code=FIXED, contract_version=1)
    older = RunFactory(kind="contract", session=session, code="driver")
    runs.record_verdict(older.pk, verdict="passed", stages=[], code=DRAFT, contract_version=1)

    assert Run.objects.get(pk=run.pk).session_version == 2
    assert Run.objects.get(pk=older.pk).session_version is None  # not the session's code now: unknown version


def test_a_refused_restore_still_tells_the_editor_the_version_its_text_was_saved_as(
    developer_client, developer, session
):
    _save(session, developer, FIXED)  # version 2

    # The editor's text is the draft already: it is saved (version 3), and there is nothing to restore.
    response = developer_client.post(
        url("session_restore", session.pk), {"code": DRAFT, "version": 2, "confirm": "yes"}, **HX
    )

    assert response.status_code == 400 and "nothing to restore" in response.content.decode()
    assert '"t2j:version": {"version": 3}' in response["HX-Trigger"]
    assert FixSession.objects.get().version == 3 and not SessionEvent.objects.filter(kind="restored").exists()


def test_the_contract_panel_names_the_version_it_checked(developer_client, developer):
    sample = SampleFactory(contract="def spec(torch_program, jax_program):\n    pass\n")
    session = fixlog.claim(TranslationFactory(sample=sample, code=DRAFT), developer)
    RunFactory(kind="contract", session=session, code=DRAFT, verdict="passed", contract_version=1, session_version=1)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "version 1 of the code against contract v1" in page and "stale-output" not in page
