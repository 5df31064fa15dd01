"""The contract editor: admins list, edit (Monaco textarea) and try samples' contracts; nobody else may."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.demo import DEMO_DIR
from annotate.models import Job, Run, Sample, SessionEvent, SessionStatus
from tests.annotate import llm_fakes
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, answer, chat_requests, prompt_text

pytest_plugins = ["tests.annotate.sandbox_fixtures"]
llm_endpoint = llm_fakes.llm_endpoint
no_llm_endpoint = llm_fakes.no_llm_endpoint
pytestmark = pytest.mark.django_db

OLD = "def spec(torch_program, jax_program):\n    pass\n"
NEW = "def spec(torch_program, jax_program):\n    assert torch_program\n"


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    """Run the jobs a request queues (tasks run inline in tests, once the request's transaction commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def sample():
    return SampleFactory(key="linreg", contract=OLD, contract_version=1)


def test_the_list_shows_each_sample_with_its_contract_version_and_stale_sessions(admin_client_role, sample):
    SampleFactory(key="nocontract", contract="")
    FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, contract_version=1, is_stale=True
    )

    response = admin_client_role.get(reverse("contracts:contract_list"))

    assert response.status_code == 200
    rows = {s.key: s for s in response.context["samples"]}
    assert rows["linreg"].stale == 1 and rows["nocontract"].stale == 0
    assert (
        b"version 1" in response.content
        and reverse("contracts:contract_edit", args=["linreg"]).encode() in response.content
    )


