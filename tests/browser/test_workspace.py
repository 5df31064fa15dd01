"""The fix workspace in a real browser: claim a demo draft, run, edit in Monaco, record a step, verify."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotate import fixlog
from annotate.demo import load_demo
from annotate.models import FixSession, FixStep, Translation
from tests.annotate.factories import FixStepFactory, RunFactory, TranslationFactory
from tests.annotate.sandbox_support import require_sandbox
from tests.conftest import make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PAYLOAD = "<img src=x onerror=alert(1)></textarea></script><script>alert(2)</script>"
RUN_TIMEOUT_MS = 60_000


def editor_ready(page) -> None:
    page.wait_for_selector("#workspace[data-editor-ready='1']")


def set_editor(page, code: str) -> None:
    page.evaluate("(code) => document.getElementById('code').t2jEditor.setValue(code)", code)


def editor_value(page) -> str:
    return page.evaluate("() => document.getElementById('code').t2jEditor.getValue()")


@pytest.mark.sandbox
def test_a_developer_fixes_a_demo_draft_end_to_end(live_server, page, login, watched, settings):
    require_sandbox()
    settings.T2J_RUNNER_URLS = []  # cold starts here: no runner server in tests
    load_demo()
    translation = Translation.objects.get(sample__key="lstm", system__name="weak-llm")
    fixed = (Path(settings.BASE_DIR) / "fixtures/demo/lstm/fixed.py").read_text()
    developer = make_user("developer", "browserdev")
    login(developer)

    page.goto(f"{live_server.url}/work/")
    page.click(f"#translation-{translation.pk} button:has-text('Claim')")
    page.wait_for_url("**/work/sessions/*/")
    editor_ready(page)

    # The shortcut help lists the keys.
    page.click("#help-button")
    assert "Ctrl" in page.inner_text("#shortcut-help") and page.is_visible("#shortcut-help")
    page.keyboard.press("Escape")

    # Run with Ctrl+Enter from the editor: the traceback shows and the failing line is marked.
    page.click(".ws-pane #editor-pane .monaco-editor .view-lines")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#jax-output .run-error", timeout=RUN_TIMEOUT_MS)
    assert "main.py:13" in page.inner_text("#jax-output .traceback")
    assert "unexpected PRNG key type" in page.inner_text("#jax-output")
    page.wait_for_selector("#editor-pane .failing-line")

    # Verify the draft as it is: the lstm contract stops at its spec stage; the stage panel updates in place.
    page.click("#verify-button")
    # The answer appears beside the Verify button, not at the top of the page.
    expect(page.locator("#verify-result")).to_contain_text("failed at the spec stage", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#contract-panel #stage-spec")).to_have_class("stage stage-failed")
    expect(page.locator("#contract-panel #stage-numeric")).to_contain_text("not-reached")
    assert "model" in page.inner_text("#contract-panel #stage-spec .mismatch")

    # Edit in Monaco: the fixed program, plus a line typed on the keyboard.
    set_editor(page, fixed)
    page.click("#editor-pane .monaco-editor .view-lines")
    page.keyboard.press("Control+End")
    page.keyboard.type("# checked against the PyTorch output")
    expect(page.locator("#save-status")).to_contain_text("Saved")
    session = FixSession.objects.get(owner=developer)
    assert session.current_code.endswith("# checked against the PyTorch output")

    # Diff view against the original draft.
    page.click("button[data-view='draft']")
    page.wait_for_selector("#diff-view .monaco-diff-editor")
    page.click("button[data-view='edit']")

    # Record a step with the shortcut: the form comes pre-filled with the error of the draft the step starts from.
    # The latest failing run of the draft is the contract's (verify ran it); the picker offers the JAX run too.
    page.keyboard.press("Control+Shift+Enter")
    page.wait_for_selector("#step-form")
    assert page.input_value("#id_error").startswith("Contract mismatch at the spec stage")
    jax_run_id = session.runs.get(kind="jax").pk
    page.select_option("#id_run", str(jax_run_id))
    assert "unexpected PRNG key type" in page.input_value("#id_error")
    assert f"run {jax_run_id}" in page.inner_text("#error-origin")
    assert page.input_value("#id_error_code").strip() and page.input_value("#id_fixed_code").strip()
    assert page.input_value("#id_category")
    page.fill("#id_fix_info", f"Split a real PRNG key. {PAYLOAD}")
    page.click("#step-submit")
    page.wait_for_selector("#step-log .step")
    assert PAYLOAD in page.inner_text("#step-log")
    assert page.locator("#step-log img").count() == 0
    assert page.locator("#step-form").count() == 0
    step = FixStep.objects.get(session=session)
    assert (step.author, step.code_before, step.code_after) == (developer, translation.code, editor_value(page))
    assert (step.run_id, step.error_source) == (jax_run_id, "run") and "unexpected PRNG key type" in step.error

    # Run again: clean. Run the contract without verifying: every stage passes, the session stays open.
    page.click("#run-jax")
    page.wait_for_selector("#jax-output .run-ok", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#editor-pane .failing-line").count() == 0
    page.click("#run-contract")
    expect(page.locator("#contract-panel .verdict")).to_contain_text("Contract passed", timeout=RUN_TIMEOUT_MS)
    session.refresh_from_db()
    assert f"version {session.version} of the code against contract v1" in page.inner_text("#contract-panel")
    assert session.status == "open"

    # Verify: the contract decides (no confirmation box for a sample with a contract); the badge names the stages.
    assert page.locator("#confirm-verify").count() == 0
    page.click("#verify-button")
    page.wait_for_selector("#verified-summary", timeout=RUN_TIMEOUT_MS)
    assert "FixCost 1" in page.inner_text("#verified-summary")
    badge = "verified by contract v1: spec ✓ numeric ✓ behavioral ✓"
    assert badge in page.inner_text("#verification-badge")
    expect(page.locator("#contract-panel .verdict")).to_contain_text("Contract passed")
    session.refresh_from_db()
    assert session.status == "verified" and session.verification["method"] == "contract"
    assert [stage["status"] for stage in session.verification["stages"]] == ["passed"] * 3
    # The refused first verification is a 400 on purpose (Chromium logs it); nothing else may go wrong.
    unexpected = [message for message in watched["console"] if "status of 400 (Bad Request)" not in message]
    assert len(watched["console"]) - len(unexpected) == 1
    assert watched["dialogs"] == [] and unexpected == [] and watched["failed"] == []


def test_two_tabs_editing_the_same_session_never_overwrite_silently(live_server, page, login, watched):
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code="x = 1\n"), developer)
    login(developer)
    second = page.context.new_page()
    session_url = f"{live_server.url}/work/sessions/{session.pk}/"
    for tab in (page, second):
        tab.goto(session_url)
        editor_ready(tab)

    set_editor(page, "x = 1\ny = 'from tab one'\n")
    expect(page.locator("#save-status")).to_contain_text("version 2")
    set_editor(second, "x = 1\nz = 'from tab two'\n")
    second.wait_for_selector("#save-choices .conflict")

    diff = second.inner_text("#save-choices .conflict pre.diff")
    assert "y = 'from tab one'" in diff and "z = 'from tab two'" in diff
    session.refresh_from_db()
    assert (session.current_code, session.version) == ("x = 1\ny = 'from tab one'\n", 2)

    # Taking the saved version is an explicit choice; then editing goes on from version 2.
    second.click("#save-choices [data-conflict-action='take-theirs']")
    assert editor_value(second) == "x = 1\ny = 'from tab one'\n"
    set_editor(second, "x = 1\ny = 'from tab one'\nz = 2\n")
    expect(second.locator("#save-status")).to_contain_text("version 3")
    session.refresh_from_db()
    assert session.current_code == "x = 1\ny = 'from tab one'\nz = 2\n"
    assert watched["console"] == []


def test_html_payloads_in_code_output_and_steps_are_shown_as_text(live_server, page, login, watched):
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code=f"print({PAYLOAD!r})\n"), developer)
    FixStepFactory(session=session, author=developer, error=PAYLOAD, fix_info=PAYLOAD, error_code=PAYLOAD)
    RunFactory(  # after the step: a run since the last step, so the record-step form offers it
        session=session,
        user=developer,
        status="error",
        stdout=PAYLOAD,
        stderr=PAYLOAD,
        exception_type="ValueError",
        exception_message=PAYLOAD,
        traceback=[{"file": "main.py", "line": 1, "function": PAYLOAD}],
    )
    login(developer)

    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    editor_ready(page)

    assert PAYLOAD in editor_value(page)
    assert PAYLOAD in page.inner_text("#jax-output")
    assert PAYLOAD in page.inner_text("#step-log")
    # The record-step form offers the run in its picker and copies its error: still text.
    page.click("#record-step")
    page.wait_for_selector("#step-form #id_run")
    assert PAYLOAD in page.inner_text("#id_run") and PAYLOAD in page.input_value("#id_error")
    assert page.locator("img[src=x]").count() == 0
    assert watched["dialogs"] == []


def test_the_suggested_category_follows_the_picked_run_and_the_typed_error(live_server, page, login, watched):
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(code="x = 1\n"), developer)
    fixlog.save_code(session, "import optax\nx = 1\n", session.version, developer)
    named = RunFactory(session=session, user=developer, code="x = 1\n", status="error", exception_type="NameError",
                       exception_message="name 'optax' is not defined")  # fmt: skip
    # The latest failing run of the code the step starts from is the form's default.
    RunFactory(session=session, user=developer, code="x = 1\n", status="error", exception_type="TypeError",
               exception_message="JAX arrays are immutable and do not support in-place item assignment.")  # fmt: skip
    login(developer)
    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    editor_ready(page)
    page.click("#record-step")
    # The form is settled (the description gets the focus then) before the picker's changes are listened to.
    expect(page.locator("#id_fix_info")).to_be_focused()
    assert page.input_value("#id_category") == "inplace-mutation"

    page.select_option("#id_run", str(named.pk))
    expect(page.locator("#category-reason")).to_contain_text("Suggested missing-import")
    expect(page.locator("#id_category")).to_have_value("missing-import")
    # Writing the error by hand: "no run" empties the run's text, and the suggestion follows the typing.
    page.select_option("#id_run", "")
    assert page.input_value("#id_error") == ""
    page.fill("#id_error", "TypeError: add got incompatible shapes for broadcasting: (3,), (4,).")
    expect(page.locator("#category-reason")).to_contain_text("Suggested shape-dtype")
    expect(page.locator("#id_category")).to_have_value("shape-dtype")
    # A category the person picks stays theirs.
    page.select_option("#id_category", "numerical")
    page.fill("#id_error", "NameError: name 'optax' is not defined")
    expect(page.locator("#category-reason")).to_contain_text("Suggested missing-import")
    assert page.input_value("#id_category") == "numerical"
    page.fill("#id_fix_info", "Import optax.")
    page.click("#step-submit")
    page.wait_for_selector("#step-log .step")

    step = FixStep.objects.get(session=session)
    assert (step.category, step.error_source) == ("numerical", "written")
    assert step.category_reason.startswith("chosen by the developer (suggested missing-import")
    assert watched["console"] == [] and watched["failed"] == []


LSTM_E1 = "unexpected PRNG key type"
LSTM_E2 = "initialize_carry() missing 1 required positional argument"


@pytest.mark.sandbox
def test_a_step_records_the_error_of_the_code_it_started_from(live_server, page, login, watched, settings):
    """Run (error E1) -> fix that line -> Run (error E2) -> Record step: the step holds E1, not E2."""
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    load_demo()
    translation = Translation.objects.get(sample__key="lstm", system__name="weak-llm")
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(translation, developer)
    login(developer)
    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    editor_ready(page)

    page.click("#run-jax")
    expect(page.locator("#jax-output .run-error")).to_contain_text(LSTM_E1, timeout=RUN_TIMEOUT_MS)
    first = session.runs.get()

    broken_line = "jax.random.uniform((n, SEQ_LEN, 1))"
    assert broken_line in translation.code
    fixed_line = "jax.random.uniform(jax.random.PRNGKey(1), (n, SEQ_LEN, 1))"
    set_editor(page, translation.code.replace(broken_line, fixed_line))
    page.click("#run-jax")
    expect(page.locator("#jax-output .run-error")).to_contain_text(LSTM_E2, timeout=RUN_TIMEOUT_MS)

    page.click("#record-step")
    page.wait_for_selector("#step-form")
    assert LSTM_E1 in page.input_value("#id_error") and LSTM_E2 not in page.input_value("#id_error")
    assert f"from run {first.pk}" in page.inner_text("#error-origin")
    assert page.input_value("#id_category") == "prng"
    assert "Suggested prng" in page.inner_text("#category-reason")
    page.fill("#id_fix_info", "Give make_data a PRNG key of its own.")
    page.click("#step-submit")
    page.wait_for_selector("#step-log .step")

    step = FixStep.objects.get(session=session)
    assert LSTM_E1 in step.error and LSTM_E2 not in step.error
    assert (step.run, step.error_source, step.category) == (first, "run", "prng")
    assert "jax.random.PRNGKey(1)" in step.fixed_code
    assert f"from run {first.pk}" in page.inner_text("#step-log")
    assert watched["console"] == [] and watched["failed"] == [] and watched["dialogs"] == []


LINREG_SUM_LOSS = ("return jnp.mean((predict(params, x) - y) ** 2)", "return jnp.sum((predict(params, x) - y) ** 2)")


@pytest.mark.sandbox
def test_a_contract_only_failure_is_the_steps_error(live_server, page, login, watched, settings):
    """A program that runs clean but fails its contract: the step's error is the contract's first mismatch."""
    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    load_demo()
    fixed = (Path(settings.BASE_DIR) / "fixtures/demo/linreg/fixed.py").read_text()
    assert LINREG_SUM_LOSS[0] in fixed
    sample = Translation.objects.filter(sample__key="linreg").first().sample
    translation = TranslationFactory(sample=sample, code=fixed.replace(*LINREG_SUM_LOSS))
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(translation, developer)
    login(developer)
    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    editor_ready(page)

    page.click("#run-jax")
    page.wait_for_selector("#jax-output .run-ok", timeout=RUN_TIMEOUT_MS)
    page.click("#run-contract")
    expect(page.locator("#contract-panel .verdict")).to_contain_text("Contract failed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#contract-panel #stage-numeric")).to_have_class("stage stage-failed")
    contract_run = session.runs.get(kind="contract")

    set_editor(page, fixed)
    page.click("#record-step")
    page.wait_for_selector("#step-form")
    error = page.input_value("#id_error")
    assert error.startswith("Contract mismatch at the numeric stage, check mse_loss:"), error
    assert f"from run {contract_run.pk}" in page.inner_text("#error-origin")
    assert "contract failed" in page.inner_text("#id_run")
    page.fill("#id_fix_info", "The loss is a mean, as in PyTorch.")
    page.click("#step-submit")
    page.wait_for_selector("#step-log .step")

    step = FixStep.objects.get(session=session)
    assert step.error.startswith("Contract mismatch at the numeric stage, check mse_loss:")
    assert (step.run, step.error_source, step.category) == (contract_run, "contract", "numerical")
    assert "jnp.mean" in step.fixed_code and "jnp.sum" in step.error_code
    assert watched["console"] == [] and watched["failed"] == [] and watched["dialogs"] == []
