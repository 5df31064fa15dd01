from __future__ import annotations

import json
import threading
import time

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Response

from annotate import drafting, llm
from annotate.models import DraftStatus, SystemMode, Translation
from tests.annotate import llm_fakes
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import (
    CHAT_PATH,
    answer,
    chat_requests,
    completion,
    keyed_sample,
    open_session,
    prompt_text,
)

pytestmark = pytest.mark.django_db
llm_endpoint = llm_fakes.llm_endpoint
no_llm_endpoint = llm_fakes.no_llm_endpoint


def test_a_standard_draft_stores_the_code_and_its_provenance(llm_endpoint):
    sample = keyed_sample("e1")
    system = SystemFactory(name="std", mode=SystemMode.STANDARD, model="small-model", temperature=0.2)
    llm_endpoint.expect_request(CHAT_PATH, method="POST").respond_with_json(answer())

    report = drafting.draft_samples(system, [sample])

    assert report.keys(drafting.OK) == ["e1"]
    translation = Translation.objects.get(sample=sample, system=system)
    (sent,) = chat_requests(llm_endpoint)
    assert translation.draft_status == DraftStatus.OK
    assert translation.code == llm_fakes.JAX_PROGRAM
    assert translation.prompt_messages == sent["messages"]  # exactly what went over the wire
    assert sent["model"] == "small-model" and sent["temperature"] == 0.2
    assert translation.raw_answer.startswith("Here is the JAX version:")
    assert translation.model == "served-model"
    assert (translation.prompt_tokens, translation.completion_tokens) == (120, 30)
    assert translation.latency_s > 0
    assert translation.drafted_at is not None
    assert "SAMPLE-KEY: e1" in prompt_text(sent)
    assert "Pytorch_to_JAX_Examples" not in prompt_text(sent)


def test_a_t2j_draft_learns_from_other_samples_only_and_records_which_steps(llm_endpoint):
    drafted, other = keyed_sample("e1"), keyed_sample("e2")
    own_steps = llm_fakes.verified_steps(drafted, 2)
    other_steps = llm_fakes.verified_steps(other, 3)
    system = SystemFactory(name="t2j", mode=SystemMode.T2J)
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    drafting.draft_samples(system, [drafted])

    received = prompt_text(chat_requests(llm_endpoint)[0])
    assert "Pytorch_to_JAX_Examples" in received
    assert all(step.error in received for step in other_steps)
    assert all(step.error not in received for step in own_steps)  # leave-one-out
    translation = Translation.objects.get(sample=drafted, system=system)
    assert set(translation.included_steps.values_list("pk", flat=True)) == {s.pk for s in other_steps}


def test_an_answer_without_code_is_a_failed_draft_with_the_reason_and_the_answer_kept(llm_endpoint):
    sample = keyed_sample("e1")
    system = SystemFactory(name="std")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("I am sorry, I cannot do that."))

    report = drafting.draft_samples(system, [sample])

    translation = Translation.objects.get(sample=sample, system=system)
    assert report.keys(drafting.FAILED) == ["e1"]
    assert translation.draft_status == DraftStatus.FAILED
    assert "contains no code" in translation.failure_reason
    assert translation.raw_answer == "I am sorry, I cannot do that."
    assert translation.code == ""
    assert translation.completion_tokens == 30  # tokens were spent, so they are counted


def test_server_errors_fail_the_draft_and_retry_failed_then_succeeds(llm_endpoint):
    sample = keyed_sample("e1")
    system = SystemFactory(name="std")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json({"error": {"message": "down"}}, status=500)

    drafting.draft_samples(system, [sample])

    translation = Translation.objects.get(sample=sample, system=system)
    assert translation.draft_status == DraftStatus.FAILED
    assert "HTTP 500" in translation.failure_reason and "Gave up after 3 attempts" in translation.failure_reason
    assert translation.prompt_messages  # what was sent is kept even when nothing came back

    llm_endpoint.clear()
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())
    drafting.draft_samples(system, [sample])  # a plain re-run skips the failed draft
    assert chat_requests(llm_endpoint) == []

    report = drafting.draft_samples(system, [sample], retry_failed=True)

    translation.refresh_from_db()
    assert report.keys(drafting.OK) == ["e1"]
    assert translation.draft_status == DraftStatus.OK
    assert translation.failure_reason == ""


