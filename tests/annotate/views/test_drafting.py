from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import DraftStatus, Job, JobStatus, System, SystemMode
from tests.annotate import llm_fakes
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, answer

pytestmark = pytest.mark.django_db
llm_endpoint = llm_fakes.llm_endpoint
no_llm_endpoint = llm_fakes.no_llm_endpoint


def url(name: str, *args) -> str:
    return reverse(f"drafting:{name}", args=args)


@pytest.mark.parametrize(
    ("name", "args"),
    [("system_list", ()), ("system_create", ()), ("system_detail", ("std",)), ("prompt_preview", ("std",))],
)
def test_developers_and_reviewers_get_403(developer_client, reviewer, name, args):
    SystemFactory(name="std")

    assert developer_client.get(url(name, *args)).status_code == 403
    developer_client.force_login(reviewer)
    assert developer_client.get(url(name, *args)).status_code == 403


def test_developers_cannot_start_drafting(developer_client, llm_endpoint):
    SystemFactory(name="std")
    SampleFactory()

    assert developer_client.post(url("draft_start", "std")).status_code == 403
    assert not Job.objects.exists()


def test_the_list_shows_llm_systems_with_token_totals(admin_client_role, llm_endpoint):
    system = SystemFactory(name="std")
    SystemFactory(name="people", mode=SystemMode.HUMAN)
    TranslationFactory(system=system, prompt_tokens=1234, completion_tokens=567)

    page = admin_client_role.get(url("system_list")).content.decode()

    assert "std" in page and "1234" in page and "567" in page
    assert "people" not in page
    assert "not configured" not in page


def test_an_admin_defines_a_system(admin_client_role):
    response = admin_client_role.post(
        url("system_create"),
        {"name": "gpt-t2j", "mode": "t2j", "model": "tiny", "temperature": "0.2", "token_budget": "8000"},
    )

    system = System.objects.get(name="gpt-t2j")
    assert response.url == url("system_detail", "gpt-t2j")
    assert (system.mode, system.model, system.temperature, system.token_budget) == ("t2j", "tiny", 0.2, 8000)


