"""The dashboard's plots in a real browser: every one drawn by the vendored Chart.js under the enforced CSP."""

from __future__ import annotations

import pytest

from evaluate import dashboard
from tests.browser.conftest import failed_request_recorder
from tests.conftest import make_user
from tests.evaluate.conftest import evaluated  # noqa: F401  (fixture: two systems, steps, CodeBLEU and votes)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KINDS = {"box", "bars", "forest", "scatter", "stacked"}


def test_every_plot_of_the_dashboard_renders_without_console_errors(live_server, page, login, evaluated):  # noqa: F811
    dashboard.refresh()
    problems = []
    # A CSP refusal (of an inline script or a script from elsewhere) shows as a console error.
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", failed_request_recorder(problems))
    login(make_user("admin", "browser-boss"))
    page.goto(f"{live_server.url}/evaluate/")
    figures = page.locator("figure.plot")
    page.wait_for_function(
        "[...document.querySelectorAll('figure.plot')].every((f) => f.dataset.rendered)", timeout=15000
    )
    page.wait_for_load_state("networkidle")
    count = figures.count()
    assert count >= 8
    states = page.eval_on_selector_all("figure.plot", "fs => fs.map((f) => [f.id, f.dataset.rendered])")
    assert all(state == "true" for _, state in states), states
    assert set(page.eval_on_selector_all("figure.plot", "fs => fs.map((f) => f.dataset.kind)")) == KINDS
    # Each canvas was drawn at a real size, and Chart.js knows the chart.
    sizes = page.eval_on_selector_all(
        "figure.plot canvas", "cs => cs.map((c) => [c.width, c.height, Boolean(window.Chart.getChart(c))])"
    )
    assert all(width > 100 and height > 100 and known for width, height, known in sizes), sizes
    assert problems == []
