"""LLM-as-judge pairwise comparison, asked in both orders; a verdict that flips with the order is inconsistent.

Each order is stored as its own Comparison (left = the program the model saw first, as "A"), both flagged
`inconsistent` when the preferred translation changes with the order.
"""

from __future__ import annotations

import re

from django.db import transaction

from annotate import llm
from annotate.models import Translation
from evaluate.models import Comparison, Verdict

FIRST_SEEN = "left-first"
PROMPT = (
    "Two JAX translations (A and B) of the same PyTorch program follow. Which is the better translation: closer "
    "to functionally equivalent, and less work to fix? Answer with a short reason, then a last line "
    "'Verdict: A', 'Verdict: B', 'Verdict: tie' (equally good) or 'Verdict: both bad'."
)
_VERDICT = re.compile(r"verdict\s*[:=]\s*\**\s*(a|b|tie|both[\s-]*bad)\b", re.IGNORECASE)
_WORDS = {"a": Verdict.LEFT, "b": Verdict.RIGHT, "tie": Verdict.TIE}


def compare_messages(pytorch: str, first: str, second: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a strict reviewer of PyTorch-to-JAX translations."},
        {
            "role": "user",
            "content": f"{PROMPT}\n\nPyTorch program:\n```python\n{pytorch}\n```\n\n"
            f"Translation A:\n```python\n{first}\n```\n\n"
            f"Translation B:\n```python\n{second}\n```",
        },
    ]


def parse_verdict(text: str) -> str | None:
    found = _VERDICT.findall(text or "")
    if not found:
        return None
    word = re.sub(r"[\s-]+", " ", found[-1].lower())
    return Verdict.BOTH_BAD if word == "both bad" else _WORDS[word]


def _winner(left: Translation, right: Translation, verdict: str) -> int | str:
    """The translation a verdict prefers, or the kind of draw: comparable across the two orders."""
    return {Verdict.LEFT: left.pk, Verdict.RIGHT: right.pk}.get(verdict, verdict)


class CompareError(RuntimeError):
    pass


def compare_pair(first: Translation, second: Translation, *, model: str = "") -> tuple[Comparison, Comparison]:
    """Ask in both orders and store both answers; raises CompareError (nothing stored) when an answer is unusable."""
    if first.sample_id != second.sample_id:
        raise CompareError("Only translations of the same sample can be compared.")
    answers = []
    for left, right in ((first, second), (second, first)):
        result = llm.chat(compare_messages(first.sample.pytorch_code, left.code, right.code), model=model)
        verdict = parse_verdict(result.text)
        if verdict is None:
            raise CompareError(f"No verdict in the judge's answer: {result.text[:200]!r}")
        answers.append((left, right, verdict, result))
    inconsistent = _winner(*answers[0][:3]) != _winner(*answers[1][:3])
    with transaction.atomic():
        return tuple(
            Comparison.objects.create(
                sample_id=left.sample_id,
                left=left,
                right=right,
                judge_model=result.model or llm.resolve_model(model),
                order_seen=FIRST_SEEN,
                verdict=verdict,
                reason=result.text[:2000],
                raw_output=result.text,
                inconsistent=inconsistent,
            )
            for left, right, verdict, result in answers
        )
