"""Each role's pages in a real browser (issue 18): the reviewer's demo queues with progress and undo, the
admin's zip export and compute-metrics job, and every admin page at 1024 px without sideways page scroll."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotate.models import Job
from evaluate import dashboard
from evaluate.demo import load_demo
from evaluate.models import Comparison, Judgement
from evaluate.tasks import compute_metrics_task
from tests.annotate.factories import FixSessionFactory, SampleFactory, TranslationFactory
from tests.conftest import make_user
from tests.evaluate.conftest import evaluated  # noqa: F401  (fixture: two systems, steps, CodeBLEU and votes)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROGRESS = re.compile(r"(\d+) of (\d+)")


def _progress(page) -> tuple[int, int]:
    done, total = PROGRESS.search(page.inner_text("#queue-progress")).groups()
    return int(done), int(total)


def _demo_reviewer(login, username: str = "rev"):
    load_demo()
    return login(get_user_model().objects.get(username=username))


def test_the_demo_reviewer_votes_goes_back_and_changes_the_vote(live_server, page, login):
    _demo_reviewer(login)  # the demo's votes are all rev2's: rev finds every pair waiting
    rev = get_user_model().objects.get(username="rev")
    page.goto(f"{live_server.url}/evaluate/review/")
    page.wait_for_selector("#review-diff .monaco-diff-editor")
    page.wait_for_load_state("networkidle")
    done, total = _progress(page)
    assert done == 0 and total > 1

    page.keyboard.press("1")  # A better; the reason box takes the focus
    page.keyboard.type("A keeps the PRNG key explicit")
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Vote recorded.")
    assert _progress(page) == (1, total)

    # Keys act once the page's scripts are in: wait for the editor, as a person waits to see the pair.
    page.wait_for_selector("#review-diff .monaco-diff-editor")
    page.wait_for_load_state("networkidle")
    page.keyboard.press("p")  # back to the pair just voted on, to change the vote
    page.wait_for_url("**back=1**")
    expect(page.locator("#your-vote")).to_contain_text("A keeps the PRNG key explicit")
    page.wait_for_selector("#review-diff .monaco-diff-editor")
    page.wait_for_load_state("networkidle")
    page.keyboard.press("2")
    page.keyboard.type("On a second look B is right")
    page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text("Vote recorded.")
    assert _progress(page) == (1, total)  # a changed vote is not a second pair done

    mine = Comparison.objects.filter(judge_user=rev)
    assert mine.count() == 2  # the first vote stays on record
    assert [c.verdict for c in mine.current()] == ["right"]


def test_the_demo_reviewer_scores_with_keys_and_the_count_goes_down(live_server, page, login):
    _demo_reviewer(login)
    page.goto(f"{live_server.url}/evaluate/score/")
    page.wait_for_load_state("networkidle")
    done, total = _progress(page)
    left = total - done
    assert left > 1
    page.keyboard.press("3")  # usefulness, then the highlight moves to functional correctness
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#queue-left")).to_have_text(f"{left - 1} left")
    scores = Judgement.objects.filter(judge_user__username="rev")
    assert sorted(scores.values_list("aspect", "score")) == [("functional-correctness", 1), ("usefulness", 3)]


def test_all_systems_download_as_a_zip_of_one_t2j_file_per_system(live_server, page, login):
    sample = SampleFactory(key="s1")
    for name in ("sys-a", "sys-b"):
        FixSessionFactory(translation=TranslationFactory(sample=sample, system__name=name), status="verified")
    login(make_user("admin", "browser-exporter"))
    page.goto(f"{live_server.url}/dataset/")
    assert page.input_value("#export-system") == ""  # "all systems" is the default
    with page.expect_download() as download:
        page.click("button[value=t2j]")
    assert download.value.suggested_filename == "fix_bugs_dataset-by-system.zip"
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert archive.namelist() == ["sys-a-fix_bugs_dataset.json", "sys-b-fix_bugs_dataset.json"]
    assert "--system" not in page.content()


def test_compute_metrics_shows_progress_until_each_metric_has_its_outcome(
    live_server,
    page,
    login,
    evaluated,  # noqa: F811
    settings,
):
    # The job waits in the queue (no worker) until the test runs it, so the page shows it queued, then done.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""
    dashboard.refresh()
    login(make_user("admin", "browser-metrics"))
    page.goto(f"{live_server.url}/evaluate/")
    page.click("#compute-metrics summary")
    for box in page.locator("#compute-metrics input[name=metrics]").all():
        if box.get_attribute("value") not in ("fixcost", "codetrans"):
            box.uncheck()
    page.click("#compute-metrics form:first-of-type button[type=submit]")
    job = Job.objects.get(kind="metrics")
    row = page.locator(f"#job-{job.pk}")
    expect(row).to_contain_text("0 of 2 done")
    expect(row.locator("button", has_text="Cancel")).to_be_visible()

    compute_metrics_task.call(job.pk)  # the worker's part; the row polls every second

    expect(row.locator(".status-done").first).to_be_visible(timeout=10000)
    expect(row).to_contain_text("2 of 2 done")
    expect(page.locator(".outcomes")).to_contain_text("FixCost: done")
    expect(page.locator(".outcomes")).to_contain_text("skipped — No LLM endpoint is configured")


LINK_TOPS = "[...document.querySelectorAll('.topbar nav > a')].map((a) => a.getBoundingClientRect().y)"
NAV_FITS = "(n => n.scrollWidth <= n.clientWidth)(document.querySelector('.topbar nav'))"
ADMIN_PAGES = ("/evaluate/", "/jobs/", "/systems/", "/dataset/", "/samples/", "/contracts/", "/drafting/", "/help/")


def test_admin_pages_fit_1024_px_without_page_scroll_and_one_line_of_navigation(
    live_server,
    page,
    login,
    evaluated,  # noqa: F811
):
    dashboard.refresh()
    page.set_viewport_size({"width": 1024, "height": 768})
    login(make_user("admin", "browser-narrow"))
    for path in ADMIN_PAGES:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], (path, widths)
        # One line: the navigation does not wrap, so its links share one top and the bar stays one row high.
        tops = page.evaluate(LINK_TOPS)
        assert max(tops) - min(tops) < 2 and page.locator(".topbar").bounding_box()["height"] < 60, (path, tops)
        assert page.evaluate(NAV_FITS), path  # and the links do not run under the help and log-out controls
