"""Issue 18, the developer's workspace in a real browser: long work shows its time and can be stopped, output of an
earlier version of the code looks it, traceback frames lead to their line, the run/verify keys, and setting the code
back (to the draft or to a step) as a new version."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate import fixlog
from annotate.models import FixSession, Run, SessionEvent
from tests.annotate.factories import RunFactory, SampleFactory, TranslationFactory
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run
from tests.annotate.sandbox_support import require_sandbox
from tests.browser.test_workspace import editor_ready, editor_value
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT_MS = 60_000
LOOP = "print('looping', flush=True)\nwhile True:\n    pass\n"


def open_workspace(page, live_server, session) -> None:
    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    editor_ready(page)


def type_in_editor(page, text: str) -> None:
    page.click("#editor-pane .monaco-editor .view-lines")
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


@pytest.mark.sandbox
def test_a_looping_run_shows_its_elapsed_time_and_stops_on_request(live_server, page, login, watched, settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []  # cold starts here: no runner server in tests
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code=LOOP), developer)
    login(developer)
    open_workspace(page, live_server, session)

    page.click("#run-jax")
    progress = page.locator("#run-jax + .run-progress")
    expect(progress).to_contain_text("Running…")
    # The timer counts while the program loops (the button stays disabled: nothing runs twice).
    expect(progress.locator(".elapsed")).to_have_text(re.compile(r"Running… [2-9] s"), timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#run-jax")).to_be_disabled()

    progress.locator(".stop-button").click()
    stopped = page.locator("#jax-output .run-killed")
    expect(stopped).to_contain_text("stopped on request", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".run-progress")).to_have_count(0)
    expect(page.locator("#run-jax")).to_be_enabled()
    run = Run.objects.get(session=session)
    assert (run.status, run.session_version) == ("killed", 1)
    assert run.duration_s < run.limits["wall_s"]
    assert watched["console"] == [] and watched["failed"] == [] and watched["dialogs"] == []


def test_after_an_edit_the_last_run_and_contract_result_say_they_are_from_an_earlier_version(
    live_server, page, login, watched
):
    developer = make_user("developer", "browserdev")
    sample = SampleFactory(contract="def spec(torch_program, jax_program):\n    assert jax_program\n")
    session = fixlog.claim(TranslationFactory(sample=sample, code=DRAFT), developer)
    failing_run(session, session_version=1)
    RunFactory(
        kind="contract",
        session=session,
        user=developer,
        code=session.current_code,
        verdict="passed",
        stages=[{"name": "spec", "status": "passed"}],
        contract_version=1,
        session_version=1,
    )
    login(developer)
    open_workspace(page, live_server, session)

    # As loaded, both are of the current code: not greyed, the failing line marked.
    run, contract = page.locator("#jax-output .run"), page.locator("#contract-panel")
    page.wait_for_selector("#editor-pane .failing-line")
    expect(run).not_to_have_class(re.compile("stale-output"))
    expect(run.locator(".stale-note")).to_be_hidden()
    page.click("#contract-tab-result")
    expect(contract.locator(".stale-note")).to_be_hidden()

    type_in_editor(page, "\n# an edit")

    expect(run).to_have_class(re.compile("stale-output"))
    expect(run.locator(".stale-note")).to_be_visible()
    expect(run.locator(".stale-note")).to_contain_text("From an earlier version of the code (version 1)")
    expect(contract).to_have_class(re.compile("stale-output"))
    expect(contract.locator(".stale-note")).to_contain_text("(version 1)")
    expect(page.locator("#editor-pane .failing-line")).to_have_count(0)
    assert (
        page.evaluate("() => getComputedStyle(document.querySelector('#jax-output .run pre.stdout')).opacity") == "0.5"
    )

    # Saved as version 2, it stays marked, also after a reload (the server says the same).
    expect(page.locator("#save-status")).to_contain_text("version 2")
    page.reload()
    editor_ready(page)
    expect(run).to_have_class(re.compile("stale-output"))
    expect(run.locator(".stale-note")).to_be_visible()
    expect(page.locator("#editor-pane .failing-line")).to_have_count(0)
    assert watched["console"] == [] and watched["failed"] == []


def test_a_traceback_frame_moves_the_editor_to_its_line(live_server, page, login, watched):
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code=DRAFT + "\n" * 80 + "print('end')\n"), developer)
    failing_run(
        session,
        session_version=1,
        traceback=[
            {"file": "main.py", "line": 84, "function": "<module>"},
            {"file": "/venv/lib/jax/core.py", "line": 9, "function": "f"},
        ],
    )
    login(developer)
    open_workspace(page, live_server, session)
    page.evaluate("() => document.getElementById('code').t2jEditor.setPosition({lineNumber: 1, column: 1})")

    frames = page.locator("#jax-output .traceback li")
    expect(frames.locator("a.frame-link")).to_have_count(1)  # only the program's own frame is a link
    frames.locator("a.frame-link").click()

    assert page.evaluate("() => document.getElementById('code').t2jEditor.getPosition().lineNumber") == 84
    assert page.evaluate("() => document.activeElement.closest('#editor-pane') !== null")
    assert watched["console"] == []


@pytest.mark.sandbox
def test_the_keys_for_run_pytorch_run_the_contract_and_verify(live_server, page, login, watched, settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    developer = make_user("developer", "browserdev")
    sample = SampleFactory(pytorch_code="print('torch side')\n", contract="def spec(): ...")
    session = fixlog.claim(TranslationFactory(sample=sample, code="print('jax side')\n"), developer)
    login(developer)
    open_workspace(page, live_server, session)

    page.click("#help-button")
    help_text = page.inner_text("#shortcut-help")
    for line in ("Alt+Enter\nRun the PyTorch source", "Ctrl+Alt+Enter\nRun the contract", "Ctrl+Alt+V\nVerify"):
        assert line in help_text, help_text
    page.keyboard.press("Escape")

    page.click("#editor-pane .monaco-editor .view-lines")  # from inside the editor, which has keys of its own
    page.keyboard.press("Alt+Enter")
    expect(page.locator("#pytorch-output .run-ok")).to_contain_text("torch side", timeout=RUN_TIMEOUT_MS)
    page.keyboard.press("Control+Alt+Enter")
    expect(page.locator("#contract-panel .verdict")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    assert Run.objects.filter(session=session, kind="contract").count() == 1
    page.keyboard.press("Control+Alt+v")
    # The broken contract cannot pass: the answer shows beside the Verify button.
    expect(page.locator("#verify-result")).to_contain_text("Not verified", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#workspace-messages").inner_text() == ""
    assert Run.objects.filter(session=session, kind="contract").count() == 2
    assert FixSession.objects.get(pk=session.pk).status == "open"
    assert Run.objects.filter(session=session, kind="jax").count() == 0  # no key ran something else


def test_restore_a_steps_code_and_reset_to_the_draft_as_new_versions(live_server, page, login, watched):
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code=DRAFT), developer)
    fixlog.save_code(session, FIXED, 1, developer)
    step = fixlog.record_step(session, developer, fix_info="Use .at[].set", no_error=True)
    fixlog.save_code(session, FIXED + "print('after the step')\n", 2, developer)  # version 3
    login(developer)
    open_workspace(page, live_server, session)
    type_in_editor(page, "\n# typed, not saved yet")

    # The confirmation is part of the page: nothing happens until it is answered.
    page.click(f"#restore-step-{step.pk} summary")
    with page.expect_navigation():  # the page opens again on the new version
        page.click(f"#restore-step-{step.pk} button[name=confirm]")
    editor_ready(page)
    expect(page.locator("#save-status")).to_contain_text("Saved (version 5)")
    assert editor_value(page) == FIXED
    session.refresh_from_db()
    assert (session.version, session.current_code) == (5, FIXED)
    # The typed text was saved first (version 4): it stays in history, nothing was rewritten.
    event = SessionEvent.objects.get(kind="restored")
    assert event.detail == {"from": "step", "step": 1, "over_version": 4, "version": 5}
    expect(page.locator("main")).to_contain_text("Restored the code after step 1 as version 5")

    page.click("#reset-to-draft summary")
    with page.expect_navigation():
        page.click("#reset-button")
    editor_ready(page)
    expect(page.locator("#save-status")).to_contain_text("Saved (version 6)")
    assert editor_value(page) == DRAFT
    page.click(".events summary")
    expect(page.locator(".events")).to_contain_text("the draft as version 6 (over version 5)")
    expect(page.locator(".events")).to_contain_text("the code after step 1 as version 5 (over version 4)")
    assert session.steps.count() == 1
    assert watched["console"] == [] and watched["failed"] == [] and watched["dialogs"] == []
