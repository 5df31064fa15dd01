"""Each role's main page on the demo at 1440 and 1024 px: no sideways page scroll, and a screenshot of each.

The screenshots go to T2J_SCREENSHOTS_DIR when it is set (docs/screenshots/ holds the committed ones:
`T2J_SCREENSHOTS_DIR=docs/screenshots flock /tmp/t2j-heavy.lock .venv/bin/python -m pytest
tests/browser/test_screenshots.py`), else to the test's temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from evaluate import dashboard
from evaluate.demo import load_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# role: (demo user, main page, what shows once the page is ready)
MAIN_PAGES = {
    "developer": ("dev", "/work/", "main h1"),
    "reviewer": ("rev", "/evaluate/review/", "#review-diff .monaco-diff-editor"),
    "admin": ("boss", "/evaluate/", "#computed-at"),
}
WIDTHS = (1440, 1024)


@pytest.mark.parametrize("role", MAIN_PAGES)
def test_each_roles_main_page_fits_both_widths(live_server, page, login, role, tmp_path):
    load_demo()
    dashboard.refresh()
    username, path, ready = MAIN_PAGES[role]
    login(get_user_model().objects.get(username=username))
    folder = Path(os.environ.get("T2J_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(ready)
        expect(page.locator("figure.plot:not([data-rendered])")).to_have_count(0)  # the admin's charts drawn
        page.wait_for_load_state("networkidle")
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, (role, width, scroll, client)
        shot = folder / f"{role}-{width}.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000  # a page, not a blank