@pytest.mark.parametrize(
    ("field", "value"), [("mode", "human"), ("temperature", "5"), ("token_budget", "10"), ("name", "no spaces")]
)
def test_bad_system_definitions_are_refused(admin_client_role, field, value):
    data = {"name": "ok-name", "mode": "standard", "model": "", "temperature": "0", "token_budget": ""}
    data[field] = value

    response = admin_client_role.post(url("system_create"), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not System.objects.exists()


def test_without_an_endpoint_the_page_says_how_to_configure_one(admin_client_role, no_llm_endpoint):
    SystemFactory(name="std")

    page = admin_client_role.get(url("system_detail", "std")).content.decode()

    assert "LLM drafting is not configured" in page
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        assert name in page
    assert "Draft all samples" not in page


def test_starting_is_refused_with_a_message_without_an_endpoint(admin_client_role, no_llm_endpoint):
    SystemFactory(name="std")
    SampleFactory()

    response = admin_client_role.post(url("draft_start", "std"), follow=True)

    assert "OPENAI_BASE_URL" in response.content.decode()
    assert not Job.objects.exists()


def test_human_systems_have_no_drafting_page(admin_client_role):
    SystemFactory(name="people", mode=SystemMode.HUMAN)

    assert admin_client_role.get(url("system_detail", "people")).status_code == 404
    assert admin_client_role.post(url("draft_start", "people")).status_code == 404


def test_draft_all_runs_the_job_and_shows_progress(admin_client_role, llm_endpoint, django_capture_on_commit_callbacks):
    SystemFactory(name="std")
    SampleFactory(key="e1"), SampleFactory(key="e2")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(url("draft_start", "std"))

    assert response.status_code == 302 and response.url == url("system_detail", "std")
    job = Job.objects.get()
    assert (job.status, job.done, job.total) == (JobStatus.DONE, 2, 2)
    page = admin_client_role.get(url("system_detail", "std")).content.decode()
    assert f'id="job-{job.pk}"' in page and "2 of 2 done" in page
    assert "Drafting 2 samples in the background" in page


def test_draft_all_over_htmx_redirects_the_client(admin_client_role, llm_endpoint, django_capture_on_commit_callbacks):
    SystemFactory(name="std")
    SampleFactory()
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(url("draft_start", "std"), HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == url("system_detail", "std")


def test_the_progress_partial_polls_while_the_job_runs(admin_client_role):
    job = Job.objects.create(kind="draft", system=SystemFactory(name="std"), status=JobStatus.RUNNING, total=4, done=1)

    page = admin_client_role.get(url("system_detail", "std")).content.decode()
    fragment = admin_client_role.get(reverse("annotate:job_progress_hx", args=[job.pk]), HTTP_HX_REQUEST="true")

    assert 'hx-trigger="every 1s"' in page
    assert "1 of 4 done" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_retry_failed_redrafts_only_failed_ones(admin_client_role, llm_endpoint, django_capture_on_commit_callbacks):
    system = SystemFactory(name="std")
    failed = TranslationFactory(system=system, sample=SampleFactory(key="e1"), draft_status=DraftStatus.FAILED)
    SampleFactory(key="e2")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())
    assert "Retry the 1 failed drafts" in admin_client_role.get(url("system_detail", "std")).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(url("draft_retry", "std"))

    failed.refresh_from_db()
    assert failed.draft_status == DraftStatus.OK
    assert system.translations.count() == 1


def test_a_second_start_while_one_runs_is_refused_with_a_message(admin_client_role, llm_endpoint):
    system = SystemFactory(name="std")
    SampleFactory()
    Job.objects.create(kind="draft", system=system, status=JobStatus.RUNNING)

    response = admin_client_role.post(url("draft_start", "std"), follow=True)

    assert "already running" in response.content.decode()
    assert Job.objects.count() == 1


def test_the_preview_shows_the_exact_prompt_its_size_and_the_steps(admin_client_role):
    SystemFactory(name="t2j", mode=SystemMode.T2J, token_budget=9000)
    drafted = SampleFactory(key="e1", pytorch_code="import torch\nprint('<b>hi</b>')\n")
    steps = llm_fakes.verified_steps(SampleFactory(key="o1"), 2)
    own = llm_fakes.verified_steps(drafted, 1)

    response = admin_client_role.get(url("prompt_preview", "t2j"), {"sample": "e1"})

    page = response.content.decode()
    prompt = response.context["prompt"]
    assert f"About {prompt.estimated_tokens} tokens of a 9000-token budget" in page
    assert "2 of 2 shared fix steps" in page
    assert all(f'id="step-{step.pk}"' in page for step in steps)
    assert f'id="step-{own[0].pk}"' not in page
    assert "print(&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;)" in page  # the prompt is shown escaped, never as HTML
    assert "Pytorch_to_JAX_Examples" in page


def test_the_preview_of_an_unknown_sample_says_so_with_the_field_to_correct_it(admin_client_role):
    SystemFactory(name="std")
    SampleFactory(key="cnn", title="Small CNN on 8x8 images")

    response = admin_client_role.get(url("prompt_preview", "std"), {"sample": "cnnx<b>"})

    page = response.content.decode()
    assert response.status_code == 404
    assert "There is no sample &#x27;cnnx&lt;b&gt;&#x27;" in page and 'value="cnnx&lt;b&gt;"' in page
    assert '<option value="cnn">Small CNN on 8x8 images</option>' in page


def test_the_preview_takes_a_key_in_any_case_or_a_samples_title(admin_client_role):
    SystemFactory(name="std")
    SampleFactory(key="cnn", title="Small CNN on 8x8 images")

    for typed in ("CNN", "Small CNN on 8x8 images"):
        response = admin_client_role.get(url("prompt_preview", "std"), {"sample": typed})
        assert response.status_code == 200 and "Prompt of" in response.content.decode()
        assert response.context["sample"].key == "cnn"


def test_the_preview_reports_a_prompt_over_budget(admin_client_role):
    SystemFactory(name="std", token_budget=600)
    SampleFactory(key="big", pytorch_code="x = 1\n" * 3000)

    page = admin_client_role.get(url("prompt_preview", "std"), {"sample": "big"}).content.decode()

    assert "even without fix steps" in page


def test_the_sample_suggestions_list_every_key_escaped(admin_client_role):
    SystemFactory(name="std")
    SampleFactory(key="plain", title="", import_position=0)
    SampleFactory(key='odd"><script>alert(1)</script>', title="", import_position=1)

    page = admin_client_role.get(url("prompt_preview", "std"), {"sample": "plain"}).content.decode()

    assert '<option value="plain"><option value="odd&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">' in page
    assert "<script>alert(1)" not in page


def test_the_system_page_suggests_every_sample_key_with_its_title_escaped(admin_client_role):
    SystemFactory(name="std")
    SampleFactory(key="plain", title="", import_position=0)
    SampleFactory(key="odd", title="<b>bold</b> & co", import_position=1)

    page = admin_client_role.get(url("system_detail", "std")).content.decode()

    assert '<option value="plain"><option value="odd">&lt;b&gt;bold&lt;/b&gt; &amp; co</option>' in page
    assert "<b>bold" not in page
