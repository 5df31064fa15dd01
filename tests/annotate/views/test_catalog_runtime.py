"""The catalog's pages for real programs: a sample's data files and run settings, a run's plots, what the
sandbox has, a system's batch runs; and the workspace showing stand-ins, plots and limits."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from annotate import fixlog, runs, sample_files, sandbox
from annotate.models import Job, Run, RunPlot, Sample, SampleFile
from tests.annotate.factories import RunFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.fix_sessions import DRAFT

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def _stored_run(session, **result_fields) -> Run:
    """A run stored by annotate.runs from a result as the sandbox reports it."""
    result = sandbox.RunResult(status="ok", isolation="full", **result_fields)
    return runs.store(result, DRAFT, "jax", "dev", user=session.owner, session=session)


@pytest.fixture
def session(developer):
    return fixlog.claim(TranslationFactory(code=DRAFT), developer)


# --- sample files and run settings ---


def test_an_admin_attaches_a_file_and_everyone_who_may_see_the_sample_sees_it(admin_client_role, developer):
    sample = SampleFactory(key="e2")
    upload = SimpleUploadedFile("train.csv", b"x,y\n1,2\n", content_type="text/csv")

    response = admin_client_role.post(
        reverse("annotate:sample_file_create", args=["e2"]), {"file": upload, "name": "data/train.csv"}
    )

    assert response.status_code == 302
    assert sample_files.contents(sample) == {"data/train.csv": b"x,y\n1,2\n"}
    developer_client = Client()
    developer_client.force_login(developer)
    page = developer_client.get(reverse("annotate:sample_detail", args=["e2"])).content.decode()
    assert "data/train.csv" in page and 'id="sample-file-form"' not in page  # only admins attach
    download = developer_client.get(reverse("annotate:sample_file_download", args=["e2", SampleFile.objects.get().pk]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="train.csv"'
    assert download.content == b"x,y\n1,2\n"


def test_a_bad_file_name_is_a_400_with_the_reason_and_nothing_is_stored(admin_client_role):
    SampleFactory(key="e2")
    upload = SimpleUploadedFile("x.csv", b"1")

    response = admin_client_role.post(
        reverse("annotate:sample_file_create", args=["e2"]), {"file": upload, "name": "../../etc/x"}
    )

    assert response.status_code == 400
    assert "must not contain &#x27;..&#x27;" in response.content.decode()
    assert not SampleFile.objects.exists()


def test_an_admin_removes_a_file(admin_client_role):
    sample = SampleFactory(key="e2")
    attached = sample_files.attach(sample, "a.csv", b"1")

    admin_client_role.post(reverse("annotate:sample_file_delete", args=["e2", attached.pk]))

    assert not SampleFile.objects.exists()


def test_an_admin_raises_a_samples_time_limits_up_to_the_maxima_and_the_page_says_so(admin_client_role, settings):
    settings.T2J_RUN_MAX_WALL_S = 180.0
    SampleFactory(key="m4")
    path = reverse("annotate:sample_settings_update", args=["m4"])

    refused = admin_client_role.post(path, {"wall_limit_s": "500", "cpu_limit_s": "100"})
    assert refused.status_code == 400 and "less than or equal to 180" in refused.content.decode()
    assert Sample.objects.get().wall_limit_s is None

    admin_client_role.post(path, {"wall_limit_s": "170", "cpu_limit_s": "300", "standin_train_examples": "1000"})

    sample = Sample.objects.get()
    assert (sample.wall_limit_s, sample.cpu_limit_s, sample.standin_train_examples) == (170.0, 300, 1000)
    page = admin_client_role.get(sample.get_absolute_url()).content.decode()
    assert "170 s of wall-clock time and 300 s of CPU time (raised for this sample" in page


# --- plots ---


def test_the_owner_sees_a_runs_plots_and_another_developer_does_not(developer_client, client, session, other_developer):
    run = _stored_run(
        session, plots=[{"name": "001-show.png", "source": "show", "png": base64.b64encode(_png()).decode()}]
    )
    plot_url = reverse("annotate:run_plot", args=[run.pk, 1])

    response = developer_client.get(plot_url)

    assert response["Content-Type"] == "image/png" and response.content == _png()
    assert response["Content-Disposition"].startswith("inline;")
    client.force_login(other_developer)
    assert client.get(plot_url).status_code == 404


def test_a_plot_that_is_not_a_png_is_not_stored(session):
    run = _stored_run(session, plots=[{"source": "show", "png": base64.b64encode(b"<svg onload=alert(1)>").decode()}])
    assert not RunPlot.objects.filter(run=run).exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_the_workspace_says_a_run_used_stand_ins_shows_its_plots_and_its_limits(developer_client, session, htmx):
    run = _stored_run(
        session,
        standins=[
            {"what": "torchvision.datasets.MNIST", "message": "torchvision MNIST: 256 train / 64 test synthetic images"}
        ],
        plots=[{"name": "001-show.png", "source": "show", "png": base64.b64encode(_png()).decode()}],
        limits={"wall_s": 120.0, "cpu_s": 240},
    )

    page = developer_client.get(
        reverse("workspace:session_detail", args=[session.pk]), **(HX if htmx else {})
    ).content.decode()

    assert "This run used stand-ins" in page and "torchvision MNIST: 256 train / 64 test synthetic images" in page
    assert f'src="{reverse("annotate:run_plot", args=[run.pk, 1])}"' in page
    assert "ran under 120 s wall, 240 s CPU" in page


def test_text_no_page_can_hold_is_replaced_before_storing_and_the_workspace_shows_the_run(developer_client, session):
    run = _stored_run(
        session,
        stdout="out\x00put",
        exception_type="ValueError",
        exception_message="bad value \ud800 in input",
        traceback=[{"file": "helper_\udcff.py", "line": 2, "function": "<module>"}],
    )

    stored = Run.objects.get(pk=run.pk)
    assert stored.exception_message == "bad value \ufffd in input" and stored.stdout == "out\ufffdput"
    assert stored.traceback[0]["file"] == "helper_\ufffd.py"
    response = developer_client.get(reverse("workspace:session_detail", args=[session.pk]))
    assert response.status_code == 200 and "bad value \ufffd in input" in response.content.decode()


def test_a_contract_verdict_with_unstorable_text_is_stored_cleaned(session):
    run = _stored_run(session)
    stages = [{"name": "spec", "status": "failed", "mismatch": {"check": "x\ud800", "message": "m\x00"}}]

    runs.record_verdict(run.pk, verdict="failed", stages=stages, code="print(1)", contract_version=1)

    assert Run.objects.get(pk=run.pk).stages[0]["mismatch"] == {"check": "x\ufffd", "message": "m\ufffd"}


# --- what the sandbox has ---


def test_the_sandbox_page_lists_the_runtimes_packages_with_versions(reviewer_client, settings, tmp_path):
    settings.T2J_SANDBOX_VENV = str(tmp_path)
    index = {
        "python": "3.11.2",
        "packages": [{"name": "torch", "version": "2.14.1", "modules": ["torch", "functorch"]}],
        "distributions": {"torch": {"version": "2.14.1"}, "sympy": {"version": "1.14.0"}},
    }
    (tmp_path / "t2j-module-index.json").write_text(json.dumps(index))

    page = reviewer_client.get(reverse("annotate:sandbox_contents")).content.decode()

    assert "<td>torch</td><td>2.14.1</td><td>torch, functorch</td>" in page
    assert "sympy 1.14.0" in page and "Python 3.11.2" in page


def test_the_sandbox_page_says_when_the_runtime_is_not_built(developer_client, settings, tmp_path):
    settings.T2J_SANDBOX_VENV = str(tmp_path / "missing")
    page = developer_client.get(reverse("annotate:sandbox_contents")).content.decode()
    assert "does not exist: run scripts/setup_sandbox.sh" in page


# --- batch runs on the system page ---


def test_the_system_page_counts_batch_runs_by_status_with_the_common_exceptions(admin_client_role):
    system = SystemFactory(name="weak")
    for _ in range(2):
        RunFactory(
            translation=TranslationFactory(system=system), kind="jax", status="error",
            exception_type="ModuleNotFoundError", exception_message="jaxopt is not installed in the sandbox",
        )  # fmt: skip

    page = admin_client_role.get(system.get_absolute_url()).content.decode()

    assert "latest run of 2" in page and "2 error" in page
    assert "ModuleNotFoundError: jaxopt is not installed in the sandbox" in page


def test_starting_a_batch_run_needs_a_known_kind(admin_client_role):
    SystemFactory(name="weak")
    response = admin_client_role.post(reverse("annotate:system_runs_start", args=["weak"]), {"kind": "rust"})
    assert response.status_code == 400 and not Job.objects.exists()


def test_a_batch_run_is_a_job_on_the_system_page(admin_client_role, django_capture_on_commit_callbacks):
    SystemFactory(name="weak")  # no translations: the job runs nothing and ends

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(
            reverse("annotate:system_runs_start", args=["weak"]), {"kind": "pytorch"}, **HX
        )

    job = Job.objects.get()
    assert response["HX-Redirect"] == reverse("annotate:system_detail", args=["weak"])
    assert (job.kind, job.status, job.params, job.message) == (
        "batch-run",
        "done",
        {"run_kind": "pytorch"},
        "0 run(s) stored: nothing to run.",
    )
