from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from werkzeug import Response

from annotate.models import DraftStatus, System, SystemMode, Translation
from tests.annotate import llm_fakes
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, answer, chat_requests, completion, open_session

pytestmark = pytest.mark.django_db
llm_endpoint = llm_fakes.llm_endpoint
no_llm_endpoint = llm_fakes.no_llm_endpoint


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("draft", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def keyed(key: str):
    return SampleFactory(key=key, pytorch_code=f"import torch\nprint('SAMPLE-KEY: {key}')\n")


def test_it_creates_the_system_and_drafts_every_sample_with_a_progress_bar(llm_endpoint):
    keyed("e1"), keyed("e2")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    out, _ = run("--system", "gpt-t2j", "--mode", "t2j", "--model", "tiny")

    system = System.objects.get(name="gpt-t2j")
    assert (system.mode, system.model) == (SystemMode.T2J, "tiny")
    assert "Created system gpt-t2j" in out
    assert "[###############---------------] 1/2" in out
    assert "[##############################] 2/2" in out
    assert "Drafted 2; failed 0" in out
    assert system.translations.filter(draft_status=DraftStatus.OK).count() == 2
    assert {body["model"] for body in chat_requests(llm_endpoint)} == {"tiny"}


def test_sample_is_repeatable_and_limits_the_drafts(llm_endpoint):
    keyed("e1"), keyed("e2"), keyed("e3")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    run("--system", "std", "--sample", "e1", "--sample", "e3")

    assert sorted(Translation.objects.values_list("sample__key", flat=True)) == ["e1", "e3"]


def test_an_unknown_sample_is_refused_before_anything_is_drafted(llm_endpoint):
    keyed("e1")

    with pytest.raises(CommandError, match="Unknown sample keys: zz"):
        run("--system", "std", "--sample", "e1", "--sample", "zz")

    assert chat_requests(llm_endpoint) == []
    assert not System.objects.filter(name="std").exists()


def test_it_refuses_an_existing_system_with_another_mode_or_model(llm_endpoint):
    SystemFactory(name="std", mode=SystemMode.STANDARD, model="m1")
    keyed("e1")

    with pytest.raises(CommandError, match="mode standard, not t2j"):
        run("--system", "std", "--mode", "t2j")
    with pytest.raises(CommandError, match="model m1, not m2"):
        run("--system", "std", "--model", "m2")

    assert chat_requests(llm_endpoint) == []


def test_a_failed_draft_makes_it_exit_non_zero_with_a_summary(llm_endpoint):
    keyed("e1"), keyed("e2")

    def e2_has_no_code(request):
        body = completion("no idea, sorry") if llm_fakes.sample_key_of(request) == "e2" else answer()
        return Response(json.dumps(body), content_type="application/json")

    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(e2_has_no_code)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="1 of the drafts failed"):
        call_command("draft", "--system", "std", stdout=out, stderr=err)

    assert "Drafted 1; failed 1" in out.getvalue()
    assert "FAILED e2: The answer contains no code" in err.getvalue()


def test_re_running_skips_and_force_keeps_translations_with_a_fix_session(llm_endpoint):
    system = SystemFactory(name="std")
    TranslationFactory(sample=keyed("e1"), system=system, code="old e1")
    claimed = TranslationFactory(sample=keyed("e2"), system=system, code="old e2")
    open_session(claimed)
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    out, _ = run("--system", "std")
    assert "skipped 2 (already drafted)" in out
    assert chat_requests(llm_endpoint) == []

    out, _ = run("--system", "std", "--force")

    claimed.refresh_from_db()
    assert claimed.code == "old e2"
    assert Translation.objects.get(sample__key="e1").code == llm_fakes.JAX_PROGRAM
    assert "Kept (they have a fix session, never replaced): e2" in out


def test_without_an_endpoint_it_exits_non_zero_with_how_to_configure_and_changes_nothing(no_llm_endpoint):
    keyed("e1")

    with pytest.raises(CommandError, match="OPENAI_BASE_URL") as caught:
        run("--system", "std", "--model", "m")

    assert "OPENAI_API_KEY" in str(caught.value) and "OPENAI_MODEL" in str(caught.value)
    assert not System.objects.exists()


def test_a_non_llm_system_is_refused(llm_endpoint):
    SystemFactory(name="people", mode=SystemMode.HUMAN)
    keyed("e1")

    with pytest.raises(CommandError, match="only standard and t2j systems draft"):
        run("--system", "people")
