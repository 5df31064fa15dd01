"""An LLM's estimate of fix effort (FixCost steps), stored beside the human figure so the two can be compared.

The paper's abstract calls its FixCost Score an LLM-based estimate; ours asks the judge how many separate
fix steps the translation needs before it is functionally equivalent.
"""

from __future__ import annotations

import re

from django.utils import timezone

from annotate import llm
from annotate.models import Translation
from evaluate.metrics.fixcost import fixcost_score
from evaluate.models import FixCostRecord, FixCostSource

MAX_STEPS = 100
_STEPS = re.compile(r"steps?\s*(?:needed|required)?\s*[:=]\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)

PROMPT = (
    "A developer will fix this JAX translation of a PyTorch program one bug at a time, running it after each "
    "fix, until it is functionally equivalent to the PyTorch program. Estimate how many separate fix steps "
    "that takes (0 if it is already equivalent). Count each distinct error the developer would hit and fix. "
    "List the problems you expect briefly, then end with a line 'Steps: N'."
)


def estimate_messages(pytorch: str, candidate: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are an expert in porting PyTorch programs to JAX."},
        {
            "role": "user",
            "content": f"{PROMPT}\n\nPyTorch program:\n```python\n{pytorch}\n```\n\n"
            f"JAX translation:\n```python\n{candidate}\n```",
        },
    ]


def parse_steps(text: str) -> float | None:
    found = _STEPS.findall(text or "")
    if not found:
        return None
    steps = float(found[-1])
    return steps if 0 <= steps <= MAX_STEPS else None


def estimate(translation: Translation, *, model: str = "") -> FixCostRecord | None:
    """Ask for and store one estimate; None (nothing stored) when the answer has no usable number."""
    result = llm.chat(estimate_messages(translation.sample.pytorch_code, translation.code), model=model)
    steps = parse_steps(result.text)
    if steps is None:
        return None
    record, _ = FixCostRecord.objects.update_or_create(
        translation=translation,
        source=FixCostSource.LLM,
        defaults={
            "steps": steps,
            "score": fixcost_score(steps),
            "judge_model": result.model,
            "raw_output": result.text,
            "computed_at": timezone.now(),
        },
    )
    return record
