from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotate import fixlog
from annotate.models import FixSession, FixStep, Run, RunKind, RunStatus, SessionStatus
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    RunFactory,
    SampleFactory,
    SystemFactory,
    TranslationFactory,
)
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run
from tests.annotate.sandbox_support import require_sandbox

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
JSON = {"HTTP_ACCEPT": "application/json"}
PAYLOAD = "<img src=x onerror=alert(1)></textarea></script><script>alert(2)</script>"


def url(name: str, *args) -> str:
    return reverse(f"workspace:{name}", args=args)


@pytest.fixture
def session(developer):
    return fixlog.claim(TranslationFactory(code=DRAFT), developer)


@pytest.fixture
def real_sandbox(settings, tmp_path):
    """The real sandbox started cold here (no runner), with a private compile cache."""
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    settings.T2J_COMPILE_CACHE_DIR = tmp_path / "compile-cache"


def verified_session(**kwargs) -> FixSession:
    return FixSessionFactory(status=SessionStatus.VERIFIED, verified_at=timezone.now(), **kwargs)


# --- queue ---


def test_the_queue_lists_waiting_drafts_and_shows_taken_ones_as_taken(developer_client, other_developer):
    waiting = TranslationFactory(sample=SampleFactory(key="waiting-one"))
    taken = fixlog.claim(TranslationFactory(sample=SampleFactory(key="taken-one")), other_developer)
    verified_session(translation=TranslationFactory(sample=SampleFactory(key="done-one")))

    page = developer_client.get(url("queue")).content.decode()

    assert "waiting-one" in page and url("translation_claim", waiting.pk) in page
    assert "taken-one" in page and "taken by dev2" in page
    assert url("translation_claim", taken.translation.pk) not in page
    assert "done-one" not in page


@pytest.mark.parametrize("htmx", [False, True])
def test_the_queue_filters_and_paginates(developer_client, settings, htmx):
    settings.T2J_PAGE_SIZE = 2
    system = SystemFactory(name="weak-llm")
    for n in range(3):
        TranslationFactory(system=system, sample=SampleFactory(key=f"hard{n}", difficulty="hard"))
    TranslationFactory(system=system, sample=SampleFactory(key="easy0", difficulty="easy"))

    response = developer_client.get(
        url("queue"), {"system": "weak-llm", "difficulty": "hard", "page": 2}, **(HX if htmx else {})
    )

    page = response.content.decode()
    assert "hard2" in page and "hard0" not in page and "easy0" not in page
    assert "Page 2 of 2" in page
    assert ("<html" in page) is not htmx
    assert 'id="queue-table"' in page


def test_unknown_queue_parameters_are_ignored(developer_client):
    TranslationFactory(sample=SampleFactory(key="still-here"))

    response = developer_client.get(url("queue"), {"owner__password__startswith": "a", "difficulty": "bogus"})

    assert response.status_code == 200 and "still-here" in response.content.decode()


def test_opening_the_queue_expires_idle_claims(developer_client, other_developer):
    session = fixlog.claim(TranslationFactory(), other_developer)
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(hours=100))

    page = developer_client.get(url("queue")).content.decode()

    session.refresh_from_db()
    assert session.status == "abandoned"
    assert url("translation_claim", session.translation.pk) in page


def test_the_queue_query_count_does_not_grow_with_rows(
    developer_client, other_developer, django_assert_max_num_queries
):
    for _ in range(6):
        fixlog.claim(TranslationFactory(), other_developer)
        TranslationFactory()

    with django_assert_max_num_queries(12):
        assert developer_client.get(url("queue")).status_code == 200


def test_reviewers_cannot_open_the_queue_or_claim(reviewer_client):
    translation = TranslationFactory()

    assert reviewer_client.get(url("queue")).status_code == 403
    assert reviewer_client.post(url("translation_claim", translation.pk)).status_code == 403
    assert not FixSession.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get(url("queue")).url.startswith(reverse("login"))


# --- claim ---


@pytest.mark.parametrize("htmx", [False, True])
def test_claiming_opens_the_workspace(developer_client, developer, htmx):
    translation = TranslationFactory()

    response = developer_client.post(url("translation_claim", translation.pk), **(HX if htmx else {}))

    session = FixSession.objects.get()
    assert session.owner == developer
    target = response["HX-Redirect"] if htmx else response.url
    assert target == url("session_detail", session.pk)