def test_draft_one_drafts_a_single_sample_and_retries_its_failed_draft(llm_endpoint):
    sample = keyed_sample("e1")
    system = SystemFactory(name="std")
    TranslationFactory(sample=sample, system=system, draft_status=DraftStatus.FAILED, code="")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    outcome = drafting.draft_one(system, sample)

    assert (outcome.sample_key, outcome.status) == ("e1", drafting.OK)
    assert Translation.objects.get(sample=sample, system=system).code == llm_fakes.JAX_PROGRAM
    assert drafting.draft_one(system, sample).status == drafting.SKIPPED


def test_a_rate_limit_then_success_gives_a_good_draft(llm_endpoint):
    sample = keyed_sample("e1")
    llm_endpoint.expect_oneshot_request(CHAT_PATH).respond_with_json({"error": {"message": "busy"}}, status=429)
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    report = drafting.draft_samples(SystemFactory(name="std"), [sample])

    assert report.keys(drafting.OK) == ["e1"]
    assert len(chat_requests(llm_endpoint)) == 2


def test_re_running_skips_drafted_samples_and_calls_nothing(llm_endpoint):
    samples = [keyed_sample("e1"), keyed_sample("e2")]
    system = SystemFactory(name="std")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())
    drafting.draft_samples(system, samples)
    first = {t.pk: t.updated_at for t in system.translations.all()}
    llm_endpoint.clear()

    report = drafting.draft_samples(system, samples)

    assert report.keys(drafting.SKIPPED) == ["e1", "e2"]
    assert chat_requests(llm_endpoint) == []
    assert {t.pk: t.updated_at for t in system.translations.all()} == first


def test_force_redrafts_in_place_but_never_a_translation_with_a_fix_session(llm_endpoint):
    free, claimed = keyed_sample("e1"), keyed_sample("e2")
    system = SystemFactory(name="std")
    old_free = TranslationFactory(sample=free, system=system, code="old free draft")
    old_claimed = TranslationFactory(sample=claimed, system=system, code="old claimed draft")
    open_session(old_claimed)
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())

    report = drafting.draft_samples(system, [free, claimed], force=True)

    assert report.keys(drafting.OK) == ["e1"]
    assert report.keys(drafting.KEPT) == ["e2"]
    assert "kept 1 (have a fix session: e2)" in report.summary()
    old_free.refresh_from_db()
    old_claimed.refresh_from_db()
    assert old_free.code == llm_fakes.JAX_PROGRAM  # same row, replaced
    assert old_claimed.code == "old claimed draft"
    assert ["SAMPLE-KEY: e1" in prompt_text(body) for body in chat_requests(llm_endpoint)] == [True]


def test_a_failed_forced_redraft_keeps_the_previous_good_draft(llm_endpoint):
    sample = keyed_sample("e1")
    system = SystemFactory(name="std")
    good = TranslationFactory(sample=sample, system=system, code="good old draft")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json({"error": {"message": "nope"}}, status=400)

    report = drafting.draft_samples(system, [sample], force=True)

    good.refresh_from_db()
    assert good.code == "good old draft" and good.draft_status == DraftStatus.OK
    (failure,) = report.failures
    assert "previous draft was kept" in failure.reason


