"""The contract editor: admins list, edit (Monaco textarea) and try samples' contracts; nobody else may."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.demo import DEMO_DIR
from annotate.models import Run, SessionEvent, SessionStatus
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

pytest_plugins = ["tests.annotate.sandbox_fixtures"]
pytestmark = pytest.mark.django_db

OLD = "def spec(torch_program, jax_program):\n    pass\n"
NEW = "def spec(torch_program, jax_program):\n    assert torch_program\n"


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