def test_claiming_a_taken_draft_says_so_and_changes_nothing(developer_client, other_developer):
    session = fixlog.claim(TranslationFactory(), other_developer)

    response = developer_client.post(url("translation_claim", session.translation.pk), follow=True)

    assert "Someone else is fixing this translation." in response.content.decode()
    assert FixSession.objects.get() == session


def test_claim_refuses_get(developer_client):
    assert developer_client.get(url("translation_claim", TranslationFactory().pk)).status_code == 405


# --- the workspace page and visibility ---


def test_the_owner_sees_the_source_the_code_and_the_tools(developer_client, session):
    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "print(torch.ones(2).sum().item())" in page
    assert "x[0] = 1.0" in page
    for element in (
        'id="run-jax"',
        'id="run-pytorch"',
        'id="record-step"',
        'id="verify-button"',
        "Keyboard shortcuts",
        'data-view="draft"',
        'data-view="snapshot"',
        "Ctrl</kbd>+<kbd>Enter",
    ):
        assert element in page


def test_an_open_session_is_invisible_to_other_developers(client, session, other_developer):
    client.force_login(other_developer)
    step = FixStepFactory(session=session, author=session.owner)
    run = failing_run(session)

    assert client.get(url("session_detail", session.pk)).status_code == 404
    assert client.post(url("code_save", session.pk), {"code": "x", "version": 1}).status_code == 404
    assert client.post(url("run_create", session.pk), {"code": "x", "version": 1, "kind": "jax"}).status_code == 404
    assert client.get(url("fix_step_detail", step.pk)).status_code == 404
    assert client.post(url("fix_step_retract", step.pk)).status_code == 404
    assert client.post(url("session_verify", session.pk), {"confirmed": "on"}).status_code == 404
    assert client.post(url("session_abandon", session.pk)).status_code == 404
    assert run.pk and FixSession.objects.get().status == "open"


def test_admins_see_open_sessions_but_cannot_edit_them(admin_client_role, session):
    assert admin_client_role.get(url("session_detail", session.pk)).status_code == 200

    response = admin_client_role.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)

    assert response.status_code == 403
    assert FixSession.objects.get().current_code == DRAFT


def test_a_verified_session_is_read_only_for_everyone(developer_client):
    session = verified_session(current_code=FIXED, claimed_at=timezone.now() - timedelta(minutes=10))
    FixStepFactory(session=session, time_spent_s=42.0)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "FixCost 1" in page and "42 s" in page
    assert 'id="run-jax"' not in page and 'id="verify-button"' not in page
    assert "readonly" in page


def test_html_in_code_errors_and_descriptions_is_shown_as_text(developer_client, session):
    FixSession.objects.filter(pk=session.pk).update(current_code=PAYLOAD)
    failing_run(session, exception_message=PAYLOAD, stderr=PAYLOAD, stdout=PAYLOAD)
    FixStepFactory(session=session, author=session.owner, fix_info=PAYLOAD, error=PAYLOAD, error_code=PAYLOAD)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_the_workspace_query_count_is_bounded(developer_client, session, django_assert_max_num_queries):
    for index in range(1, 8):
        FixStepFactory(session=session, index=index, author=session.owner)
    failing_run(session)

    with django_assert_max_num_queries(20):
        assert developer_client.get(url("session_detail", session.pk)).status_code == 200


# --- autosave and conflicts ---


def test_autosave_stores_the_code_and_returns_the_new_version(developer_client, session):
    response = developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)

    assert response.status_code == 200 and response.json()["version"] == 2
    session.refresh_from_db()
    assert (session.current_code, session.version) == (FIXED, 2)


def test_a_stale_autosave_gets_409_with_the_diff_and_nothing_is_overwritten(developer_client, session):
    developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)  # tab one

    response = developer_client.post(
        url("code_save", session.pk), {"code": DRAFT + "# tab two\n", "version": 1}, **JSON
    )

    data = response.json()
    assert response.status_code == 409
    assert "saved elsewhere" in data["message"] and data["version"] == 2 and data["current_code"] == FIXED
    assert [-1, "x = x.at[0].set(1.0)\n"] in data["diff"] and [1, "# tab two\n"] in data["diff"]
    assert FixSession.objects.get().current_code == FIXED


def test_a_stale_save_from_htmx_gets_the_conflict_fragment(developer_client, session):
    developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)

    response = developer_client.post(url("code_save", session.pk), {"code": PAYLOAD, "version": 1}, **HX)

    page = response.content.decode()
    assert response.status_code == 409 and "<html" not in page
    assert 'class="conflict"' in page and "diff-add" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert response["HX-Retarget"] == "#save-status"
    assert "HX-Trigger" not in response  # the page keeps its old version until the person chooses


