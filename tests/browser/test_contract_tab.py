"""The workspace's contract tab in a real browser: a developer reads the interface the contract expects, its
tolerances and source, runs it, and reads the first mismatch as expected vs got."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate import fixlog
from tests.annotate.contract_support import demo_file, demo_sample, require_runtime_pytest
from tests.annotate.factories import TranslationFactory
from tests.browser.conftest import failed_request_recorder
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT_MS = 120_000


def test_a_developer_reads_the_contract_runs_it_and_sees_the_first_mismatch(live_server, page, login, settings):
    require_runtime_pytest()  # the runtime whose t2j_contract reports dtypes and first differing indices
    settings.T2J_RUNNER_URLS = []  # cold starts here: no runner server in tests
    settings.T2J_RUN_WALL_S = max(settings.T2J_RUN_WALL_S, 120.0)
    settings.T2J_RUN_ADDRESS_SPACE_BYTES = max(settings.T2J_RUN_ADDRESS_SPACE_BYTES, 16 * 1024**3)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("requestfailed", failed_request_recorder(problems))
    # The fixed cnn with one activation changed: the interface fits, the logits do not.
    code = demo_file("cnn", "fixed.py").replace("nn.relu(nn.Conv(16", "nn.gelu(nn.Conv(16")
    developer = make_user("developer", "browserdev")
    session = fixlog.claim(TranslationFactory(sample=demo_sample("cnn"), code=code), developer)
    login(developer)

    page.goto(f"{live_server.url}/work/sessions/{session.pk}/")
    page.wait_for_selector("#workspace[data-editor-ready='1']")

    # Before any run the tab opens on what the contract expects, listed plainly.
    expect(page.locator("#contract-tab-interface")).to_have_attribute("aria-selected", "true")
    interface = page.locator("#contract-interface")
    expect(interface).to_be_visible()
    expect(interface).to_contain_text("NHWC")
    row = interface.locator("tr", has=page.locator("td > code", has_text="train_step"))
    expect(row).to_contain_text("4 positional arguments")
    expect(row).to_contain_text("params, opt_state, loss, acc = jax_program.train_step(")
    expect(interface).to_contain_text("'conv1': conv(model.conv1, grad)")
    expect(page.locator("#contract-result")).to_be_hidden()
    page.click("#contract-tab-tolerances")
    expect(page.locator("#contract-tolerances")).to_contain_text("forward logits")
    expect(interface).to_be_hidden()
    page.click("#contract-tab-source")
    expect(page.locator("#contract-source")).to_contain_text("def numeric(torch_program, jax_program):")

    # Run it: the result opens on the failing stage's first mismatch, expected (PyTorch) vs got (JAX).
    page.click("#run-contract")
    expect(page.locator("#contract-panel .verdict")).to_contain_text("Contract failed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#contract-tab-result")).to_have_attribute("aria-selected", "true")
    numeric = page.locator("#contract-panel #stage-numeric")
    expect(numeric).to_have_class("stage stage-failed")
    expect(numeric.locator(".check")).to_have_text("forward logits")
    got = numeric.locator("table.expected-got")
    expect(got.locator("thead")).to_contain_text("expected (PyTorch)")
    expect(got.locator(".row-shape")).to_have_text("shape[32, 3][32, 3]")
    expect(got.locator(".row-dtype")).to_have_text("dtypefloat32float32")
    expect(got.locator(".row-first th")).to_contain_text("first differing index [")
    expect(numeric.locator(".diffs")).to_contain_text("max abs diff")
    expect(page.locator("#contract-panel #stage-spec")).to_have_class("stage stage-passed")
    expect(page.locator("#contract-panel #stage-behavioral")).to_contain_text("not-reached")
    # The other parts stay a click away after the swap, now with the parameter shapes the spec stage expected.
    page.click("#contract-tab-interface")
    expect(page.locator("#contract-interface")).to_contain_text("train_step")
    expect(page.locator("#contract-interface .shapes")).to_contain_text("params.conv1.kernel (3, 3, 1, 8)")
    assert problems == []