def test_a_session_claimed_during_the_batch_wins_over_a_forced_redraft(llm_endpoint):
    first, second = keyed_sample("e1"), keyed_sample("e2")
    system = SystemFactory(name="std")
    TranslationFactory(sample=first, system=system, code="first draft")
    claimed = TranslationFactory(sample=second, system=system, code="second draft")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())
    seen = []

    def developer_claims_e2_after_the_plan() -> bool:
        # Called between samples: by now the batch planned to redraft e2, and a developer claims it.
        if seen and not claimed.fix_sessions.exists():
            open_session(claimed)
        return False

    report = drafting.draft_samples(
        system,
        [first, second],
        force=True,
        concurrency=1,
        on_outcome=seen.append,
        should_stop=developer_claims_e2_after_the_plan,
    )

    claimed.refresh_from_db()
    assert report.keys(drafting.OK) == ["e1"]
    assert report.keys(drafting.KEPT) == ["e2"]
    assert claimed.code == "second draft"


def test_cancelling_stops_before_the_next_sample(llm_endpoint):
    samples = [keyed_sample(f"e{i}") for i in range(4)]
    system = SystemFactory(name="std")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(answer())
    seen = []

    report = drafting.draft_samples(
        system, samples, concurrency=1, on_outcome=seen.append, should_stop=lambda: len(seen) >= 2
    )

    assert report.cancelled
    assert report.keys(drafting.OK) == ["e0", "e1"]
    assert report.not_started == ["e2", "e3"]
    assert system.translations.count() == 2


def test_calls_run_concurrently_up_to_the_limit():
    server = HTTPServer(threaded=True)
    server.start()
    in_flight, peak, lock = 0, 0, threading.Lock()

    def slow_answer(request):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.15)
        with lock:
            in_flight -= 1
        return Response(json.dumps(answer()), content_type="application/json")

    server.expect_request(CHAT_PATH).respond_with_handler(slow_answer)
    try:
        with override_settings(OPENAI_BASE_URL=server.url_for("/v1"), OPENAI_API_KEY="k", OPENAI_MODEL="m"):
            report = drafting.draft_samples(
                SystemFactory(name="std"), [keyed_sample(f"e{i}") for i in range(6)], concurrency=3
            )
    finally:
        server.stop()
    assert len(report.keys(drafting.OK)) == 6
    assert peak == 3


def test_a_prompt_over_budget_fails_without_calling_the_llm(llm_endpoint):
    sample = SampleFactory(key="big", pytorch_code="x = 1\n" * 3000)

    report = drafting.draft_samples(SystemFactory(name="std", token_budget=1000), [sample])

    assert "budget" in report.failures[0].reason
    assert chat_requests(llm_endpoint) == []


def test_drafting_without_an_endpoint_refuses_and_writes_nothing(no_llm_endpoint):
    with pytest.raises(llm.LLMNotConfigured, match="OPENAI_BASE_URL"):
        drafting.draft_samples(SystemFactory(name="std", model="m"), [keyed_sample("e1")])

    assert not Translation.objects.exists()


def test_only_llm_systems_draft(llm_endpoint):
    with pytest.raises(drafting.DraftingError, match="only standard and t2j"):
        drafting.draft_samples(SystemFactory(name="people", mode=SystemMode.HUMAN), [keyed_sample("e1")])


def test_unknown_sample_keys_are_an_error():
    keyed_sample("e1")

    with pytest.raises(drafting.DraftingError, match="Unknown sample keys: nope"):
        drafting.samples_by_keys(["e1", "nope"])


def test_the_command_system_is_created_or_must_match(llm_endpoint):
    system, created = drafting.system_for_command("mine", mode="t2j", model="m1")
    assert created and (system.mode, system.model) == ("t2j", "m1")

    assert drafting.system_for_command("mine", mode="t2j", model="m1") == (system, False)
    with pytest.raises(drafting.DraftingError, match="mode t2j, not standard"):
        drafting.system_for_command("mine", mode="standard")
    with pytest.raises(drafting.DraftingError, match="model m1, not m2"):
        drafting.system_for_command("mine", model="m2")
