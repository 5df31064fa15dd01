"""A stand-in LLM that answers each drafting prompt with the T2J paper's draft of that sample for that prompt mode.

The prompt names its sample only through the PyTorch program it carries: the answer is the draft of the sample of
intrinsic.json whose program the prompt holds (the longest, should one program contain another); a T2J prompt (it
holds the bug-fix dataset's introduction) gets `t2j_before_fix`, a standard one `baseline_before_fix`. Served over
real HTTP by pytest-httpserver and reached through the real openai SDK; used by tests/evaluate/test_experiment.py
and bench/experiment_paper.py.
"""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response

from annotate.prompting import T2J_DATASET_INTRO
from tests.paper import INTRINSIC

MODES = {"t2j": "t2j_before_fix", "standard": "baseline_before_fix"}


def paper_samples() -> dict[str, dict]:
    return json.loads(INTRINSIC.read_text())["samples"]


def answering_handler(samples: dict[str, dict]):
    """A pytest-httpserver handler answering chat completions with the paper's drafts (404 for an unknown program)."""
    programs = sorted(((s["pytorch"].rstrip(), key) for key, s in samples.items()), key=lambda p: -len(p[0]))

    def handle(request: Request) -> Response:
        body = json.loads(request.get_data())
        text = "\n".join(message["content"] for message in body["messages"])
        key = next((key for program, key in programs if program in text), None)
        mode = "t2j" if T2J_DATASET_INTRO in text else "standard"
        draft = samples.get(key, {}).get(MODES[mode])
        if draft is None:
            return Response(json.dumps({"error": {"message": "no paper draft for this prompt"}}), status=404)
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", draft)), default=0))
        content = f"Here is the JAX program.\n\n{fence}python\n{draft}\n{fence}\n"
        answer = {
            "id": "chatcmpl-paper", "object": "chat.completion", "created": 1, "model": body.get("model", "paper"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200},
        }  # fmt: skip
        return Response(json.dumps(answer), content_type="application/json")

    return handle
