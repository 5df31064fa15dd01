"""Admin pages for the dataset: upload, preview, confirm, download; roles, CSRF, size cap, bad files."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate.dataset import import_dataset
from annotate.models import FixSession, ImportRecord, ImportStatus, Sample, SessionStatus
from tests.annotate.factories import FixSessionFactory, SampleFactory, TranslationFactory
from tests.paper import PAPER_DATASET, needs_paper_data

SMALL = json.dumps(
    {"Pytorch_to_JAX_Examples": [{"Example_id": "e1", "Input_Code": "import torch", "LLM_weak_output": "draft",
                                  "LLM_fix_output": "fixed", "Errors": [{"Error_Code": "a", "Error": "b",
                                                                         "Fix_info": "c", "Fixed_Code": "d"}]}]},
    indent=4,
).encode()  # fmt: skip

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def upload(client, data: bytes = SMALL, name: str = "data.json", **fields):
    file = SimpleUploadedFile(name, data, content_type="application/json")
    return client.post(reverse("dataset:import_preview"), {"file": file, "format": "auto", **fields})


def confirm(client, response):
    return client.post(reverse("dataset:import_confirm"), {"token": response.context["token"]})


# --- access ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dataset:home", "dataset:export_download"])
def test_developers_and_reviewers_are_refused(developer_client, reviewer, name):
    assert developer_client.get(reverse(name), {"format": "t2j"}).status_code == 403
    developer_client.force_login(reviewer)
    assert developer_client.get(reverse(name), {"format": "t2j"}).status_code == 403


def test_non_admin_cannot_import(developer_client):
    assert upload(developer_client).status_code == 403
    assert Sample.objects.count() == 0


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(reverse("dataset:home"))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_admin_sees_upload_and_download_forms(admin_client_role):
    response = admin_client_role.get(reverse("dataset:home"))

    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b"Download T2J JSON" in response.content


def test_upload_without_csrf_token_is_refused(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    assert upload(client).status_code == 403


# --- import flow -----------------------------------------------------------------------------------------


@needs_paper_data
def test_preview_shows_counts_and_writes_nothing_until_confirmed(admin_client_role):
    response = upload(admin_client_role, PAPER_DATASET.read_bytes(), "fix_bugs_dataset.json")

    assert response.status_code == 200
    assert response.context["counts"]["samples"]["new"] == 20
    assert response.context["counts"]["steps"]["new"] == 276
    assert b"Confirm import" in response.content
    assert Sample.objects.count() == 0

    done = confirm(admin_client_role, response)

    assert done.status_code == 302 and done["Location"] == reverse("dataset:home")
    assert Sample.objects.count() == 20
    assert FixSession.objects.filter(status=SessionStatus.VERIFIED).count() == 20


def test_confirmed_upload_is_staged_privately_and_removed(admin_client_role, settings):
    response = upload(admin_client_role)
    staged = list((settings.DATA_DIR / "import-staging").iterdir())
    assert len(staged) == 1 and staged[0].stat().st_mode & 0o077 == 0

    confirm(admin_client_role, response)

    assert list((settings.DATA_DIR / "import-staging").iterdir()) == []
    assert confirm(admin_client_role, response).status_code == 400  # a second confirm finds nothing waiting


def test_confirm_with_a_forged_token_imports_nothing(admin_client_role):
    upload(admin_client_role)

    response = admin_client_role.post(reverse("dataset:import_confirm"), {"token": "0" * 32})

    assert response.status_code == 400
    assert Sample.objects.count() == 0


def test_conflicts_are_listed_and_cannot_be_confirmed_without_replace(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role))
    changed = SMALL.replace(b'"fixed"', b'"fixed again"')

    response = upload(admin_client_role, changed)

    assert response.context["counts"]["sessions"]["conflicting"] == 1
    assert "LLM_fix_output differs from the verified code" in response.content.decode()
    assert b"Confirm import" not in response.content

    replacing = upload(admin_client_role, changed, replace="on")
    assert b"Confirm import" in replacing.content
    confirm(admin_client_role, replacing)
    assert FixSession.objects.get(status=SessionStatus.VERIFIED).current_code == "fixed again"


def test_unchanged_file_offers_nothing_to_confirm(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role))

    response = upload(admin_client_role)

    assert b"would change nothing" in response.content
    assert b"Confirm import" not in response.content


def test_bad_file_shows_the_problem_with_its_place(admin_client_role):
    bad = SMALL.replace(b'"Fix_info": "c",', b"")

    response = upload(admin_client_role, bad)

    assert response.status_code == 400
    assert "Pytorch_to_JAX_Examples[0].Errors[0].Fix_info is missing" in response.content.decode()
    assert not (settings.DATA_DIR / "import-staging").exists() or not any(
        (settings.DATA_DIR / "import-staging").iterdir()
    )


def test_upload_over_the_size_cap_is_refused(admin_client_role, settings):
    settings.T2J_IMPORT_MAX_BYTES = 100

    response = upload(admin_client_role)

    assert response.status_code == 400
    assert "over the import limit of 100 bytes" in response.content.decode()


def test_dataset_values_are_escaped_in_the_preview(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role))
    hostile = SMALL.replace(b'"Example_id": "e1"', b'"Example_id": "e1"').replace(
        b'"draft"', b'"<img src=x onerror=alert(1)>"'
    )

    response = upload(admin_client_role, hostile, name="<script>x</script>.json")

    assert b"<img src=x" not in response.content and b"<script>x" not in response.content


# --- downloads -------------------------------------------------------------------------------------------


@needs_paper_data
def test_t2j_download_is_the_papers_bytes(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role, PAPER_DATASET.read_bytes()))

    response = admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="fix_bugs_dataset.json"'
    assert response.streaming  # sent in blocks from a temporary file, never held whole in memory
    assert response.getvalue() == PAPER_DATASET.read_bytes()


def test_jsonl_download(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role))

    response = admin_client_role.get(reverse("dataset:export_download"), {"format": "jsonl", "system": "weak-llm"})

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="weak-llm-fix_sessions.jsonl"'
    assert json.loads(response.getvalue())["sample"] == "e1"


def test_download_needing_a_system_explains_why(admin_client_role):
    sample = SampleFactory(key="s1")
    for name in ("sys-a", "sys-b"):
        FixSessionFactory(translation=TranslationFactory(sample=sample, system__name=name), status="verified")

    response = admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j"})

    assert response.status_code == 400
    assert "choose one system (--system)" in response.content.decode()


def test_download_with_unknown_format_is_refused(admin_client_role):
    assert admin_client_role.get(reverse("dataset:export_download"), {"format": "xml"}).status_code == 400


# --- the import audit trail (RELIABILITY.md case 32) --------------------------------------------------------


def test_a_confirmed_import_is_audited_with_its_admin_and_listed(admin_client_role, admin_user):
    confirm(admin_client_role, upload(admin_client_role))

    record = ImportRecord.objects.get()
    assert (record.status, record.actor, record.source) == (ImportStatus.OK, admin_user, "data.json")
    page = admin_client_role.get(reverse("dataset:home")).content.decode()
    assert "data.json" in page and "imported" in page and "samples: 1 new" in page


def test_a_confirm_that_now_conflicts_is_refused_audited_and_listed_as_import_failed(admin_client_role, admin_user):
    response = upload(admin_client_role)
    # Between the preview and the confirm, someone imports a different e1.
    import_dataset(SMALL.replace(b'"import torch"', b'"import torch as t"'), name="other.json")

    refused = confirm(admin_client_role, response)

    assert refused.status_code == 409
    failed = ImportRecord.objects.get(status=ImportStatus.FAILED)
    assert failed.actor == admin_user and "sample 'e1': Input_Code differs" in failed.errors
    assert Sample.objects.get().pytorch_code == "import torch as t"
    page = admin_client_role.get(reverse("dataset:home")).content.decode()
    assert "import failed" in page and "sample &#x27;e1&#x27;: Input_Code differs" in page
