"""Pages in a real browser: Monaco loads from our own origin under the enforced CSP, htmx filters work."""

from __future__ import annotations

import pytest

from tests.annotate.factories import SampleFactory, TranslationFactory
from tests.browser.conftest import failed_request_recorder
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_monaco_renders_the_source_without_csp_violations(live_server, page, login):
    translation = TranslationFactory(sample__pytorch_code="import torch\nprint('<b>not bold</b>')\n")
    violations, failed = [], []
    # CSP refusals, and Monaco's "could not create web worker" fallback, both show on the console.
    page.on("console", lambda msg: violations.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("requestfailed", failed_request_recorder(failed))
    login(make_user("developer"))
    page.goto(f"{live_server.url}{translation.sample.get_absolute_url()}")
    page.wait_for_selector(".monaco-editor .view-lines")
    assert "<b>not bold</b>" in page.inner_text(".monaco-editor .view-lines").replace("\xa0", " ")
    assert page.locator("b", has_text="not bold").count() == 0
    assert violations == [] and failed == []


def test_sample_filters_swap_the_table_in_place(live_server, page, login):
    SampleFactory(key="easy1", difficulty="easy")
    SampleFactory(key="hard1", difficulty="hard")
    login(make_user("developer"))
    page.goto(f"{live_server.url}/samples/")
    page.select_option("select[name=difficulty]", "hard")
    page.wait_for_function("!document.querySelector('#sample-table').innerText.includes('easy1')")
    assert "hard1" in page.inner_text("#sample-table")
    assert "difficulty=hard" in page.url
