"""Requests over the site's limits (RELIABILITY.md case 38, issue 17 kind 7): a page that names the limit and
says what to do, JSON for the editor's autosave and for htmx, never Django's bare "Bad Request (400)", and
nothing written. Also the caps on a fix step's texts."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate import fixlog
from annotate.models import FixStep, ImportRecord
from tests.annotate.factories import TranslationFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
JSON = {"HTTP_ACCEPT": "application/json"}
LIMIT_TEXT = "5.0\xa0MB of form data in one request (T2J_UPLOAD_MAX_MEMORY_BYTES)"


@pytest.fixture
def session(developer):
    return fixlog.claim(TranslationFactory(code="x = 1\n"), developer)


def oversized_code() -> str:
    return "y = 2\n" * (1024 * 1024)  # 6 MiB: over the default 5 MiB of form data (T2J_UPLOAD_MAX_MEMORY_BYTES)


def save_url(session) -> str:
    return reverse("workspace:code_save", args=[session.pk])


def assert_unchanged(session) -> None:
    before = (session.current_code, session.version)
    session.refresh_from_db()
    assert (session.current_code, session.version) == before


def test_an_oversized_autosave_gets_json_naming_the_limit(developer_client, session):
    response = developer_client.post(save_url(session), {"code": oversized_code(), "version": 1}, **JSON)

    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    answer = response.json()
    assert answer["ok"] is False and answer["error"] == "request-too-large"
    assert "6.0\xa0MB" in answer["message"] and LIMIT_TEXT in answer["message"]
    assert answer["message"].endswith("Nothing was saved.")
    assert "still in the editor" in answer["advice"]
    assert_unchanged(session)


def test_an_oversized_form_post_gets_a_page_that_says_what_to_do(developer_client, session):
    response = developer_client.post(save_url(session), {"code": oversized_code(), "version": 1})

    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Bad Request (400)" not in page
    assert "<h1>Request refused</h1>" in page and 'class="topbar"' in page  # the site's own page, logged in
    assert LIMIT_TEXT in page and "import large data sets as a file on the Dataset page" in page
    assert_unchanged(session)


def test_an_oversized_htmx_request_gets_json(developer_client, session):
    run_url = reverse("workspace:run_create", args=[session.pk])
    response = developer_client.post(run_url, {"code": oversized_code(), "version": 1, "kind": "jax"}, **HX)

    assert response.status_code == 400 and response.json()["error"] == "request-too-large"
    assert not session.runs.exists()
    assert_unchanged(session)


def test_too_many_fields_are_refused_naming_the_limit(developer_client, session):
    fields = {f"field{i}": "x" for i in range(1001)} | {"code": "x = 2\n", "version": 1}

    response = developer_client.post(save_url(session), fields)

    assert response.status_code == 400
    assert "The form sent more than 1000 fields" in response.content.decode()
    assert_unchanged(session)


def test_too_many_files_are_refused_naming_the_limit(admin_client_role):
    files = [SimpleUploadedFile(f"part{i}.jsonl", b"{}\n") for i in range(101)]

    response = admin_client_role.post(reverse("dataset:import_preview"), {"file": files})

    assert response.status_code == 400
    page = response.content.decode()
    assert "The upload held more than 100 files" in page and "put the records in one JSON or JSONL file" in page
    assert not ImportRecord.objects.exists()


def test_the_limit_is_the_configured_one(developer_client, session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = developer_client.post(save_url(session), {"code": "z" * 20_000, "version": 1}, **JSON)

    assert response.status_code == 400
    assert "takes at most 9.8\xa0KB of form data" in response.json()["message"]


# --- caps on a step's texts ----------------------------------------------------------------------------------


def step_url(session) -> str:
    return reverse("workspace:fix_step_create", args=[session.pk])


@pytest.mark.parametrize("htmx", [False, True])
def test_a_huge_fix_description_is_refused_with_the_form_and_a_message(developer_client, session, htmx):
    description = "d" * 4_900_000  # a 4.9 MB description was once accepted

    response = developer_client.post(step_url(session), {"fix_info": description}, **(HX if htmx else {}))

    assert response.status_code == 400
    page = response.content.decode()
    assert "The fix description is too long: 4900000 characters, at most 10000" in page
    assert "maxlength" not in page  # a browser would silently cut a longer paste at a maxlength
    assert not FixStep.objects.exists()


def test_a_huge_error_message_is_refused_with_the_form_and_a_message(developer_client, session):
    response = developer_client.post(step_url(session), {"fix_info": "ok", "error": "E" * 20_001}, **HX)

    assert response.status_code == 400
    assert "The error message is too long: 20001 characters, at most 20000" in response.content.decode()
    assert not FixStep.objects.exists()


def test_step_texts_at_their_caps_are_recorded(developer_client, session):
    fields = {"fix_info": "d" * fixlog.MAX_FIX_INFO_CHARS, "error": "E" * fixlog.MAX_ERROR_CHARS}

    response = developer_client.post(step_url(session), fields, **HX)

    assert response.status_code == 200
    step = FixStep.objects.get()
    assert (len(step.fix_info), len(step.error)) == (fixlog.MAX_FIX_INFO_CHARS, fixlog.MAX_ERROR_CHARS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fix_info": "d" * 10_001}, "The fix description is too long: 10,001 characters, at most 10,000"),
        ({"fix_info": "ok", "error": "E" * 20_001}, "The error message is too long: 20,001 characters, at most 20,000"),
    ],
)
def test_the_fix_log_refuses_step_texts_over_their_caps(session, developer, fields, message):
    with pytest.raises(fixlog.WorkspaceError, match=message):
        fixlog.record_step(session, developer, **fields)
    assert not FixStep.objects.exists()


# --- a NUL character (%00): PostgreSQL text cannot hold it, so it must be refused before any lookup -------------


@pytest.mark.parametrize(
    "url",
    [
        "/samples/?q=%00",
        "/admin/evaluate/comparison/?judge_model=%00",
        "/drafting/systems/weak-llm/preview/?sample=a%00b",
    ],
)
def test_a_nul_in_the_address_is_a_400_that_says_so_on_every_database(admin_client_role, url):
    response = admin_client_role.get(url)

    assert response.status_code == 400
    assert "NUL character (%00)" in response.content.decode()


def test_a_nul_in_the_address_gets_json_for_htmx(admin_client_role):
    response = admin_client_role.get("/samples/?q=a%00", **HX)

    assert response.status_code == 400 and response.json()["error"] == "nul-in-query"


def test_a_vote_reason_with_a_nul_is_refused_and_records_nothing(reviewer_client):
    from evaluate.models import Comparison
    from tests.annotate.factories import SampleFactory

    sample = SampleFactory()
    TranslationFactory(sample=sample), TranslationFactory(sample=sample)
    html = reviewer_client.get(reverse("evaluate:review_compare")).content.decode()
    token = html.split('name="pair" value="')[1].split('"')[0]

    response = reviewer_client.post(
        reverse("evaluate:comparison_vote"), {"pair": token, "verdict": "tie", "reason": "same\x00"}
    )

    assert "without NUL characters" in response.content.decode() and not Comparison.objects.exists()


@pytest.mark.parametrize(
    "name, fields",
    [
        ("evaluate:metrics_compute", {"metrics": "codebleu", "model": "m\x00"}),
        ("evaluate:llm_compare_start", {"system_a": "a", "system_b": "b", "model": "m\x00"}),
        ("evaluate:fixcost_estimate_start", {"system": "a\x00"}),
    ],
)
def test_a_job_form_with_a_nul_says_so_and_starts_nothing(admin_client_role, name, fields):
    from annotate.models import Job
    from tests.annotate.factories import SystemFactory

    SystemFactory(name="a"), SystemFactory(name="b")
    response = admin_client_role.post(reverse(name), fields, follow=True)

    assert "no NUL character" in response.content.decode() and not Job.objects.exists()