def test_a_stale_save_without_javascript_shows_the_page_with_the_diff(developer_client, session):
    developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)

    response = developer_client.post(url("code_save", session.pk), {"code": "mine\n", "version": 1})

    page = response.content.decode()
    assert response.status_code == 409 and "<html" in page and 'class="conflict"' in page and "mine" in page


def test_a_plain_save_redirects_back_to_the_workspace(developer_client, session):
    response = developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1})

    assert response.url == url("session_detail", session.pk)
    assert FixSession.objects.get().version == 2


@pytest.mark.parametrize("data", [{"code": "x"}, {"code": "x", "version": "two"}, {"code": "a\x00b", "version": 1}])
def test_a_malformed_save_is_a_400_and_changes_nothing(developer_client, session, data):
    response = developer_client.post(url("code_save", session.pk), data, **JSON)

    assert response.status_code == 400 and response.json()["message"]
    assert FixSession.objects.get().version == 1


def test_saves_need_a_csrf_token(session):
    client = Client(enforce_csrf_checks=True)
    client.force_login(session.owner)

    assert client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}).status_code == 403
    assert FixSession.objects.get().current_code == DRAFT


# --- runs ---


def test_a_malformed_run_request_is_a_400_and_runs_nothing(developer_client, session):
    response = developer_client.post(url("run_create", session.pk), {"code": "x", "version": 1, "kind": "rust"}, **HX)

    assert response.status_code == 400 and "kind" in response.content.decode()
    assert not Run.objects.exists()


def test_a_run_with_a_stale_version_is_refused_before_running(developer_client, session):
    developer_client.post(url("code_save", session.pk), {"code": FIXED, "version": 1}, **JSON)

    response = developer_client.post(
        url("run_create", session.pk), {"code": "print(2)\n", "version": 1, "kind": "jax"}, **HX
    )

    assert response.status_code == 409
    assert not Run.objects.exists()


def test_the_page_shows_the_last_run_with_its_traceback_and_failing_line(developer_client, session):
    failing_run(session, stdout="partial output")

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert 'data-failing-line="4"' in page and "main.py:4</a> in &lt;module&gt;" in page
    # The program's own frame is a link to its line in the editor (#code without script).
    assert '<a href="#code" class="frame-link" data-line="4"' in page
    assert "JAX arrays are immutable" in page and "partial output" in page


@pytest.mark.sandbox
def test_run_executes_the_current_code_and_returns_the_traceback(developer_client, session, real_sandbox):
    response = developer_client.post(url("run_create", session.pk), {"code": DRAFT, "version": 1, "kind": "jax"}, **HX)

    page = response.content.decode()
    run = Run.objects.get()
    assert response.status_code == 200 and "<html" not in page
    assert (run.kind, run.status, run.session, run.exception_type) == ("jax", "error", session, "TypeError")
    assert 'data-failing-line="4"' in page and "in-place item assignment" in page
    assert json.loads(response["HX-Trigger"]) == {"t2j:version": {"version": 1}}


@pytest.mark.sandbox
def test_run_pytorch_runs_the_source_and_the_page_shows_it(developer_client, session, real_sandbox):
    response = developer_client.post(url("run_create", session.pk), {"code": FIXED, "version": 1, "kind": "pytorch"})

    run = Run.objects.get()
    assert response.url == url("session_detail", session.pk)
    assert (run.kind, run.status, run.stdout.strip()) == ("pytorch", "ok", "2.0")
    assert FixSession.objects.get().current_code == FIXED  # the editor content was saved first
    page = developer_client.get(url("session_detail", session.pk)).content.decode()
    assert 'id="pytorch-output"' in page and f'id="run-{run.pk}"' in page


# --- steps ---


def test_the_step_form_is_prefilled_from_the_failing_run_and_the_diff(developer_client, session):
    run = failing_run(session)
    FixSession.objects.filter(pk=session.pk).update(current_code=FIXED, version=2)
    shared = FixStepFactory(
        session=verified_session(), error="TypeError: does not support item assignment", fix_info="Use x.at[i].set(v)"
    )

    page = developer_client.get(url("fix_step_new", session.pk)).content.decode()

    assert "<html" in page and 'id="step-form"' in page
    assert "TypeError: JAX arrays are immutable" in page
    assert 'value="inplace-mutation" selected' in page
    assert re.search(rf'<option value="{run.pk}" [^>]*selected>[^<]* run {run.pk} · error · TypeError: JAX', page)
    assert "ran the code this step starts from" in page and f"The error below is from run {run.pk}" in page
    assert "Suggested inplace-mutation: the error&#x27;s wording" in page
    assert "x = x.at[0].set(1.0)" in page
    assert "Use x.at[i].set(v)" in page and url("fix_step_detail", shared.pk) in page
    assert "matched: same exception type TypeError; shared words:" in page