def test_the_edit_page_puts_the_contract_in_an_editable_monaco_textarea(admin_client_role, sample):
    response = admin_client_role.get(reverse("contracts:contract_edit", args=[sample.key]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-monaco="python"' in html and "<textarea" in html
    assert 'name="based_on" value="1"' in html
    assert "def spec(torch_program, jax_program):" in html


def test_saving_bumps_the_version_and_marks_sessions_stale(admin_client_role, admin_user, sample):
    verified = FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, contract_version=1
    )

    response = admin_client_role.post(
        reverse("contracts:contract_edit", args=[sample.key]), {"contract": NEW, "based_on": "1"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("contracts:contract_edit", args=[sample.key])
    sample.refresh_from_db()
    assert sample.contract == NEW and sample.contract_version == 2
    verified.refresh_from_db()
    assert verified.is_stale
    assert SessionEvent.objects.get(session=verified).actor == admin_user
    assert "Contract saved as version 2; 1 verified session(s) marked stale." in response.content.decode()


def test_crlf_from_the_browser_is_stored_as_plain_newlines(admin_client_role, sample):
    admin_client_role.post(
        reverse("contracts:contract_edit", args=[sample.key]), {"contract": NEW.replace("\n", "\r\n"), "based_on": "1"}
    )
    sample.refresh_from_db()
    assert sample.contract == NEW


@pytest.mark.parametrize(
    "data, message",
    [
        ({"contract": "def spec(:\n", "based_on": "1"}, "not valid Python: line 1"),
        ({"contract": NEW, "based_on": "0"}, "changed meanwhile"),
        ({"contract": NEW}, "lacks the version"),
        ({"contract": NEW, "based_on": "9" * 5000}, "lacks the version"),
        ({"contract": "x = 1\x00", "based_on": "1"}, "without NUL"),
    ],
)
def test_bad_edits_are_refused_with_a_message_and_change_nothing(admin_client_role, sample, data, message):
    response = admin_client_role.post(reverse("contracts:contract_edit", args=[sample.key]), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    sample.refresh_from_db()
    assert sample.contract == OLD and sample.contract_version == 1


def test_the_edited_text_is_kept_when_a_save_is_refused(admin_client_role, sample):
    response = admin_client_role.post(
        reverse("contracts:contract_edit", args=[sample.key]),
        {"contract": "def spec(:\n    <b>x</b>\n", "based_on": "1"},
    )
    html = response.content.decode()
    assert "def spec(:" in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


@pytest.mark.parametrize("client_fixture", ["developer_client", "reviewer_client"])
def test_only_admins_may_see_or_change_contracts(request, client_fixture, sample):
    client = request.getfixturevalue(client_fixture)

    assert client.get(reverse("contracts:contract_list")).status_code == 403
    assert client.get(reverse("contracts:contract_edit", args=[sample.key])).status_code == 403
    posted = client.post(reverse("contracts:contract_edit", args=[sample.key]), {"contract": NEW, "based_on": "1"})
    assert posted.status_code == 403
    assert client.post(reverse("contracts:contract_check", args=[sample.key]), {"translation": "1"}).status_code == 403
    sample.refresh_from_db()
    assert sample.contract_version == 1


def test_an_unknown_sample_is_404(admin_client_role):
    assert admin_client_role.get(reverse("contracts:contract_edit", args=["nope"])).status_code == 404


@pytest.mark.parametrize("htmx", [True, False])
def test_checking_needs_a_translation_of_this_sample(admin_client_role, sample, htmx):
    other = TranslationFactory()  # a translation of another sample
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = admin_client_role.post(
        reverse("contracts:contract_check", args=[sample.key]), {"translation": other.pk}, **headers
    )

    assert response.status_code == 400
    assert "Choose a translation of this sample" in response.content.decode()
    assert (b"<html" in response.content) is not htmx
    assert Run.objects.count() == 0


def _read(name: str) -> str:
    return (DEMO_DIR / "linreg" / name).read_text(encoding="utf-8")


@pytest.mark.sandbox
@pytest.mark.parametrize("htmx", [True, False])
def test_checking_runs_the_saved_contract_and_shows_the_stage_panel(sandbox_settings, admin_client_role, htmx):
    sample = SampleFactory(
        key="linreg", pytorch_code=_read("pytorch.py"), contract=_read("contract.py"), contract_version=1
    )
    buggy = _read("fixed.py").replace("LEARNING_RATE = 0.1", "LEARNING_RATE = 0.01")
    translation = TranslationFactory(sample=sample, system=SystemFactory(name="weak-llm"), code=buggy)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = admin_client_role.post(
        reverse("contracts:contract_check", args=[sample.key]), {"translation": translation.pk}, **headers
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert (("<html" in html) is not htmx) and 'id="contract-stages"' in html
    assert "Contract failed" in html and "weak-llm (draft code)" in html
    assert 'id="stage-spec"' in html and 'class="stage stage-failed" id="stage-behavioral"' in html
    assert "training loss at step 1" in html
    run = Run.objects.get()
    assert run.verdict == "failed" and run.session is None


def test_the_list_comes_a_page_at_a_time(admin_client_role, settings):
    settings.T2J_PAGE_SIZE = 2
    for key in ("a", "b", "c"):
        SampleFactory(key=key)

    response = admin_client_role.get(reverse("contracts:contract_list"), {"page": 2})

    assert [s.key for s in response.context["samples"]] == ["c"]
    assert b"Page 2 of 2 (3 in all)" in response.content


# --- which samples have none, and scaffolds ---------------------------------------------------------------------


def test_the_list_says_which_samples_have_no_contract_and_offers_a_scaffold(admin_client_role, sample):
    SampleFactory(key="e1", contract="")
    SampleFactory(key="tests", contract="def test_forward_pass():\n    assert True\n", contract_version=1)

    response = admin_client_role.get(reverse("contracts:contract_list"))

    html = response.content.decode()
    assert "<strong>1 of 3</strong> samples has no contract" in html
    assert reverse("contracts:contract_scaffold_new", args=["e1"]) in html
    rows = {s.key: s.kind_label for s in response.context["samples"]}
    assert rows == {"linreg": "staged", "e1": "", "tests": "pytest-style"}


def test_a_contract_of_blank_lines_is_none_however_it_was_written(admin_client_role, sample):
    SampleFactory(key="e1", contract=" \n\t\u3000\n")
    Sample.objects.filter(key=sample.key).update(contract="\n\n")  # an update() that no save() sees

    response = admin_client_role.get(reverse("contracts:contract_list"))
    assert response.context["without"] == ["e1", "linreg"]  # in import order, then by key
    assert response.content.decode().count('class="no-contract"') == 2  # the table says "none" for both too
    Sample.objects.filter(key="e1").update(contract="def test_x():\n    assert True\n")
    assert admin_client_role.get(reverse("contracts:contract_list")).context["without"] == ["linreg"]


def test_a_scaffold_fills_the_editor_and_saves_nothing(admin_client_role):
    sample = SampleFactory(key="linreg", pytorch_code=_read("pytorch.py"), contract="")

    response = admin_client_role.get(reverse("contracts:contract_scaffold_new", args=[sample.key]))

    assert response.status_code == 200
    text = response.context["contract_text"]
    assert (
        text.startswith('"""Equivalence contract for linreg: a scaffold')
        and "check_interface(jax_program, INTERFACE)" in text
    )
    html = response.content.decode()
    assert f"finish its {len(response.context['todos'])} TODOs" in html and 'id="scaffold-note"' in html
    assert "expect(&#x27;LinearRegression&#x27;, kind=&#x27;class&#x27;" in html  # escaped into the textarea
    sample.refresh_from_db()
    assert sample.contract == "" and sample.contract_version == 0


def test_a_program_that_does_not_parse_gets_no_scaffold(admin_client_role):
    SampleFactory(key="broken", pytorch_code="def f(:\n", contract="")

    response = admin_client_role.get(reverse("contracts:contract_scaffold_new", args=["broken"]))

    assert response.status_code == 400 and "not valid Python" in response.content.decode()


# --- the LLM's proposals ------------------------------------------------------------------------------------------


def test_asking_the_llm_without_an_endpoint_says_what_to_set(admin_client_role, sample, no_llm_endpoint):
    response = admin_client_role.post(
        reverse("contracts:contract_proposal_create", args=[sample.key]), {"contract": NEW, "based_on": "1"}
    )

    assert response.status_code == 400 and "OPENAI_BASE_URL" in response.content.decode()
    assert response.context["contract_text"] == NEW  # the editor's text is kept
    assert not Job.objects.exists()


def test_a_proposal_without_a_verified_translation_is_offered_unchecked(admin_client_role, llm_endpoint, run_jobs):
    sample = SampleFactory(key="linreg", pytorch_code=_read("pytorch.py"), contract="")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer(_read("contract.py")))

    with run_jobs():
        response = admin_client_role.post(
            reverse("contracts:contract_proposal_create", args=[sample.key]), {"contract": ""}
        )

    job = Job.objects.get(kind="contract-proposal")
    assert response.url == reverse("contracts:contract_edit", args=["linreg"]) + f"?proposal={job.pk}#contract-proposal"
    assert job.status == "done" and job.params["proposal"]["checked"] is False
    assert job.params["proposal"]["text"] == _read("contract.py")
    (sent,) = chat_requests(llm_endpoint)
    prompt = prompt_text(sent)
    assert "class LinearRegression(nn.Module)" in prompt and "check_interface(jax_program, INTERFACE)" in prompt
    assert "people verified" not in prompt  # no verified translation to show

    page = admin_client_role.get(reverse("contracts:contract_edit", args=["linreg"]), {"proposal": job.pk})
    html = page.content.decode()
    assert "<strong>Unchecked</strong>" in html and 'id="load-proposal"' in html
    assert page.context["contract_text"] == ""  # shown beside the editor, not loaded yet
    loaded = admin_client_role.get(reverse("contracts:contract_edit", args=["linreg"]), {"proposal": job.pk, "load": 1})
    assert loaded.context["contract_text"] == _read("contract.py")
    fragment = admin_client_role.get(
        reverse("contracts:contract_edit", args=["linreg"]), {"proposal": job.pk}, HTTP_HX_REQUEST="true"
    )
    assert fragment.content.decode().lstrip().startswith('<section id="contract-proposal"')
    sample.refresh_from_db()
    assert sample.contract == ""


def test_an_answer_that_is_no_contract_fails_the_job_with_the_reason(admin_client_role, llm_endpoint, sample, run_jobs):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer("import jax\nprint(jax.numpy.ones(2))\n"))

    with run_jobs():
        admin_client_role.post(reverse("contracts:contract_proposal_create", args=[sample.key]), {"contract": OLD})

    job = Job.objects.get(kind="contract-proposal")
    assert job.status == "failed" and "neither a staged contract" in job.message and "proposal" not in job.params


@pytest.mark.sandbox
def test_a_proposal_is_run_against_the_verified_translation_before_it_is_offered(
    sandbox_settings, admin_client_role, llm_endpoint, run_jobs
):
    sample = SampleFactory(key="linreg", pytorch_code=_read("pytorch.py"), contract="")
    FixSessionFactory(
        translation=TranslationFactory(sample=sample),
        status=SessionStatus.VERIFIED,
        current_code=_read("fixed.py"),
        verified_at=timezone.now(),
    )
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer(_read("contract.py")))

    with run_jobs():
        admin_client_role.post(reverse("contracts:contract_proposal_create", args=[sample.key]), {"contract": ""})

    proposal = Job.objects.get(kind="contract-proposal").params["proposal"]
    assert proposal["checked"] is True and proposal["verdict"] == "passed", proposal["message"]
    run = Run.objects.get(pk=proposal["run_id"])
    assert run.verdict == "passed" and run.contract_version is None and run.session is None
    assert "A JAX translation of it that people verified" in prompt_text(chat_requests(llm_endpoint)[0])
    sample.refresh_from_db()
    assert sample.contract == ""  # offered, not saved


# --- a system's batch verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_the_system_verification_block_starts_empty(admin_client_role, htmx):
    system = SystemFactory(name="weak-llm")

    response = admin_client_role.get(
        reverse("annotate:system_verification", args=[system.name]), **({"HTTP_HX_REQUEST": "true"} if htmx else {})
    )

    html = response.content.decode()
    assert response.status_code == 200 and ("<html" in html) is not htmx
    assert 'id="verify-system"' in html and "Not verified yet." in html


def test_the_system_page_loads_the_verification_block(admin_client_role):
    system = SystemFactory(name="weak-llm")

    html = admin_client_role.get(reverse("annotate:system_detail", args=[system.name])).content.decode()

    assert f'hx-get="{reverse("annotate:system_verification", args=[system.name])}" hx-trigger="load"' in html


def test_verifying_a_system_without_contracts_lists_its_samples_and_counts_nothing(admin_client_role, run_jobs):
    system = SystemFactory(name="weak-llm")
    TranslationFactory(sample=SampleFactory(key="plain", contract=""), system=system)

    with run_jobs():
        response = admin_client_role.post(reverse("annotate:system_verify", args=[system.name]))

    assert response.url == reverse("annotate:system_detail", args=[system.name]) + "#system-verification"
    job = Job.objects.get(kind="verify")
    assert job.status == "done" and job.params == {"no_contract": ["plain"], "results": []}
    html = admin_client_role.get(reverse("annotate:system_verification", args=[system.name])).content.decode()
    assert "<strong>0</strong> passed" in html and "<strong>1</strong> no contract" in html


@pytest.mark.sandbox
def test_verifying_a_system_shows_passed_failed_and_no_contract(sandbox_settings, admin_client_role, run_jobs):
    system = SystemFactory(name="weak-llm")
    linreg = SampleFactory(key="linreg", pytorch_code=_read("pytorch.py"), contract=_read("contract.py"))
    TranslationFactory(sample=linreg, system=system, code=_read("fixed.py"))
    broken = SampleFactory(key="broken", pytorch_code=_read("pytorch.py"), contract=_read("contract.py"))
    TranslationFactory(sample=broken, system=system, code=_read("draft_weak.py"))
    TranslationFactory(sample=SampleFactory(key="plain", contract=""), system=system)

    with run_jobs():
        admin_client_role.post(reverse("annotate:system_verify", args=[system.name]), HTTP_HX_REQUEST="true")

    job = Job.objects.get(kind="verify")
    assert (job.status, job.done, job.total) == ("done", 2, 2)
    assert [(row["sample"], row["verdict"]) for row in job.params["results"]] == [
        ("broken", "failed"),
        ("linreg", "passed"),
    ]
    html = admin_client_role.get(reverse("annotate:system_verification", args=[system.name])).content.decode()
    assert "<strong>1</strong> passed" in html and "<strong>1</strong> failed" in html
    assert "<strong>1</strong> no contract" in html and 'id="verdict-broken"' in html


def test_the_editor_refuses_text_that_is_neither_kind_of_contract(admin_client_role, sample):
    response = admin_client_role.post(
        reverse("contracts:contract_edit", args=[sample.key]), {"contract": "TOLERANCE = 1e-5\n", "based_on": "1"}
    )

    assert response.status_code == 400
    assert "This is not a contract. It is neither a staged contract" in response.content.decode()
    sample.refresh_from_db()
    assert sample.contract == OLD and sample.contract_version == 1
