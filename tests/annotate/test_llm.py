from __future__ import annotations

import socket
import time

import pytest
from werkzeug import Response

from annotate import llm
from tests.annotate import llm_fakes
from tests.annotate.llm_fakes import CHAT_PATH, chat_requests, completion

llm_endpoint = llm_fakes.llm_endpoint
no_llm_endpoint = llm_fakes.no_llm_endpoint

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "translate ✓"}]


def test_it_sends_one_chat_completion_and_returns_text_usage_and_latency(llm_endpoint):
    llm_endpoint.expect_request(CHAT_PATH, method="POST").respond_with_json(completion("the answer"))

    result = llm.chat(MESSAGES, model="my-model", temperature=0.3)

    assert result.text == "the answer"
    assert (result.prompt_tokens, result.completion_tokens) == (120, 30)
    assert result.model == "served-model"
    assert result.latency_s > 0
    assert result.attempts == 1
    (body,) = chat_requests(llm_endpoint)
    assert body["model"] == "my-model"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.3
    request, _ = llm_endpoint.log[0]
    assert request.headers["Authorization"] == "Bearer test-key"


def test_it_uses_openai_model_when_the_system_names_none(llm_endpoint):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("ok"))

    llm.chat(MESSAGES)

    assert chat_requests(llm_endpoint)[0]["model"] == "default-model"


def test_it_makes_no_call_but_the_chat_completion(llm_endpoint):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("ok"))

    llm.chat(MESSAGES)

    assert [request.path for request, _ in llm_endpoint.log] == [CHAT_PATH]


def test_it_retries_a_429_with_backoff_then_succeeds(llm_endpoint):
    llm_endpoint.expect_oneshot_request(CHAT_PATH).respond_with_json({"error": {"message": "slow down"}}, status=429)
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("second time lucky"))
    waits = []

    result = llm.chat(MESSAGES, backoff_s=0.5, sleep=waits.append)

    assert result.text == "second time lucky"
    assert result.attempts == 2
    assert waits == [0.5]
    assert len(chat_requests(llm_endpoint)) == 2


def test_backoff_doubles_and_honours_retry_after(llm_endpoint):
    llm_endpoint.expect_oneshot_request(CHAT_PATH).respond_with_json({}, status=503)
    llm_endpoint.expect_oneshot_request(CHAT_PATH).respond_with_json({}, status=502)
    llm_endpoint.expect_oneshot_request(CHAT_PATH).respond_with_json({}, status=429, headers={"Retry-After": "7"})
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("ok"))
    waits = []

    llm.chat(MESSAGES, max_retries=3, backoff_s=1.0, sleep=waits.append)

    assert waits == [1.0, 2.0, 7.0]


def test_repeated_500s_give_up_with_a_clear_reason(llm_endpoint):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json({"error": {"message": "model crashed"}}, status=500)

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(MESSAGES)

    assert "Gave up after 3 attempts" in caught.value.reason
    assert "HTTP 500" in caught.value.reason
    assert "model crashed" in caught.value.reason
    assert len(chat_requests(llm_endpoint)) == 3  # T2J_LLM_MAX_RETRIES = 2, so three attempts


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "refused the API key (HTTP 401): bad key"),
        (400, "rejected the request (HTTP 400): bad key"),
        (404, "not found (HTTP 404)"),
    ],
)
def test_client_errors_are_not_retried_and_say_what_is_wrong(llm_endpoint, status, expected):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json({"error": {"message": "bad key"}}, status=status)

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(MESSAGES)

    assert expected in caught.value.reason
    assert len(chat_requests(llm_endpoint)) == 1


def test_a_timeout_is_retried_then_reported(llm_endpoint):
    def slow(request):
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(slow)

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(MESSAGES, timeout_s=0.2, max_retries=1)

    assert "did not answer within the timeout" in caught.value.reason
    assert "Gave up after 2 attempts" in caught.value.reason
    _wait_until_served(llm_endpoint, 2)  # so the slow answers do not land in the next test's log


def _wait_until_served(server, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(server.log) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_unreachable_endpoint_is_retried_then_reported(settings, llm_endpoint):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(MESSAGES, max_retries=1)

    assert "Could not reach the endpoint" in caught.value.reason


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("<html>gateway says hi</html>", "text/html", "not a chat completion"),
        ('{"foo": 1}', "application/json", "has no choices"),
        ("this is not json", "application/json", "not valid JSON"),
        (
            '{"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}]}',
            "application/json",
            "answer is empty (finish reason: length)",
        ),
    ],
)
def test_garbage_answers_are_clear_failures_and_not_retried(llm_endpoint, body, content_type, expected):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_data(body, content_type=content_type)

    with pytest.raises(llm.LLMError) as caught:
        llm.chat(MESSAGES)

    assert expected in caught.value.reason
    assert not caught.value.retryable
    assert len(chat_requests(llm_endpoint)) == 1


def test_without_an_endpoint_it_says_how_to_configure_one_and_sends_nothing(no_llm_endpoint, httpserver):
    with pytest.raises(llm.LLMNotConfigured) as caught:
        llm.chat(MESSAGES, model="some-model")

    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        assert name in caught.value.reason
    assert httpserver.log == []


def test_without_a_model_it_is_not_configured(llm_endpoint, settings):
    settings.OPENAI_MODEL = ""

    assert "No model is set" in llm.configuration_problem("")
    assert llm.configuration_problem("named-model") == ""
