"""Error texts as data: the exception type an error names, and its words without what differs between runs.

Pure functions over strings (no Django, no database), shared by the category suggestion (annotate.taxonomy)
and the similar-fix search (annotate.similarity), and meant to be reused unchanged by a database full-text
index: `normalize` is what such an index should store for an error, `tokens` what it should match on.

What is stripped is what two runs of the same bug do not share: URLs (every Flax and JAX error ends with a
link to its documentation page), file paths, memory addresses, line numbers and tracer reprs such as
`Traced<ShapedArray(float32[3])>with<DynamicJaxprTrace(level=1/0)>` or `JitTracer(~float32[])`.
"""

from __future__ import annotations

import keyword
import re

_URL = re.compile(r"\(?\s*(?:see\s+)?(?:https?://|www\.)[^\s)]+\)?", re.IGNORECASE)
# A path has at least two components ("/usr/lib/python3.11/x.py", "site-packages/jax/_src/api.py"), or is a
# lone Python file name ("main.py").
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.\-~]*/){2,}[\w.\-<>]*|\b[\w\-]+\.py\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_LINE = re.compile(r"\bline \d+\b|(?<=\.py):\d+\b", re.IGNORECASE)
_TRACER = re.compile(
    r"Traced<(?:[^<>]|<[^<>]*>)*>(?:with<(?:[^<>]|<[^<>]*>)*>)?"  # Traced<ShapedArray(...)>with<...>
    r"|\b\w*Tracer\((?:[^()]|\([^()]*\))*\)"  # JitTracer(~float32[]), DynamicJaxprTracer(...)
)
_DID_YOU_MEAN = re.compile(r"\bDid you mean:?", re.IGNORECASE)  # Python's hint; the name it suggests stays
_SPACES = re.compile(r"[ \t]+")

# "TypeError: ...", "flax.errors.ScopeCollectionNotFound: ...", "jax.errors.KeyReuseError(...)" at the start of
# a line, or "raised TypeError: ..." inside a sentence (a contract's mismatch quoting the translation's error).
_TYPE_NAME = r"[A-Z][A-Za-z0-9]*(?:Error|Exception|Exit|Interrupt|Iteration|NotFound|Warning)"
_TYPE_AT_LINE_START = re.compile(rf"^\s*(?:[A-Za-z_][\w]*\.)*({_TYPE_NAME})(?=\s*(?::|\(|$))", re.MULTILINE)
_TYPE_RAISED = re.compile(rf"\braised (?:[A-Za-z_][\w]*\.)*({_TYPE_NAME})\b")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Words of nearly every error text or snippet, and the fixed wording of Python's own messages ("missing 1 required
# positional argument", "object has no attribute", "No module named"): they tell no two errors apart.
STOP_WORDS = frozenset(
    """a an the of to in is are was were be been and or for on with by as it its this that these those not no at
    from into than then there their which who what when where while if else so but can cannot could should would
    will may might must do does did has have had got get gets use used using here also only such more most other
    any all each one two self return def none true false pass import error errors exception see
    traceback most recent call last file line because unexpected type argument arguments missing required
    positional keyword given takes object attribute module named name defined value class instance""".split()
) | frozenset(keyword.kwlist)


def normalize(text: str) -> str:
    """The error text without URLs, paths, addresses, line numbers and tracer reprs; spaces collapsed."""
    text = _URL.sub(" ", text or "")
    text = _TRACER.sub(" tracer ", text)
    text = _LINE.sub(" ", text)  # before paths: "main.py:3" loses its line number, then its name
    text = _PATH.sub(" ", text)
    text = _HEX.sub(" ", text)
    text = _DID_YOU_MEAN.sub(" ", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines() if line.strip())


def exception_type(text: str) -> str:
    """The class name of the exception an error text reports ('' for prose): 'TypeError' for
    'TypeError: ...', 'ScopeCollectionNotFound' for 'flax.errors.ScopeCollectionNotFound: ...'.

    The first line that starts with one wins; a sentence quoting one ("... raised TypeError: ...") counts
    when no line starts with one. URLs are ignored: a documentation link names the type of any error.
    """
    text = _URL.sub(" ", text or "")
    match = _TYPE_AT_LINE_START.search(text) or _TYPE_RAISED.search(text)
    return match.group(1) if match else ""


def message(text: str) -> str:
    """The error text after its exception type ("TypeError: x" gives "x"); prose is returned whole."""
    type_name = exception_type(text)
    if not type_name:
        return text or ""
    head, _, rest = (text or "").partition(type_name)
    return head + rest.lstrip(":( ")


def words(text: str) -> list[str]:
    """Identifier-like words of `text` in order, as written (no case change, nothing dropped)."""
    return _WORD.findall(text or "")


def tokens(text: str) -> list[str]:
    """Lower-case search tokens: each word, plus the parts of snake_case and CamelCase names; stop words and
    one-letter words dropped. Apply `normalize` first for error texts."""
    found: list[str] = []
    for word in words(text):
        lower = word.lower()
        if len(lower) > 1 and lower not in STOP_WORDS:
            found.append(lower)
        parts = [part.lower() for piece in word.split("_") for part in _CAMEL.findall(piece)]
        if len(parts) > 1:
            found.extend(part for part in parts if len(part) > 1 and not part.isdigit() and part not in STOP_WORDS)
    return found


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines only in `before` (removed) and only in `after` (added), stripped, blank lines left out.

    A set difference, not a diff: enough to tell what a fix touched, and cheap on long programs.
    """
    old = [line.strip() for line in (before or "").splitlines() if line.strip()]
    new = [line.strip() for line in (after or "").splitlines() if line.strip()]
    old_set, new_set = set(old), set(new)
    return [line for line in old if line not in new_set], [line for line in new if line not in old_set]
