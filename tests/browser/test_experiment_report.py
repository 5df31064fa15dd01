"""The experiment report page in a real browser: every plot drawn by the vendored Chart.js under the enforced CSP."""

from __future__ import annotations

import json

import pytest

from annotate.models import Run, Translation
from annotate.runs import code_hash
from evaluate import experiment as experiments
from evaluate import experiment_report
from tests.browser.conftest import failed_request_recorder
from tests.conftest import make_user
from tests.evaluate.conftest import evaluated  # noqa: F401  (fixture: two systems, steps, CodeBLEU and votes)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASTED = "\n".join(f"state_{i} = jax.numpy.zeros(({i}, {i + 1}))" for i in range(12)) + "\n"


def _with_runs_and_t2j_prompts() -> None:
    """T2J prompts whose example the t2j drafts paste, and a sandbox run of every draft (one an error)."""
    dataset = json.dumps({"Pytorch_to_JAX_Examples": [{"Example_id": "m9", "LLM_weak_output": PASTED}]})
    prompt = [{"role": "user", "content": f"Bug-fix dataset (JSON):\n{dataset}"}]
    Translation.objects.filter(system__name="t2j").update(code=PASTED, prompt_messages=prompt)
    for i, t in enumerate(Translation.objects.all()):
        error = i == 0
        Run.objects.create(
            kind="jax", code_hash=code_hash(t.code), status="error" if error else "ok", translation=t,
            exception_type="TypeError" if error else "", exception_message="bad" if error else "",
        )  # fmt: skip


def test_every_plot_of_the_report_renders_without_console_errors(live_server, page, login, evaluated):  # noqa: F811
    _with_runs_and_t2j_prompts()
    experiment, _ = experiments.create(
        {
            "name": "browser",
            "samples": ["e1", "h1"],
            "metrics": ["codebleu", "fixcost", "comparison"],
            "arms": [{"name": "base", "system": "base"}, {"name": "t2j", "system": "t2j"}],
        }
    )
    experiment_report.store(experiment, resamples=199)
    problems = []
    # A CSP refusal (of an inline script or a script from elsewhere) shows as a console error.
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", failed_request_recorder(problems))
    login(make_user("admin", "browser-boss"))
    page.goto(f"{live_server.url}/evaluate/experiments/browser/")
    page.wait_for_function(
        "[...document.querySelectorAll('figure.plot')].every((f) => f.dataset.rendered)", timeout=15000
    )
    page.wait_for_load_state("networkidle")
    ids = set(page.eval_on_selector_all("figure.plot", "fs => fs.map((f) => f.id)"))
    assert {"plot-box-codebleu", "plot-difference-codebleu", "plot-bradley-terry", "plot-scatter-codebleu",
            "plot-fixcost-distribution", "plot-error-categories", "plot-runs", "plot-copy-check"} <= ids  # fmt: skip
    states = page.eval_on_selector_all("figure.plot", "fs => fs.map((f) => [f.id, f.dataset.rendered])")
    assert all(state == "true" for _, state in states), states
    sizes = page.eval_on_selector_all(
        "figure.plot canvas", "cs => cs.map((c) => [c.width, c.height, Boolean(window.Chart.getChart(c))])"
    )
    assert all(width > 100 and height > 100 and known for width, height, known in sizes), sizes
    assert page.locator("#copy-check tr.flagged").count() == 2  # both t2j drafts paste their prompt's example
    assert problems == []
