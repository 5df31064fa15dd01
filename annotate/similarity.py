"""The shared fix steps most similar to an error and its code: BM25 over identifier and word tokens.

The workspace asks on every error, so the index over FixStep.objects.shared() is cached per process and
rebuilt only when the set of shared steps changes (its count, largest id and id sum change together with
any step added, retracted, or shared or unshared by a session's status; the newest creation time guards
against ids reused after a rolled-back transaction).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from django.db.models import Count, Max, QuerySet, Sum
from rank_bm25 import BM25Okapi

from annotate.models import FixStep

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Words that appear in nearly every Python/JAX snippet or error and only add noise.
_STOP = frozenset("the a an of to in is and or for on with be by as it this that not at from self def return".split())


class _BM25(BM25Okapi):
    """Okapi BM25 with Lucene's always-positive idf: the classic idf is zero or negative for terms in half the
    documents or more, which in a small dataset (a handful of verified steps) hides the best match."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


def tokenize(text: str) -> list[str]:
    """Lower-case words and identifiers, plus the parts of snake_case and CamelCase names."""
    tokens: list[str] = []
    for word in _WORD.findall(text or ""):
        lower = word.lower()
        if lower in _STOP:
            continue
        tokens.append(lower)
        parts = [p.lower() for piece in word.split("_") for p in _CAMEL.findall(piece)]
        if len(parts) > 1:
            tokens.extend(p for p in parts if p not in _STOP)
    return tokens


def step_text(step: FixStep) -> str:
    """What a step is found by: its error message, the erroneous code and how it was fixed."""
    return f"{step.error}\n{step.error_code}\n{step.fix_info}"


def rank_steps(query: str, steps: Sequence[FixStep]) -> list[tuple[FixStep, float]]:
    """All `steps` with their BM25 score for `query`, best first (no caching: for small ad-hoc sets)."""
    if not steps:
        return []
    index = _BM25([tokenize(step_text(step)) or ["_"] for step in steps])
    scores = index.get_scores(tokenize(query))
    ranked = sorted(zip(steps, (float(s) for s in scores), strict=True), key=lambda pair: -pair[1])
    return ranked


@dataclass
class _Index:
    signature: tuple
    step_ids: list[int]
    sample_keys: list[str]
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
    steps: QuerySet | None = None,
) -> list[FixStep]:
    """Up to `limit` shared steps (or steps of the given queryset) most similar to the error and code."""
    query = tokenize(f"{error}\n{code}")
    if not query or limit < 1:
        return []
    index = _index_for(steps if steps is not None else FixStep.objects.shared())
    if index.bm25 is None:
        return []
    scores = index.bm25.get_scores(query)
    excluded = set(exclude_sample_keys)
    order = sorted(range(len(index.step_ids)), key=lambda i: -scores[i])
    chosen = [index.step_ids[i] for i in order if scores[i] > 0 and index.sample_keys[i] not in excluded][:limit]
    found = FixStep.objects.select_related("session__translation__sample").in_bulk(chosen)
    return [found[pk] for pk in chosen if pk in found]


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
    rows = list(steps.order_by("pk").values_list("pk", "session__translation__sample__key", "error", "error_code",
                                                 "fix_info"))  # fmt: skip
    documents = [tokenize(f"{error}\n{error_code}\n{fix_info}") or ["_"] for _, _, error, error_code, fix_info in rows]
    index = _Index(
        signature=signature,
        step_ids=[row[0] for row in rows],
        sample_keys=[row[1] for row in rows],
        bm25=_BM25(documents) if documents else None,
    )
    with _lock:
        if len(_cache) >= _CACHE_SIZE and cache_key not in _cache:
            _cache.pop(next(iter(_cache)))  # the oldest entry: callers' own querysets must not pile up
        _cache[cache_key] = index
    return index
