"""A real local HTTP server speaking the OpenAI chat-completions API, for the drafting tests.

The tests reach it through the real `openai` SDK in annotate/llm.py; nothing talks to the internet.
Use the fixtures in a test module by naming them there: `llm_endpoint = llm_fakes.llm_endpoint`.
"""

from __future__ import annotations

import json
import re

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from annotate.models import FixSession, FixStep, SessionStatus
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, TranslationFactory

CHAT_PATH = "/v1/chat/completions"
JAX_PROGRAM = "import jax\nimport jax.numpy as jnp\n\nprint(jnp.ones(2).sum())\n"


def completion(
    content: str | None, *, model: str = "served-model", prompt_tokens: int = 120, completion_tokens: int = 30
) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def answer(code: str = JAX_PROGRAM) -> dict:
    return completion(f"Here is the JAX version:\n\n```python\n{code}```\n\nIt uses explicit keys.")


def chat_requests(server: HTTPServer) -> list[dict]:
    """The JSON bodies the server received on the chat-completions path, in order."""
    return [json.loads(request.get_data()) for request, _ in server.log if request.path == CHAT_PATH]


def prompt_text(body: dict) -> str:
    return "\n".join(message["content"] for message in body["messages"])


def sample_key_of(request: Request) -> str:
    """Which sample a request drafts: the tests' programs print their sample key."""
    found = re.findall(r"SAMPLE-KEY: (\w+)", prompt_text(json.loads(request.get_data())))
    return found[-1] if found else ""


@pytest.fixture
def llm_endpoint(httpserver: HTTPServer, settings) -> HTTPServer:
    """Settings pointing the SDK at the local server, with instant backoff so retries cost no time."""
    settings.OPENAI_BASE_URL = httpserver.url_for("/v1")
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_MODEL = "default-model"
    settings.T2J_LLM_BACKOFF_S = 0.001
    settings.T2J_LLM_MAX_RETRIES = 2
    settings.T2J_LLM_TIMEOUT_S = 5.0
    return httpserver


@pytest.fixture
def no_llm_endpoint(settings) -> None:
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_MODEL = ""


def verified_steps(sample, n: int = 2, *, category: str = "prng", error: str = "") -> list[FixStep]:
    """A verified fix session on a translation of `sample` (by its own system) with `n` counted steps."""
    session = FixSessionFactory(
        translation=TranslationFactory(sample=sample, code=f"# weak draft of {sample.key}\n"),
        status=SessionStatus.VERIFIED,
        current_code=f"# fixed program of {sample.key}\n",
    )
    return [
        FixStepFactory(
            session=session,
            index=i + 1,
            category=category,
            error=error or f"ERROR-OF-{sample.key}-{i + 1}",
            error_code=f"bad_code_{sample.key}_{i + 1}()",
            fix_info=f"fix {i + 1} of {sample.key}",
            fixed_code=f"good_code_{sample.key}_{i + 1}()",
        )
        for i in range(n)
    ]


def open_session(translation) -> FixSession:
    return FixSessionFactory(translation=translation, status=SessionStatus.OPEN)


def keyed_sample(key: str, **kwargs):
    """A sample whose program names its key, so the fake server can tell prompts apart."""
    return SampleFactory(key=key, pytorch_code=f"import torch\nprint('SAMPLE-KEY: {key}')\n", **kwargs)