def test_the_htmx_step_form_saves_the_editor_content_first(developer_client, session):
    response = developer_client.post(url("fix_step_new", session.pk), {"code": FIXED, "version": 1}, **HX)

    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page and 'id="step-form"' in page
    assert "x = x.at[0].set(1.0)" in page
    assert FixSession.objects.get().version == 2
    assert json.loads(response["HX-Trigger"]) == {"t2j:version": {"version": 2}}


def test_recording_a_step_with_htmx_updates_the_log_in_place(developer_client, session):
    run = failing_run(session)
    FixSession.objects.filter(pk=session.pk).update(current_code=FIXED, version=2)

    response = developer_client.post(
        url("fix_step_create", session.pk),
        {
            "error": "TypeError: immutable",
            "error_code": "x[0] = 1.0",
            "fixed_code": "x = x.at[0].set(1.0)",
            "fix_info": PAYLOAD,
            "category": "inplace-mutation",
            "run": run.pk,
        },
        **HX,
    )

    page = response.content.decode()
    step = FixStep.objects.get()
    assert response.status_code == 200 and "<html" not in page
    assert f'id="step-{step.pk}"' in page and 'id="step-form-slot" hx-swap-oob="true"' in page
    assert "&lt;script&gt;alert(2)" in page and "<script>alert(2)" not in page
    assert 'id="snapshot-code"' in page
    assert (step.run, step.code_before, step.code_after, step.category) == (run, DRAFT, FIXED, "inplace-mutation")


def test_recording_a_step_without_htmx_redirects_to_it(developer_client, session):
    response = developer_client.post(
        url("fix_step_create", session.pk), {"fix_info": "Added the import", "error": "NameError: name 'jnp'"}
    )

    step = FixStep.objects.get()
    assert response.url == url("session_detail", session.pk) + f"#step-{step.pk}"
    assert (step.error_source, step.run) == ("written", None)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_step_naming_no_error_must_say_so(developer_client, session, htmx):
    response = developer_client.post(url("fix_step_create", session.pk), {"fix_info": "x"}, **(HX if htmx else {}))

    assert response.status_code == 400 and "no error: behaviour change" in response.content.decode()
    assert not FixStep.objects.exists()

    developer_client.post(url("fix_step_create", session.pk), {"fix_info": "x", "no_error": "on"})

    step = FixStep.objects.get()
    assert (step.error, step.error_source) == ("", "no-error")


def test_a_refused_step_says_why_beside_the_record_button_and_keeps_what_was_written(developer_client, session):
    written = {"fix_info": "Split the key per step", "error": "the mask repeats", "no_error": "on"}

    response = developer_client.post(url("fix_step_create", session.pk), written, **HX)

    page = response.content.decode()
    assert response.status_code == 400 and not FixStep.objects.exists()
    message = re.search(r'<p class="error" role="alert" id="step-form-error">([^<]*)</p>\s*<button type="submit"', page)
    assert message and "keep one of them" in message.group(1)
    assert "Split the key per step" in page and "the mask repeats" in page


def test_a_refused_step_keeps_no_run_and_a_category_nobody_picked_follows_what_was_sent(developer_client, session):
    run = failing_run(session)  # the form's default run
    sent = {"fix_info": "Split the key", "run": "", "error": "", "category": "inplace-mutation",
            "suggested": "inplace-mutation"}  # fmt: skip

    page = developer_client.post(url("fix_step_create", session.pk), sent, **HX).content.decode()

    assert "Which error does this step answer?" in page
    assert re.search(r'<option value="" data-error="" selected>no run', page)
    assert not re.search(rf'<option value="{run.pk}"[^>]*selected', page)
    # The pre-selected category was not the person's: it is the suggestion for an empty error now.
    assert '<option value="numerical" selected>' in page and 'name="suggested" value="numerical"' in page
    assert "no error text yet" in page
    picked = developer_client.post(url("fix_step_create", session.pk), {**sent, "category": "prng"}, **HX)
    assert '<option value="prng" selected>' in picked.content.decode()


