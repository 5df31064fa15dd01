"""Shared fix steps similar to an error: what the workspace suggests beside the record-step form.

A step is found by its exception type, its error message and the code its fix changed (the lines that differ
between its erroneous and corrected code), not by boilerplate: URLs, paths, addresses, line numbers and tracer
reprs are stripped first (annotate.error_text, the pure part a database full-text index can reuse). Ranking is
Okapi BM25 over those tokens plus a boost for the same exception type. Below a relevance floor nothing is
suggested: a query must share the same exception type and some telling words, or a good share of its
telling words, with a step (words weighted by how rare they are among the steps). Each suggestion says why it
matched.

`similar_steps(...)` is the one entry point. The index over FixStep.objects.shared() is cached per process and
rebuilt only when the set of shared steps changes (its count, largest id and id sum change together with any
step added, retracted, or shared or unshared by a session's status; the newest creation time guards against
ids reused after a rolled-back transaction).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.db.models import Count, Max, QuerySet, Sum
from rank_bm25 import BM25Okapi

from annotate import error_text
from annotate.models import FixStep

# A query matches a step when it shares a specific exception type and at least TYPE_FLOOR of its message's token
# weight, or WORD_FLOOR of it otherwise (token weight = the token's idf among the indexed steps). Python's generic
# exception types say too little to lower the floor; they still lift the ranking.
TYPE_FLOOR = 0.2
WORD_FLOOR = 0.4
GENERIC_TYPES = frozenset(
    "Exception RuntimeError TypeError ValueError AttributeError NameError KeyError IndexError AssertionError "
    "NotImplementedError ImportError ModuleNotFoundError UnboundLocalError".split()
)
# The same exception type adds this share of the best score: it lifts a step without drowning the words.
TYPE_BOOST = 0.25
SHOWN_TOKENS = 5


class _BM25(BM25Okapi):
    """Okapi BM25 with Lucene's always-positive idf: the classic idf is zero or negative for terms in half the
    documents or more, which in a small dataset (a handful of verified steps) hides the best match."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def tokenize(text: str) -> list[str]:
    """Search tokens of a text (an error, a snippet, a prompt): normalised, then split into words."""
    return error_text.tokens(error_text.normalize(text))


def step_tokens(error: str, error_code: str = "", fixed_code: str = "") -> list[str]:
    """What a step is indexed by: its error's tokens and those of the lines its fix changed."""
    removed, added = error_text.changed_lines(error_code, fixed_code)
    return tokenize(error) + tokenize("\n".join(removed + added))


@dataclass(frozen=True)
class SimilarStep:
    """A suggested shared step, how well it matched, and why."""

    step: FixStep
    score: float
    shared_type: str  # the exception type the query and the step share, "" if none
    shared_tokens: tuple[str, ...]  # the rarest words they share, rarest first

    @property
    def why(self) -> str:
        reasons = [f"same exception type {self.shared_type}"] if self.shared_type else []
        if self.shared_tokens:
            reasons.append("shared words: " + ", ".join(self.shared_tokens))
        return "; ".join(reasons)


@dataclass
class _Index:
    signature: tuple
    step_ids: list[int]
    session_ids: list[int]
    sample_keys: list[str]
    types: list[str]
    token_sets: list[frozenset[str]]
    bm25: _BM25 | None


_CACHE_SIZE = 16
_cache: dict[str, _Index] = {}
_lock = threading.Lock()


