"""What an imported sample says about itself: a title from its first docstring or comment line, a difficulty
from a TorchLeet-style key (e1, m3, h10: easy, medium, hard), as the paper's dataset names its examples."""

from __future__ import annotations

import ast
import io
import re
import tokenize

from annotate.models import Difficulty

TITLE_MAX = 200  # Sample.title's max_length
_KEY_DIFFICULTY = {"e": Difficulty.EASY, "m": Difficulty.MEDIUM, "h": Difficulty.HARD}
_KEY = re.compile(r"([emh])\d+", re.IGNORECASE)
# Comments that are instructions to a tool, not a description of the program.
_NOT_A_TITLE = re.compile(r"\s*(!|-\*-|noqa|type:|fmt:|pylint:|pragma|coding[:=])", re.IGNORECASE)


def title_from_code(code: str) -> str:
    """The first line of the module docstring, else of the first descriptive comment; "" when there is none
    (or the code does not parse: the title is a convenience, never a reason to refuse an import)."""
    try:
        docstring = ast.get_docstring(ast.parse(code))
    except (SyntaxError, ValueError):
        docstring = None
    if docstring and docstring.strip():
        return _line(docstring)
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            text = token.string.lstrip("#")
            if token.type == tokenize.COMMENT and text.strip() and not _NOT_A_TITLE.match(text):
                return _line(text)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return ""


def difficulty_from_key(key: str) -> str:
    """easy, medium or hard for a key like e1, m3 or h10; "" for any other key."""
    match = _KEY.fullmatch(key)
    return _KEY_DIFFICULTY[match.group(1).lower()] if match else ""


def _line(text: str) -> str:
    first = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    return first[:TITLE_MAX]