def test_the_suggestion_follows_what_the_form_holds(developer_client, session):
    shared = FixStepFactory(session=verified_session(), error="the PRNG key is never split", fix_info="Split it")
    form = {"error": "the dropout mask repeats because the key is never split", "fix_info": ""}

    response = developer_client.post(url("fix_step_suggest", session.pk), form, **HX)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<input type="hidden" name="suggested" value="prng">' in page
    assert "Suggested prng: the error text says" in page
    assert 'id="similar-fixes" hx-swap-oob="true"' in page and url("fix_step_detail", shared.pk) in page
    # "No error" ticked: nothing to suggest from but the code change.
    page = developer_client.post(url("fix_step_suggest", session.pk), {**form, "no_error": "on"}, **HX).content.decode()
    assert "Suggested prng" not in page and "No similar fix yet." in page


def test_a_category_left_as_pre_selected_takes_the_suggestion_for_the_error_sent(developer_client, session):
    # The page pre-selected prng for an earlier error; the person then wrote another error and left the category.
    sent = {"fix_info": "Import optax", "error": "NameError: name 'optax' is not defined"}
    developer_client.post(url("fix_step_create", session.pk), {**sent, "category": "prng", "suggested": "prng"})
    developer_client.post(url("fix_step_create", session.pk), {**sent, "category": "prng", "suggested": "other"})

    first, second = FixStep.objects.order_by("index")
    assert (first.category, first.category_reason.split(":")[0]) == ("missing-import", "suggested")
    assert (second.category, second.category_reason.split(" (")[0]) == ("prng", "chosen by the developer")


def test_a_picked_run_without_error_text_takes_the_runs_error(developer_client, session):
    run = failing_run(session)

    developer_client.post(url("fix_step_create", session.pk), {"fix_info": "x", "run": run.pk, "error": ""})

    step = FixStep.objects.get()
    assert (step.run, step.error_source) == (run, "run")
    assert step.error.startswith("TypeError: JAX arrays are immutable")


def test_a_step_shows_where_its_error_came_from_its_category_reason_and_flags(developer_client, session):
    run = failing_run(session)
    first = fixlog.record_step(session, session.owner, fix_info="same", error="E", error_code="a", fixed_code="b")
    fixlog.record_step(session, session.owner, fix_info="same", error="E", error_code="a", fixed_code="b", run=run)

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert f"Error: from run {run.pk}" in page and "Error: written by the developer" in page
    assert "Category: suggested: " in page
    assert f"duplicate of step {first.index}" in page


@pytest.mark.parametrize("htmx", [False, True])
def test_a_step_without_description_is_refused_with_the_form(developer_client, session, htmx):
    response = developer_client.post(url("fix_step_create", session.pk), {"error": "kept text"}, **(HX if htmx else {}))

    page = response.content.decode()
    assert response.status_code == 400
    assert "the fix description is required" in page and "kept text" in page
    assert ("<html" in page) is not htmx
    assert not FixStep.objects.exists()


def test_a_step_naming_another_sessions_run_is_refused(developer_client, session, other_developer):
    foreign = failing_run(fixlog.claim(TranslationFactory(), other_developer))

    response = developer_client.post(url("fix_step_create", session.pk), {"fix_info": "x", "run": foreign.pk}, **HX)

    assert response.status_code == 400 and not FixStep.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_retracting_a_step_keeps_it_in_the_log_marked(developer_client, session, htmx):
    step = fixlog.record_step(session, session.owner, fix_info="oops", no_error=True)

    response = developer_client.post(
        url("fix_step_retract", step.pk), {"reason": "wrong session"}, **(HX if htmx else {})
    )

    assert FixStep.objects.filter(retracts=step).exists()
    if htmx:
        page = response.content.decode()
        assert "retraction of step 1" in page and "retracted" in page and "FixCost so far: 0" in page
    else:
        assert response.url == url("session_detail", session.pk) + f"#step-{step.pk}"


def test_only_the_author_retracts(admin_client_role, session):
    step = fixlog.record_step(session, session.owner, fix_info="mine", no_error=True)

    response = admin_client_role.post(url("fix_step_retract", step.pk), **HX)

    assert response.status_code == 403 and "Only the author" in response.content.decode()
    assert FixStep.objects.count() == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_a_shared_step_opens_for_any_developer(developer_client, htmx):
    step = FixStepFactory(session=verified_session(), fix_info="the fix")

    response = developer_client.get(url("fix_step_detail", step.pk), **(HX if htmx else {}))

    page = response.content.decode()
    assert response.status_code == 200 and "the fix" in page and ("<html" in page) is not htmx