def similar_steps(
    error: str,
    code: str = "",
    *,
    limit: int = 5,
    exclude_sample_keys: Collection[str] = (),
    exclude_session: int | None = None,
    steps: QuerySet | None = None,
) -> list[SimilarStep]:
    """Up to `limit` shared steps (or steps of the given queryset) similar to the error and its code, best first;
    none above the relevance floor gives an empty list."""
    query = tokenize(error) + tokenize(code)
    if not query or limit < 1:
        return []
    index = _index_for(steps if steps is not None else FixStep.objects.shared())
    if index.bm25 is None:
        return []
    query_type = error_text.exception_type(error_text.normalize(error))
    type_tokens = set(tokenize(query_type))  # said by "same exception type", not repeated as shared words
    scores = index.bm25.get_scores(query)
    # The floor is measured on the words of the error's message (the code's, for a query without one): a long
    # snippet must not dilute a telling error, and the type is weighed apart.
    weights = {token: _idf(index, token) for token in set(tokenize(error_text.message(error)) or query)}
    total = sum(weights.values())
    top = max(scores) if len(scores) else 0.0
    excluded = set(exclude_sample_keys)
    found: list[tuple[float, int, str, tuple[str, ...]]] = []
    for i, step_id in enumerate(index.step_ids):
        if scores[i] <= 0 or index.sample_keys[i] in excluded or index.session_ids[i] == exclude_session:
            continue
        coverage = sum(weights[token] for token in set(weights) & index.token_sets[i]) / total
        same_type = query_type if query_type and query_type == index.types[i] else ""
        if coverage < (TYPE_FLOOR if same_type and same_type not in GENERIC_TYPES else WORD_FLOOR):
            continue
        shared = (set(query) - type_tokens) & index.token_sets[i]
        rarest = tuple(sorted(shared, key=lambda token: (-_idf(index, token), token))[:SHOWN_TOKENS])
        found.append((float(scores[i]) + (TYPE_BOOST * top if same_type else 0.0), step_id, same_type, rarest))
    found = sorted(found, key=lambda item: (-item[0], item[1]))[:limit]
    rows = FixStep.objects.select_related("session__translation__sample").in_bulk([item[1] for item in found])
    return [SimilarStep(rows[step_id], score, same_type, rarest) for score, step_id, same_type, rarest in found]


def rank_steps(query: str, steps: Sequence[FixStep]) -> list[tuple[FixStep, float]]:
    """All `steps` with their BM25 score for `query`, best first (no floor, no caching: for small ad-hoc sets,
    e.g. ordering the examples of a T2J prompt by relevance to a sample)."""
    if not steps:
        return []
    documents = [(step_tokens(step.error, step.error_code, step.fixed_code) + tokenize(step.fix_info)) or ["_"]
                 for step in steps]  # fmt: skip
    scores = _BM25(documents).get_scores(tokenize(query))
    return sorted(zip(steps, (float(s) for s in scores), strict=True), key=lambda pair: -pair[1])


def _idf(index: _Index, token: str) -> float:
    # A token no step has counts against the match like one only a single step has.
    return index.bm25.idf.get(token) or math.log(1 + (index.bm25.corpus_size - 0.5) / 1.5)


def _index_for(steps: QuerySet) -> _Index:
    # The queryset's SQL tells the default shared set from a caller's own queryset.
    cache_key = f"{steps.db}:{steps.order_by().values('pk').query}"
    signature = tuple(
        steps.order_by().aggregate(n=Count("pk"), top=Max("pk"), total=Sum("pk"), newest=Max("created_at")).values()
    )
    with _lock:
        cached = _cache.get(cache_key)
    if cached is not None and cached.signature == signature:
        return cached
    rows = list(
        steps.order_by("pk").values_list(
            "pk", "session_id", "session__translation__sample__key", "error", "error_code", "fixed_code"
        )
    )
    documents = [step_tokens(error, error_code, fixed_code) or ["_"] for *_, error, error_code, fixed_code in rows]
    index = _Index(
        signature=signature,
        step_ids=[row[0] for row in rows],
        session_ids=[row[1] for row in rows],
        sample_keys=[row[2] for row in rows],
        types=[error_text.exception_type(error_text.normalize(row[3])) for row in rows],
        token_sets=[frozenset(document) for document in documents],
        bm25=_BM25(documents) if documents else None,
    )
    with _lock:
        if len(_cache) >= _CACHE_SIZE and cache_key not in _cache:
            _cache.pop(next(iter(_cache)))  # the oldest entry: callers' own querysets must not pile up
        _cache[cache_key] = index
    return index
