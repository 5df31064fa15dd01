"""Playwright with Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django's async-safety check must allow the ORM here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make install does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def failed_request_recorder(sink: list):
    """A `requestfailed` handler that records real failures, not requests the browser cancelled itself
    (net::ERR_ABORTED) because the page navigated away while, say, the favicon was still loading."""

    def record(request) -> None:
        if request.failure != "net::ERR_ABORTED":
            sink.append(f"{request.url}: {request.failure}")

    return record


@pytest.fixture
def watched(page):
    """Console errors (CSP refusals and module scripts that fail to load show there), uncaught script errors,
    failed requests and dialogs (an alert() would mean injected script ran)."""
    seen = {"console": [], "failed": [], "dialogs": []}
    page.on("console", lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None)
    # An exception thrown by a workspace module reaches Playwright as a page error, not as a console message.
    page.on("pageerror", lambda error: seen["console"].append(f"uncaught: {error}"))
    page.on("requestfailed", failed_request_recorder(seen["failed"]))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    return seen


@pytest.fixture
def login(live_server, page):
    """Log in through the real form, as a person would."""

    def _login(user, password: str = "browser-pass-123"):
        user.set_password(password)
        user.save()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return _login
