"""Blind comparison in a real browser: Monaco diff under the CSP, keyboard voting, reason required."""

from __future__ import annotations

import pytest

from evaluate.models import Comparison
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.browser.conftest import failed_request_recorder
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pair(key: str) -> None:
    sample = SampleFactory(key=key, pytorch_code="import torch\nprint('torch')\n")
    TranslationFactory(sample=sample, system=SystemFactory(name="hidden-alpha"), code="print('alpha')\n")
    TranslationFactory(sample=sample, system=SystemFactory(name="hidden-beta"), code="print('beta')\n")


def test_a_reviewer_votes_with_the_keyboard_and_must_give_a_reason(live_server, page, login):
    _pair("p1")
    _pair("p2")
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("requestfailed", failed_request_recorder(problems))
    reviewer = make_user("reviewer", "browser-rev")
    login(reviewer)

    page.goto(f"{live_server.url}/evaluate/review/")
    page.wait_for_selector("#review-diff .monaco-diff-editor")
    # Voting navigates away: let Monaco's workers and fonts finish loading, or their aborts look like failures.
    page.wait_for_load_state("networkidle")
    assert "hidden-" not in page.content()

    # A key with no reason yet only selects the verdict and moves to the reason box.
    page.keyboard.press("1")
    assert page.evaluate("document.activeElement.id") == "reason"
    assert Comparison.objects.count() == 0
    page.keyboard.type("Keeps 1 key explicit")  # digits typed in the reason are text, not votes
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Vote recorded.")

    first = Comparison.objects.get()
    assert (first.verdict, first.reason, first.judge_user) == ("left", "Keeps 1 key explicit", reviewer)
    assert first.time_spent_s is not None

    # Reason first, Esc out of the box, then 9: sent at once as both bad.
    page.wait_for_selector("#review-diff .monaco-diff-editor")
    page.wait_for_load_state("networkidle")
    page.fill("#reason", "Neither runs")
    page.keyboard.press("Escape")
    page.keyboard.press("9")
    page.wait_for_selector("text=No pairs are waiting")
    assert Comparison.objects.order_by("pk").last().verdict == "both-bad"
    assert problems == []


def test_clicking_a_verdict_without_a_reason_is_blocked_by_the_browser(live_server, page, login):
    _pair("p3")
    login(make_user("reviewer", "browser-rev2"))
    page.goto(f"{live_server.url}/evaluate/review/")
    page.click("button[value=tie]")
    assert page.evaluate("document.querySelector('#reason').validity.valueMissing")
    assert Comparison.objects.count() == 0
