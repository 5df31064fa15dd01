"""Pure text helpers for code edits: a line diff, the changed region with context, the size of an edit.

No database, no session: fixlog, the step prefill and the save-conflict message call them with two texts.
"""

from __future__ import annotations

from diff_match_patch import diff_match_patch

# Lines of unchanged code kept around the changed region of a step's erroneous/corrected code.
CONTEXT_LINES = 2


def line_diff(before: str, after: str) -> list[tuple[int, str]]:
    """Line-level diff with diff-match-patch: [(op, text)] where op is -1 removed, 0 same, 1 added."""
    dmp = diff_match_patch()
    chars_before, chars_after, lines = dmp.diff_linesToChars(before, after)
    diffs = dmp.diff_main(chars_before, chars_after, False)
    dmp.diff_charsToLines(diffs, lines)
    return [(op, text) for op, text in diffs if text]


def changed_region(before: str, after: str, context: int = CONTEXT_LINES) -> tuple[str, str]:
    """The erroneous and corrected code: the changed lines of `before`/`after` with `context` lines around."""
    before_lines = before.splitlines(keepends=True)
    after_lines = after.splitlines(keepends=True)
    first_b = first_a = last_b = last_a = None
    pos_b = pos_a = 0
    for op, text in line_diff(before, after):
        n = len(text.splitlines(keepends=True))
        if op != 0:
            if first_b is None:
                first_b, first_a = pos_b, pos_a
            last_b = pos_b + (n if op == -1 else 0)
            last_a = pos_a + (n if op == 1 else 0)
        if op <= 0:
            pos_b += n
        if op >= 0:
            pos_a += n
    if first_b is None:
        return "", ""
    start_b, start_a = max(0, first_b - context), max(0, first_a - context)
    return (
        "".join(before_lines[start_b : last_b + context]),
        "".join(after_lines[start_a : last_a + context]),
    )


def edit_size(before: str, after: str) -> int:
    """Characters inserted plus deleted (Levenshtein-style size of the edit)."""
    dmp = diff_match_patch()
    diffs = dmp.diff_main(before, after)
    return sum(len(text) for op, text in diffs if op != 0)