# --- verify, abandon, admin ---


@pytest.mark.parametrize("htmx", [False, True])
def test_verify_with_a_clean_run_and_confirmation_closes_the_session(developer_client, session, htmx):
    RunFactory(session=session, code=session.current_code, status=RunStatus.OK)

    response = developer_client.post(url("session_verify", session.pk), {"confirmed": "on"}, **(HX if htmx else {}))

    assert (response["HX-Redirect"] if htmx else response.url) == url("session_detail", session.pk)
    assert FixSession.objects.get().status == "verified"
    page = developer_client.get(url("session_detail", session.pk)).content.decode()
    assert "FixCost 0" in page and "verified by a clean run" in page


@pytest.mark.parametrize("htmx", [False, True])
def test_verify_without_a_clean_run_says_why(developer_client, session, htmx):
    failing_run(session)

    response = developer_client.post(url("session_verify", session.pk), {"confirmed": "on"}, **(HX if htmx else {}))

    page = response.content.decode()
    assert response.status_code == 400 and "needs a clean run" in page and ("<html" in page) is not htmx
    assert FixSession.objects.get().status == "open"


@pytest.mark.sandbox
def test_verify_of_a_contract_sample_runs_the_contract_and_stays_open_when_it_cannot_pass(developer_client, developer):
    require_sandbox()
    # A clean run and the confirmation are not enough: the (here broken) contract decides.
    session = fixlog.claim(TranslationFactory(sample=SampleFactory(contract="def spec(): ...")), developer)
    RunFactory(session=session, code=session.current_code, status=RunStatus.OK)

    response = developer_client.post(url("session_verify", session.pk), {"confirmed": "on"}, **HX)

    assert response.status_code == 400
    page = response.content.decode()
    assert "contract error" in page
    assert FixSession.objects.get().status == "open"
    # The stage panel is updated in place (out of band) beside the message.
    run = Run.objects.get(kind=RunKind.CONTRACT)
    assert '<section id="contract-panel"' in page and 'hx-swap-oob="true"' in page and f"run {run.pk}" in page


@pytest.mark.parametrize("htmx", [False, True])
def test_abandon_returns_to_the_queue(developer_client, session, htmx):
    response = developer_client.post(url("session_abandon", session.pk), {"confirm": "yes"}, **(HX if htmx else {}))

    assert (response["HX-Redirect"] if htmx else response.url) == url("queue")
    assert FixSession.objects.get().status == "abandoned"


@pytest.mark.parametrize("htmx", [False, True])
def test_abandon_without_the_confirmation_abandons_nothing(developer_client, session, htmx):
    response = developer_client.post(url("session_abandon", session.pk), **(HX if htmx else {}))

    assert response.status_code == 400
    assert "Not abandoned: confirm that the session should go back to the queue." in response.content.decode()
    assert FixSession.objects.get().status == "open"


def test_the_abandon_button_asks_first(developer_client, session):
    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    # The button only opens the question; its answer is the button that posts the confirmation.
    assert '<details class="abandon" id="abandon"><summary>Abandon (return to the queue)…</summary>' in page
    assert 'name="confirm" value="yes"' in page and "Give this draft back to the queue?" in page


def test_an_admin_reassigns_and_reopens(admin_client_role, session, other_developer):
    response = admin_client_role.post(url("session_reassign", session.pk), {"owner": other_developer.pk})

    assert response.url == url("session_detail", session.pk)
    assert FixSession.objects.get().owner == other_developer
    FixSession.objects.filter(pk=session.pk).update(status=SessionStatus.VERIFIED, verified_at=timezone.now())
    assert admin_client_role.post(url("session_reopen", session.pk), **HX)["HX-Redirect"] == response.url
    assert FixSession.objects.get().status == "open"
    assert list(session.events.values_list("kind", flat=True)) == ["claimed", "reassigned", "reopened"]


def test_a_reassignment_to_nobody_is_a_400(admin_client_role, session):
    response = admin_client_role.post(url("session_reassign", session.pk), {"owner": 999999})

    assert response.status_code == 400 and FixSession.objects.get().owner == session.owner


