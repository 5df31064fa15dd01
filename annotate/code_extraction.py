"""Getting the program out of an LLM answer: fenced blocks, plain code, or code with prose around it.

Rules, in order:
1. Fenced blocks (``` or ~~~, with or without a language tag; an unclosed fence runs to the end, as in a cut-off
   answer). Blocks tagged with a non-Python language (bash, json, text, ...) are ignored unless nothing else is
   there. Of the rest, the longest block wins when it is a whole program (it imports something); otherwise the
   blocks are pieces of one program and are joined in order.
2. No fence: the answer from its first line that starts like Python code (import, from, def, class, a decorator)
   down to the last line that still parses, so prose before and after is dropped.
An answer without code raises NoCodeFound, which the draft records as its failure reason.
"""

from __future__ import annotations

import ast
import re

PYTHON_TAGS = {"", "python", "python3", "py", "jax", "python-jax"}
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]{0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[^\s`]*)[^\n`]*$")
_CODE_START = re.compile(r"^(import \w|from [\w.]+ import |def \w|class \w|@\w|async def \w|#!)")


class NoCodeFound(ValueError):
    """The answer holds no program."""


def extract_code(answer: str) -> str:
    """The program in `answer`; raises NoCodeFound with a reason when there is none."""
    text = answer.replace("\r\n", "\n")
    blocks = _fenced_blocks(text)
    if blocks:
        code = _choose(blocks)
        if code.strip():
            return code.strip("\n") + "\n"
        raise NoCodeFound("The answer's code block is empty.")
    code = _unfenced_code(text)
    if code:
        return code
    raise NoCodeFound(f"The answer contains no code: {_preview(answer)!r}")


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, body) of every fenced block, in order."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match["fence"]
        closing = re.compile(rf"^[ \t]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append((match["tag"].lower(), "\n".join(body)))
        i += 1
    return blocks


def _choose(blocks: list[tuple[str, str]]) -> str:
    candidates = [body for tag, body in blocks if tag in PYTHON_TAGS and body.strip()]
    if not candidates:
        candidates = [body for _, body in blocks if body.strip()]
    if not candidates:
        return ""
    longest = max(candidates, key=len)
    if len(candidates) == 1 or re.search(r"^\s*(import|from)\s", longest, re.MULTILINE):
        return longest
    return "\n\n".join(body.strip("\n") for body in candidates)


def _unfenced_code(text: str) -> str:
    lines = text.split("\n")
    start = next((n for n, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return ""
    for end in range(len(lines), start, -1):
        chunk = "\n".join(lines[start:end]).strip("\n")
        if chunk and _parses(chunk):
            return chunk + "\n"
    return ""


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _preview(answer: str, limit: int = 200) -> str:
    flat = " ".join(answer.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
