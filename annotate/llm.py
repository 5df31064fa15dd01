"""The one place that talks to an LLM: one chat-completions call (plus retries) on an OpenAI-compatible endpoint.

Configuration comes from settings (read from the environment): OPENAI_BASE_URL (any OpenAI-compatible server;
empty means the SDK's default, api.openai.com), OPENAI_API_KEY, OPENAI_MODEL (default model; a System may name
its own), T2J_LLM_TIMEOUT_S, T2J_LLM_MAX_RETRIES and T2J_LLM_BACKOFF_S (first retry delay, doubled each retry).

The SDK's own retries are switched off: we retry here so that every attempt, its backoff and the final reason
are ours to record, and so that tests can make the backoff instant. Nothing else is ever called on the endpoint
(no model listing, no probes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import openai
from django.conf import settings

CONFIGURE_HELP = (
    "No LLM endpoint is configured. Set OPENAI_BASE_URL (an OpenAI-compatible server, e.g. "
    "http://localhost:11434/v1; leave it empty for api.openai.com), OPENAI_API_KEY (any non-empty value "
    "for local servers that do not check it) and OPENAI_MODEL (or give the system a model) in the "
    "environment, then restart the web server and the task worker."
)
# Longest wait we accept from a server's Retry-After before trying again.
MAX_BACKOFF_S = 60.0
# Status codes worth another attempt: rate limits, timeouts, lock conflicts and server errors.
RETRYABLE_STATUS = {408, 409, 429}
REASON_CHARS = 500


class LLMError(Exception):
    """A call that did not give a usable answer; `reason` is what the draft records."""

    def __init__(
        self, reason: str, *, retryable: bool = False, raw_answer: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.raw_answer = raw_answer
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


class LLMNotConfigured(LLMError):
    """No endpoint or no model: nothing can be drafted until the environment says where to go."""


@dataclass(frozen=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    attempts: int


def resolve_model(model: str = "") -> str:
    return model or settings.OPENAI_MODEL or ""


def configuration_problem(model: str = "") -> str:
    """Why no call can be made with `model` (empty string when everything needed is set)."""
    # A base URL alone is enough (local servers); a key alone means the SDK's default endpoint.
    if not (settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY):
        return CONFIGURE_HELP
    if not resolve_model(model):
        return "No model is set: give the system a model or set OPENAI_MODEL. " + CONFIGURE_HELP
    return ""


def chat(
    messages: Sequence[dict],
    *,
    model: str = "",
    temperature: float = 0.0,
    timeout_s: float | None = None,
    max_retries: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ChatResult:
    """Send `messages` once (retrying 429/5xx/timeouts/connection errors) and return the answer text and usage."""
    problem = configuration_problem(model)
    if problem:
        raise LLMNotConfigured(problem)
    model = resolve_model(model)
    retries = settings.T2J_LLM_MAX_RETRIES if max_retries is None else max_retries
    backoff = getattr(settings, "T2J_LLM_BACKOFF_S", 1.0) if backoff_s is None else backoff_s
    with _client(timeout_s) as client:
        for attempt in range(1, retries + 2):
            try:
                return _call_once(client, messages, model, temperature, attempt)
            except LLMError as error:
                if not error.retryable or attempt > retries:
                    if error.retryable and attempt > 1:
                        error.reason = f"Gave up after {attempt} attempts; last error: {error.reason}"
                    raise
                sleep(min(MAX_BACKOFF_S, error.retry_after or backoff * 2 ** (attempt - 1)))
    raise AssertionError("unreachable: the loop returns or raises")


def _client(timeout_s: float | None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        # Local servers often check no key, but the SDK insists on one.
        api_key=settings.OPENAI_API_KEY or "not-needed",
        timeout=settings.T2J_LLM_TIMEOUT_S if timeout_s is None else timeout_s,
        max_retries=0,
    )


def _call_once(client: openai.OpenAI, messages: Sequence[dict], model: str, temperature: float, attempt: int):
    started = time.monotonic()
    try:
        response = client.chat.completions.create(model=model, messages=list(messages), temperature=temperature)
    except openai.APITimeoutError as error:
        raise LLMError(f"The endpoint did not answer within the timeout ({error})", retryable=True) from error
    except openai.APIConnectionError as error:
        raise LLMError(f"Could not reach the endpoint: {error}", retryable=True) from error
    except openai.APIStatusError as error:
        raise _status_error(error) from error
    except openai.OpenAIError as error:
        raise LLMError(f"The LLM client failed: {_short(str(error))}") from error
    except ValueError as error:  # a 200 whose body is not JSON (json.JSONDecodeError is a ValueError)
        raise LLMError(f"The endpoint's answer is not valid JSON: {_short(str(error))}") from error
    latency = time.monotonic() - started
    return _result_from(response, model, latency, attempt)


def _status_error(error: openai.APIStatusError) -> LLMError:
    status = error.status_code
    detail = _short(_error_detail(error))
    if status == 401:
        return LLMError(f"The endpoint refused the API key (HTTP 401): {detail}. Check OPENAI_API_KEY.")
    if status == 403:
        return LLMError(f"The endpoint refused access (HTTP 403): {detail}")
    if status == 404:
        return LLMError(f"Model or endpoint not found (HTTP 404): {detail}. Check OPENAI_BASE_URL and the model.")
    if status == 400 or status == 422:
        return LLMError(f"The endpoint rejected the request (HTTP {status}): {detail}")
    retryable = status in RETRYABLE_STATUS or status >= 500
    return LLMError(f"HTTP {status} from the endpoint: {detail}", retryable=retryable, retry_after=_retry_after(error))


def _error_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        return str(inner)
    try:
        return error.response.text or error.message
    except Exception:  # a streamed or closed response has no text to show
        return error.message


def _retry_after(error: openai.APIStatusError) -> float | None:
    try:
        return max(0.0, float(error.response.headers.get("retry-after", "")))
    except (TypeError, ValueError):
        return None


def _result_from(response, model: str, latency: float, attempt: int) -> ChatResult:
    """Check the answer is a real chat completion; anything else is a clear, non-retried failure."""
    if isinstance(response, str):
        raise LLMError(f"The endpoint's answer is not a chat completion: {_short(response)!r}", raw_answer=response)
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LLMError(f"The endpoint's answer has no choices: {_short(_dump(response))}", raw_answer=_dump(response))
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str) or not text.strip():
        reason = getattr(choices[0], "finish_reason", None)
        raise LLMError(f"The endpoint's answer is empty (finish reason: {reason})", raw_answer=_dump(response))
    usage = getattr(response, "usage", None)
    return ChatResult(
        text=text,
        model=getattr(response, "model", None) or model,
        prompt_tokens=_int_or_none(getattr(usage, "prompt_tokens", None)),
        completion_tokens=_int_or_none(getattr(usage, "completion_tokens", None)),
        latency_s=latency,
        attempts=attempt,
    )


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _dump(response) -> str:
    try:
        return response.model_dump_json()
    except Exception:  # whatever the server sent, show something rather than fail while reporting
        return repr(response)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS] + "…"