def test_developers_cannot_reassign_or_reopen(developer_client, session, other_developer):
    assert developer_client.post(url("session_reassign", session.pk), {"owner": other_developer.pk}).status_code == 403
    assert developer_client.post(url("session_reopen", session.pk)).status_code == 403
    assert FixSession.objects.get().owner == session.owner


def test_a_form_post_with_crlf_line_breaks_is_stored_with_lf(developer_client, session):
    developer_client.post(url("code_save", session.pk), {"code": "a = 1\r\nb = 2\r\n", "version": 1})

    assert FixSession.objects.get().current_code == "a = 1\nb = 2\n"


def test_the_record_step_link_of_a_closed_session_goes_back_to_it(developer_client):
    session = verified_session()

    response = developer_client.get(url("fix_step_new", session.pk), follow=True)

    assert response.redirect_chain == [(url("session_detail", session.pk), 302)]
    assert "it can no longer be changed" in response.content.decode()
    assert developer_client.get(url("fix_step_new", session.pk), **HX).status_code == 400


def test_another_developer_cannot_record_a_step_in_a_session_they_do_not_own(developer_client, other_developer):
    session = fixlog.claim(TranslationFactory(), other_developer)

    assert developer_client.post(url("fix_step_create", session.pk), {"fix_info": "x"}).status_code == 404
    assert developer_client.post(url("fix_step_new", session.pk), {"code": "x", "version": 1}).status_code == 404
    assert not FixStep.objects.exists() and FixSession.objects.get().current_code == session.current_code


# --- the contract's stage panel ---

CONTRACT = "def spec(torch_program, jax_program):\n    pass\n"
FAILED_STAGES = [
    {"name": "spec", "status": "passed", "mismatch": None},
    {
        "name": "numeric",
        "status": "failed",
        "mismatch": {
            "check": "forward output",
            "message": "max abs diff 0.5 exceeds the tolerance",
            "index": "[0, 1]",
            "actual": 1.5,
            "expected": 1.0,
            "max_abs": 0.5,
            "max_rel": 0.5,
            "rtol": 1e-05,
            "atol": 1e-06,
        },
    },
    {"name": "behavioral", "status": "not-reached", "mismatch": None},
]
ALL_PASSED = [{"name": name, "status": "passed", "mismatch": None} for name in ("spec", "numeric", "behavioral")]


@pytest.fixture
def contract_session(developer):
    sample = SampleFactory(contract=CONTRACT, contract_version=2)
    return fixlog.claim(TranslationFactory(sample=sample, code=DRAFT), developer)


def contract_run(session, stages, verdict="failed", **kwargs) -> Run:
    defaults = {"session": session, "user": session.owner, "code": session.current_code, "contract_version": 2}
    return RunFactory(kind=RunKind.CONTRACT, verdict=verdict, stages=stages, **{**defaults, **kwargs})


def test_the_page_shows_the_latest_contract_runs_stage_panel(developer_client, contract_session):
    contract_run(contract_session, ALL_PASSED, verdict="passed", code="older code")
    latest = contract_run(contract_session, FAILED_STAGES)

    page = developer_client.get(url("session_detail", contract_session.pk)).content.decode()

    assert 'id="contract-panel"' in page and f"run {latest.pk}" in page
    assert "Contract failed" in page and "the current code against contract v2" in page
    assert 'id="stage-numeric"' in page and "forward output" in page
    # Expected (PyTorch) against got (JAX), as the mismatch names them.
    assert "<th>worst index [0, 1]</th><td>1</td><td>1.5</td>" in page and "rtol 1e-05, atol 1e-06" in page
    assert 'class="stage stage-not-reached" id="stage-behavioral"' in page
    assert 'id="run-contract"' in page


def test_the_panel_says_when_it_checked_older_code_or_an_older_contract(developer_client, contract_session):
    contract_run(contract_session, FAILED_STAGES, code="print('old')\n", contract_version=1)

    page = developer_client.get(url("session_detail", contract_session.pk)).content.decode()

    assert "an earlier version of the code against contract v1 (now v2)" in page


def test_a_sample_without_a_contract_has_no_panel_and_no_button(developer_client, session):
    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert 'id="contract-panel"' not in page and 'id="run-contract"' not in page


def test_running_the_contract_on_a_sample_without_one_is_a_400(developer_client, session):
    response = developer_client.post(url("contract_run_create", session.pk), **HX)

    assert response.status_code == 400 and "no contract" in response.content.decode()
    assert not Run.objects.exists()


