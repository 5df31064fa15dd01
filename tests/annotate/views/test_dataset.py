"""Admin pages for the dataset: upload, preview, confirm, download; roles, CSRF, size cap, bad files."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate.dataset import import_dataset
from annotate.models import FixSession, ImportRecord, ImportStatus, Sample, SessionStatus, System
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.paper import PAPER_DATASET, needs_paper_data

ZIP = "application/zip"
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


def test_t2j_of_all_systems_is_a_zip_with_one_file_per_system(admin_client_role):
    sample = SampleFactory(key="s1")
    for name in ("sys-a", "sys-b"):
        FixSessionFactory(translation=TranslationFactory(sample=sample, system__name=name), status="verified")

    response = admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j", "system": ""})

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="fix_bugs_dataset-by-system.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.getvalue()))
    assert archive.namelist() == ["sys-a-fix_bugs_dataset.json", "sys-b-fix_bugs_dataset.json"]
    for name in ("sys-a", "sys-b"):
        one = admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j", "system": name}).getvalue()
        assert archive.read(f"{name}-fix_bugs_dataset.json") == one
        assert [e["Example_id"] for e in json.loads(one)["Pytorch_to_JAX_Examples"]] == ["s1"]


def test_the_export_page_never_shows_command_line_wording(admin_client_role):
    sample = SampleFactory(key="s1")
    for name in ("sys-a", "sys-b"):
        FixSessionFactory(translation=TranslationFactory(sample=sample, system__name=name), status="verified")
    page = admin_client_role.get(reverse("dataset:home")).content.decode()
    assert '<option value="">all systems</option>' in page and '<option value="sys-b">sys-b</option>' in page
    assert admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j"})["Content-Type"] == ZIP
    for query in ({"format": "t2j", "system": "ghost"}, {"format": "x"}):
        assert "--" not in admin_client_role.get(reverse("dataset:export_download"), query).content.decode()


def test_an_unknown_export_system_is_an_error(admin_client_role):
    response = admin_client_role.get(reverse("dataset:export_download"), {"format": "t2j", "system": "ghost"})
    assert response.status_code == 400 and "there is no system named &#x27;ghost&#x27;" in response.content.decode()


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


# --- what the import form says about the file (issue 18) -----------------------------------------------------

TITLED = json.dumps(
    {"Pytorch_to_JAX_Examples": [
        {"Example_id": key, "Input_Code": f"import torch\n# {title}\nx = 1\n", "LLM_weak_output": "draft",
         "LLM_fix_output": "fixed", "Errors": []}
        for key, title in (("e1", "Linear regression"), ("h10", "A pre-trained ResNet"), ("q1", "Other"))
    ]},
    indent=4,
).encode()  # fmt: skip


def test_imported_samples_get_a_title_origin_and_difficulty(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role, TITLED, origin="TorchLeet", model="gpt-4o-mini"))

    samples = {s.key: (s.title, s.origin, s.difficulty) for s in Sample.objects.all()}
    assert samples == {
        "e1": ("Linear regression", "TorchLeet", "easy"),
        "h10": ("A pre-trained ResNet", "TorchLeet", "hard"),
        "q1": ("Other", "TorchLeet", ""),  # not a TorchLeet-style key: no difficulty guessed
    }
    assert System.objects.get(name="weak-llm").model == "gpt-4o-mini"


def test_a_difficulty_chosen_on_the_form_wins_over_the_key(admin_client_role):
    confirm(admin_client_role, upload(admin_client_role, TITLED, difficulty="medium"))
    assert set(Sample.objects.values_list("difficulty", flat=True)) == {"medium"}


def test_an_import_into_a_system_of_another_model_asks_first(admin_client_role):
    SystemFactory(name="weak-llm", model="llama-3-8b")
    preview = upload(admin_client_role, TITLED, model="gpt-4o-mini")
    html = preview.content.decode()
    assert "system &#x27;weak-llm&#x27; exists with model &#x27;llama-3-8b&#x27;, not &#x27;gpt-4o-mini&#x27;" in html
    assert 'name="model_ok" value="1" required' in html

    refused = confirm(admin_client_role, preview)
    assert refused.status_code == 409 and "confirm the model to import anyway" in refused.content.decode()
    assert not Sample.objects.exists()

    preview = upload(admin_client_role, TITLED, model="gpt-4o-mini")
    admin_client_role.post(reverse("dataset:import_confirm"), {"token": preview.context["token"], "model_ok": "1"})
    assert Sample.objects.count() == 3
    assert System.objects.get(name="weak-llm").model == "llama-3-8b"  # the system keeps its model


def test_the_same_model_or_none_named_asks_nothing(admin_client_role):
    SystemFactory(name="weak-llm", model="gpt-4o-mini")
    for model in ("gpt-4o-mini", ""):
        assert "model-differences" not in upload(admin_client_role, TITLED, model=model).content.decode()


def test_the_import_offers_the_existing_systems_by_name(admin_client_role):
    SystemFactory(name="gpt-weak")
    html = admin_client_role.get(reverse("dataset:home")).content.decode()
    assert 'list="known-systems"' in html and '<option value="gpt-weak">' in html
