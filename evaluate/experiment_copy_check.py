"""Copy check: how much of a T2J draft is code pasted from the examples injected into its prompt.

The examples are read from the prompt the draft was made from (Translation.prompt_messages, as sent): the bug-fix
dataset JSON of annotate/prompting.py. A draft line counts when, with its whitespace collapsed, it is found among
the JAX code of an example (LLM_weak_output, LLM_fix_output, Error_Code, Fixed_Code). Lines that say nothing about
copying are left out: blank lines, comments, imports, lines under MIN_LINE_CHARS characters, and lines of the
sample's own PyTorch program (a print or a constant the source itself holds).

`share` is the part of the draft's lines found in any injected example; `top_share` the part found in its single
`top_source` example. The flag is on `top_share`: lines common to all JAX code (a PRNG key, a jit decorator) are
spread over every example, so the pooled share of honest drafts is high, while a pasted example shows as one
source. Measured on the paper's intrinsic set against its bug-fix dataset (leave-one-out): the baseline drafts, made
without examples, reach a pooled share of up to 0.46 but a top share of at most 0.30; the T2J drafts reach top
shares of 0.82 (e2 from e1's example), 0.65, 0.60, 0.50. DEFAULT_THRESHOLD is 0.5.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

DATASET_KEY = '{"Pytorch_to_JAX_Examples"'
EXAMPLE_FIELDS = ("LLM_weak_output", "LLM_fix_output")
ERROR_FIELDS = ("Error_Code", "Fixed_Code")
MIN_LINE_CHARS = 10  # non-space characters: shorter lines (`return x`, `)`, `else:`) match anything
DEFAULT_THRESHOLD = 0.5
_IMPORT = re.compile(r"(import|from)\s")


@dataclass(frozen=True)
class CopyCheck:
    """One draft's copy check. Shares are None when the draft has no line that counts or no example was injected."""

    lines: int  # the draft's lines that count
    examples: int  # examples injected into its prompt
    share: float | None  # found in any example
    top_source: str  # the example (its Example_id) holding most of them
    top_share: float | None  # found in that one example
    flagged: bool


def check(
    code: str, messages: Sequence[dict], *, own_source: str = "", threshold: float = DEFAULT_THRESHOLD
) -> CopyCheck:
    """Copy check of `code` against the examples in `messages` (the prompt it answered); see the module docstring."""
    examples = injected_examples(messages)
    own = {_normal(line) for line in own_source.splitlines()}
    lines = [line for line in (_normal(raw) for raw in code.splitlines()) if _counts(line) and line not in own]
    if not lines or not examples:
        return CopyCheck(len(lines), len(examples), None, "", None, False)
    pooled = set().union(*examples.values())
    share = sum(line in pooled for line in lines) / len(lines)
    top_source, top = max(
        ((source, sum(line in found for line in lines)) for source, found in examples.items()), key=lambda x: x[1]
    )
    top_share = top / len(lines)
    return CopyCheck(len(lines), len(examples), share, top_source if top else "", top_share, top_share >= threshold)


def injected_examples(messages: Sequence[dict]) -> dict[str, set[str]]:
    """{Example_id: its JAX code lines, normalised} of the bug-fix dataset in the prompt; {} for a standard prompt."""
    examples: dict[str, set[str]] = {}
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or (start := content.find(DATASET_KEY)) < 0:
            continue
        try:
            dataset, _ = json.JSONDecoder().raw_decode(content, start)
        except json.JSONDecodeError:
            continue
        for example in dataset.get("Pytorch_to_JAX_Examples", []):
            if not isinstance(example, dict):
                continue
            texts = [example.get(name, "") for name in EXAMPLE_FIELDS]
            texts += [
                error.get(name, "")
                for error in example.get("Errors", [])
                if isinstance(error, dict)
                for name in ERROR_FIELDS
            ]
            found = examples.setdefault(str(example.get("Example_id", "")), set())
            found.update(_normal(line) for text in texts if isinstance(text, str) for line in text.splitlines())
    return examples


def _normal(line: str) -> str:
    return " ".join(line.split())


def _counts(line: str) -> bool:
    return len(line.replace(" ", "")) >= MIN_LINE_CHARS and not line.startswith("#") and not _IMPORT.match(line)
