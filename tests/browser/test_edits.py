"""The editor never drops text silently (issue 17 kind 1), in a real browser: a refused save keeps its choice on
screen while the developer types on, unsaved text survives a reload, a Run right after typing shows the true
save state, leaving with unsaved text asks first, and Abandon asks first and saves the text before it goes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate import fixlog
from annotate.models import FixSession, Run
from tests.annotate.factories import TranslationFactory
from tests.browser.test_workspace import editor_ready, editor_value, set_editor
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAFT = "x = 1\n"
TAB_A = "x = 1\ny = 'from tab A'\n"
TAB_B = "x = 1\nz = 'from tab B'\n"
TAB_B_MORE = "x = 1\nz = 'from tab B'\nw = 'typed after the conflict'\n"


@pytest.fixture
def session(db):
    developer = make_user("developer", "browserdev")
    return fixlog.claim(TranslationFactory(code=DRAFT), developer)


@pytest.fixture
def workspace(live_server, page, login, session):
    """Open the session's workspace in `page` (and, called again with another page, in that one); at the end,
    no script of any of them may have thrown."""
    login(session.owner)
    thrown = []

    def open_in(tab):
        tab.on("pageerror", lambda error: thrown.append(f"{tab.url}: {error}"))
        tab.goto(f"{live_server.url}/work/sessions/{session.pk}/")
        editor_ready(tab)
        return tab

    open_in(page)
    yield open_in
    assert thrown == []


def save_state(tab, state: str) -> None:
    tab.wait_for_selector(f"#workspace[data-save-state='{state}']")


def server_code(session) -> tuple[str, int]:
    session.refresh_from_db()
    return session.current_code, session.version


def a_conflict_in_tab_b(page, workspace):
    """Tab A saves version 2; tab B, still on version 1, types: its save is refused. Returns tab B."""
    second = workspace(page.context.new_page())
    set_editor(page, TAB_A)
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")
    set_editor(second, TAB_B)
    second.wait_for_selector("#workspace .conflict[data-version='2']")
    return second


def type_at_the_end(tab, text: str) -> None:
    """Type as a person would: click into the editor, go to its end, press the keys."""
    tab.click("#editor-pane .monaco-editor .view-lines")
    tab.keyboard.press("Control+End")
    tab.keyboard.type(text)


def test_a_refused_save_keeps_its_choice_while_typing_on_and_keep_mine_saves_over(page, workspace, session):
    second = a_conflict_in_tab_b(page, workspace)
    conflict = second.locator("#workspace .conflict")
    expect(conflict.locator("pre.diff")).to_contain_text("y = 'from tab A'")
    expect(conflict.locator("pre.diff")).to_contain_text("z = 'from tab B'")

    # Typing once more used to wipe the box and stop autosave and Ctrl+S without a word.
    type_at_the_end(second, "w = 'typed after the conflict'\n")
    second.wait_for_timeout(2500)  # twice the autosave pause
    expect(conflict).to_be_visible()
    expect(conflict.locator("pre.diff")).to_contain_text("w = 'typed after the conflict'")  # the diff follows
    assert second.get_attribute("#workspace", "data-save-state") == "conflict"
    expect(second.locator("#save-status")).to_contain_text("Not saved: version 2 was saved first")
    second.keyboard.press("Control+s")
    expect(second.locator("#save-status")).to_contain_text("Nothing is saved until you choose")
    expect(conflict).to_be_visible()
    assert server_code(session) == (TAB_A, 2)

    # Keeping mine, after seeing the diff, saves it over version 2.
    conflict.locator("[data-conflict-action='keep-mine']").click()
    expect(second.locator("#save-status")).to_contain_text("Saved (version 3)")
    expect(second.locator("#workspace .conflict")).to_have_count(0)
    assert server_code(session) == (editor_value(second), 3)
    assert "w = 'typed after the conflict'" in editor_value(second)


def test_take_theirs_and_copy_mine_are_choices_too(page, workspace, session, live_server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    second = a_conflict_in_tab_b(page, workspace)

    second.click("#save-choices [data-conflict-action='copy-mine']")
    expect(second.locator("#save-status")).to_contain_text("Copied to the clipboard")
    assert second.evaluate("() => navigator.clipboard.readText()") == TAB_B
    expect(second.locator("#save-choices .conflict")).to_be_visible()  # copying is no choice: it stays

    second.click("#save-choices [data-conflict-action='take-theirs']")
    save_state(second, "saved")
    assert editor_value(second) == TAB_A
    expect(second.locator("#save-status")).to_contain_text("Saved (version 2)")
    set_editor(second, TAB_A + "v = 3\n")  # editing goes on from version 2
    expect(second.locator("#save-status")).to_contain_text("Saved (version 3)")
    assert server_code(session) == (TAB_A + "v = 3\n", 3)


def test_text_not_saved_survives_a_reload_and_is_offered_back_with_its_diff(page, workspace, session):
    second = a_conflict_in_tab_b(page, workspace)
    type_at_the_end(second, "w = 'typed after the conflict'\n")
    second.wait_for_timeout(500)  # the browser's copy is written a moment after the last key
    dialogs = []
    second.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))

    second.reload()
    editor_ready(second)

    assert dialogs == ["beforeunload"]  # leaving asked first
    save_state(second, "offer")
    offer = second.locator("#save-restore")
    expect(offer).to_contain_text("edited from version 1")
    expect(offer.locator(".diff-add")).to_contain_text("w = 'typed after the conflict'")
    expect(offer.locator(".diff-del")).to_contain_text("y = 'from tab A'")
    type_at_the_end(second, "typed before choosing")
    assert editor_value(second) == TAB_A  # the server's code, read-only until the choice is made

    # Restored, it is saved against version 1, which is a conflict to resolve; then it is kept over version 2.
    offer.locator("[data-restore-action='restore']").click()
    save_state(second, "conflict")
    assert editor_value(second) == TAB_B_MORE
    second.click("#save-choices [data-conflict-action='keep-mine']")
    expect(second.locator("#save-status")).to_contain_text("Saved (version 3)")
    assert server_code(session) == (TAB_B_MORE, 3)

    # The server holds it now: the next visit offers nothing.
    second.reload()
    editor_ready(second)
    save_state(second, "saved")
    expect(second.locator("#save-restore")).to_have_count(0)


def test_a_failed_save_says_so_and_the_text_is_offered_after_a_reload(page, workspace, session):
    page.route(re.compile(r".*/save/$"), lambda route: route.abort())  # the server is out of reach
    set_editor(page, TAB_A)

    page.wait_for_selector("#save-status .error")
    expect(page.locator("#save-status")).to_contain_text("Not saved: the server did not answer. Kept in this browser.")
    save_state(page, "failed")
    assert server_code(session) == (DRAFT, 1)
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()  # the server still out of reach: the save tried on leaving fails too
    editor_ready(page)

    save_state(page, "offer")
    page.unroute(re.compile(r".*/save/$"))
    page.click("#save-restore [data-restore-action='restore']")
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")
    assert server_code(session) == (TAB_A, 2)


def test_discarding_the_offered_text_is_a_choice(page, workspace, session):
    page.route(re.compile(r".*/save/$"), lambda route: route.abort())
    set_editor(page, TAB_A)
    save_state(page, "failed")
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()
    editor_ready(page)
    page.unroute(re.compile(r".*/save/$"))

    page.click("#save-restore [data-restore-action='discard']")

    save_state(page, "saved")
    assert editor_value(page) == DRAFT and server_code(session) == (DRAFT, 1)
    set_editor(page, DRAFT + "a = 2\n")  # writable again
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")


def test_clicking_run_right_after_typing_shows_the_true_save_state(page, workspace, session, settings):
    # No sandbox here: with bubblewrap missing the run is refused at once (and says so), which is all this needs.
    settings.T2J_RUNNER_URLS = []
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    set_editor(page, TAB_A)
    page.click("#run-jax")  # well within the autosave pause

    page.wait_for_selector("#jax-output [data-run-kind]")
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")
    page.wait_for_timeout(2500)
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")  # it used to say "Unsaved changes…"
    assert server_code(session) == (TAB_A, 2)
    assert Run.objects.get().code_hash  # the run saw the saved code


def test_a_run_is_not_sent_while_a_refused_save_waits_for_its_choice(page, workspace, session, settings):
    settings.T2J_RUNNER_URLS = []
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    second = a_conflict_in_tab_b(page, workspace)

    second.click("#run-jax")

    expect(second.locator("#save-status")).to_contain_text("Nothing is saved until you choose")
    second.wait_for_timeout(1000)
    assert not Run.objects.exists()


def test_leaving_with_unsaved_text_asks_first(page, workspace, session):
    page.route(re.compile(r".*/save/$"), lambda route: route.abort())
    set_editor(page, TAB_A)
    page.wait_for_selector("#save-status .error")  # the save failed
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))  # "stay on the page"

    page.click("text=back to the queue")

    page.wait_for_timeout(1000)
    assert dialogs == ["beforeunload"]
    assert "/work/sessions/" in page.url and editor_value(page) == TAB_A


def test_leaving_with_everything_saved_asks_nothing(page, workspace, session):
    set_editor(page, TAB_A)
    expect(page.locator("#save-status")).to_contain_text("Saved (version 2)")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))

    page.click("text=back to the queue")

    page.wait_for_url("**/work/")
    assert dialogs == []


def test_abandon_asks_first_and_saves_the_text_before_it_goes(page, workspace, session):
    page.click("#abandon summary")
    expect(page.locator("#abandon-form")).to_contain_text("Give this draft back to the queue?")
    assert FixSession.objects.get().status == "open"  # opening the question abandons nothing
    set_editor(page, TAB_A)

    page.click("#abandon-button")  # within the autosave pause: the text is saved first

    page.wait_for_url("**/work/")
    session.refresh_from_db()
    assert (session.status, session.current_code) == ("abandoned", TAB_A)


def test_an_oversized_autosave_says_which_limit_and_keeps_the_text(page, workspace, session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    set_editor(page, "x = 1\n" + "# a long comment line\n" * 200)

    page.wait_for_selector("#save-status .error")
    status = page.inner_text("#save-status")
    assert "this site takes at most 2.0\xa0KB of form data in one request" in status
    assert "Kept in this browser." in status
    save_state(page, "failed")
    assert server_code(session) == (DRAFT, 1)