def test_only_the_owner_or_an_admin_runs_the_contract(client, contract_session, other_developer, reviewer):
    client.force_login(other_developer)
    assert client.post(url("contract_run_create", contract_session.pk)).status_code == 404
    client.force_login(reviewer)
    assert client.post(url("contract_run_create", contract_session.pk)).status_code == 403
    assert not Run.objects.exists()


def test_a_developer_cannot_run_the_contract_of_a_verified_session(developer_client):
    session = verified_session(translation=TranslationFactory(sample=SampleFactory(contract=CONTRACT)))

    response = developer_client.post(url("contract_run_create", session.pk), **HX)

    assert response.status_code == 400 and not Run.objects.exists()


def test_a_contract_run_with_a_stale_version_is_refused_before_running(developer_client, contract_session):
    fixlog.save_code(contract_session, FIXED, 1, contract_session.owner)

    response = developer_client.post(
        url("contract_run_create", contract_session.pk), {"code": "x = 2\n", "version": 1}, **JSON
    )

    assert response.status_code == 409 and not Run.objects.exists()
    assert FixSession.objects.get().current_code == FIXED


def test_a_verified_sessions_badge_names_the_stages_that_ran(developer_client):
    session = verified_session(
        translation=TranslationFactory(sample=SampleFactory(contract=CONTRACT, contract_version=2)),
        verification={"method": "contract", "stages": ALL_PASSED, "run": None, "contract_version": 2},
        contract_version=2,
    )

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "verified by contract v2: spec ✓ numeric ✓ behavioral ✓" in page
    assert "stale" not in page


def test_a_stale_session_says_the_contract_changed_since(developer_client):
    session = verified_session(
        translation=TranslationFactory(sample=SampleFactory(contract=CONTRACT, contract_version=3)),
        verification={"method": "contract", "stages": ALL_PASSED[:2], "run": None, "contract_version": 2},
        contract_version=2,
        is_stale=True,
    )

    page = developer_client.get(url("session_detail", session.pk)).content.decode()

    assert "verified by contract v2: spec ✓ numeric ✓" in page and "behavioral" not in page.split("verified by")[1][:40]
    assert "stale: the contract changed since (now v3)" in page


@pytest.mark.sandbox
@pytest.mark.parametrize("htmx", [False, True])
def test_run_the_contract_shows_where_it_fails_without_verifying(developer_client, developer, real_sandbox, htmx):
    # A contract whose numeric stage compares the candidate's double() with the PyTorch one.
    contract = (
        "from t2j_contract import assert_close, require\n\n"
        "def spec(torch_program, jax_program):\n    require(jax_program, 'double', params=1)\n\n"
        "def numeric(torch_program, jax_program):\n"
        "    assert_close('double(3.0)', jax_program.double(3.0), torch_program.double(3.0))\n"
    )
    sample = SampleFactory(pytorch_code="def double(x):\n    return 2 * x\n", contract=contract, contract_version=1)
    session = fixlog.claim(TranslationFactory(sample=sample, code="def double(x):\n    return x\n"), developer)
    posted = "def double(x):\n    return 3 * x\n"

    response = developer_client.post(
        url("contract_run_create", session.pk), {"code": posted, "version": 1}, **(HX if htmx else {})
    )

    session.refresh_from_db()
    assert (session.current_code, session.version, session.status) == (posted, 2, "open")
    run = Run.objects.get(kind=RunKind.CONTRACT)
    assert run.session == session and run.verdict == "failed" and run.code == posted
    page = response.content.decode() if htmx else developer_client.get(response.url).content.decode()
    assert ("<html" in page) is not htmx
    assert 'id="contract-panel"' in page and "Contract failed" in page
    assert "double(3.0)" in page and '<tr class="row-value"><th>value</th><td>6</td><td>9</td></tr>' in page
    if htmx:
        assert json.loads(response["HX-Trigger"]) == {"t2j:version": {"version": 2}}


def test_an_admin_gets_a_run_the_contract_button_on_a_verified_session_others_do_not(client, admin_user, developer):
    session = verified_session(
        translation=TranslationFactory(sample=SampleFactory(contract=CONTRACT, contract_version=2)),
        contract_version=1,
        is_stale=True,
    )
    client.force_login(admin_user)
    page = client.get(url("session_detail", session.pk)).content.decode()
    assert 'id="run-contract"' in page and "Run the contract on the verified code" in page

    client.force_login(developer)
    page = client.get(url("session_detail", session.pk)).content.decode()
    assert 'id="contract-panel"' in page and 'id="run-contract"' not in page
