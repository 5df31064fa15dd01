"""Shared fix steps similar to an error: what the workspace suggests beside the record-step form, and the
relevance order of the T2J prompt's examples.

A step is found by its exception type, its error message and the code its fix changed (the lines that differ
between its erroneous and corrected code), not by boilerplate: URLs, paths, addresses, line numbers and tracer
reprs are stripped first (annotate.error_text). Ranking is Okapi BM25 (k1 = 1.5, b = 0.75, Lucene's
always-positive idf log(1 + (N - df + 0.5) / (df + 0.5)); Robertson & Zaragoza 2009) over those tokens plus a
boost for the same exception type. Below a relevance floor nothing is suggested: a query must share the same
exception type and some telling words, or a good share of its telling words, with a step (words weighted by
their idf). Each suggestion says why it matched.

The tokens live in the database (annotate.similarity_index, kept up to date as steps are written and sessions
verified, reopened, abandoned or imported); BM25 is computed by one SQL query over the postings of the query's
own tokens, the same SQL on SQLite and PostgreSQL, so both rank alike. A query reads at most POSTING_BUDGET
postings: its tokens are taken rarest first, and a token so common that its postings would pass the budget is
left out of the score (it still counts, with its idf, in the floor's total). Below the budget — any query on a
dataset of a few thousand steps, and an error's message on any — the ranking is exact BM25.

A T2J prompt's ranking (ranked_steps) is cached across processes under the index's generation
(annotate.similarity_index.GENERATION, moved on by every change to the shared steps): drafting jobs, the arms of an
experiment and the prompt preview rank the same sample again and again between two verifications.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass

from django.core.cache import caches
from django.db import connection
from django.db.models import Count, QuerySet, Sum

from annotate import error_text, similarity_index
from annotate.models import FixSession, FixStep, Sample, StepIndexEntry, StepIndexTerm, StepIndexToken, Translation
from annotate.similarity_index import LENGTH_TOTAL, MAX_TOKEN_LENGTH, STEPS_TOTAL, step_tokens, tokenize

__all__ = ["SimilarStep", "similar_steps", "ranked_steps", "step_tokens", "tokenize"]

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
K1, B = 1.5, 0.75
# Postings one query may read (rows of the postings index): some 30 ms of SQL on a shared 2-core machine.
POSTING_BUDGET = 25_000
# ranked_steps' results, kept in this cache (settings.CACHES: shared by every process) under the index's
# generation: a drafting job, each arm of an experiment and the prompt preview rank the same sample again and
# again, and the ranking changes only when the shared steps do.
RANKING_CACHE = "similarity"
RANKING_SECONDS = 24 * 3600  # a generation rarely lives this long; the key makes older entries unreachable


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
    none above the relevance floor gives an empty list. Two queries (the statistics, then the ranking with the
    suggested steps), whatever the number of steps and whether any is suggested."""
    query = tokenize(error) + tokenize(code)
    if not query or limit < 1:
        return []
    query_type = error_text.exception_type(error_text.normalize(error))
    type_tokens = set(tokenize(query_type))
    # The floor is measured on the words of the error's message (the code's, for a query without one): a long
    # snippet must not dilute a telling error, and the type is weighed apart. The type's own sub-words ("zero",
    # "division" of ZeroDivisionError: division by zero) say no more than the type: they do not count, and a
    # message made only of them leaves the type's name itself to be matched (seen: `zero_grad` steps suggested).
    words = set(tokenize(error_text.message(error)) or query)
    message = (words - type_tokens) or ({query_type.lower()} & type_tokens) or words
    search = _Search(_corpus(steps), query, message)
    if not search.scored:  # no step has any of the words
        return []
    exclusions, params = [], []
    if exclude_session is not None:
        exclusions.append(f"s.id NOT IN (SELECT step_id FROM {_ENTRY} WHERE session_id = %s)")
        params.append(exclude_session)
    if exclude_sample_keys:
        keys = list(exclude_sample_keys)
        samples = f"SELECT id FROM {Sample._meta.db_table} WHERE key IN ({_marks(keys)})"
        exclusions.append(f"s.id NOT IN (SELECT step_id FROM {_ENTRY} WHERE sample_id IN ({samples}))")
        params += keys
    type_floor = TYPE_FLOOR if query_type not in GENERIC_TYPES else WORD_FLOOR
    rows = search.similar(limit, query_type or None, (type_floor, WORD_FLOOR), exclusions, params)
    # The words a step shares with the query are its indexed tokens (step_tokens, as the postings hold them) among
    # the query's: found from the step's own texts, read with it, rather than asked of the postings again.
    shown = {token for token in query if len(token) <= MAX_TOKEN_LENGTH} - type_tokens  # the type: said apart
    found = []
    for step, score, same_type in rows:
        shared = shown.intersection(step_tokens(step.error, step.error_code, step.fixed_code))
        rarest = sorted(shared, key=lambda token: (-search.idf(token), token))[:SHOWN_TOKENS]
        found.append(SimilarStep(step, float(score), query_type if same_type else "", tuple(rarest)))
    return [suggestion for suggestion in found if suggestion.why]  # never a suggestion without a reason


def ranked_steps(text: str, *, limit: int, exclude_sample: int | None = None) -> list[tuple[int, str, float]]:
    """Up to `limit` shared steps by BM25 relevance to `text` (e.g. a PyTorch program), best first, as
    (step id, category, score); no floor, no type boost; steps of sample `exclude_sample` left out.

    A ranking of the same text and sample under the same index generation, ranked before to at least `limit`
    steps (or to all there were), is read from RANKING_CACHE: two queries (the generation, the cache), no
    tokenizing. The order is total (score, then id), so a shorter ranking is the longer one's head. Else the text
    is ranked (two more queries: the statistics, then the ranking) and the ranking stored."""
    if limit < 1:
        return []
    generation = similarity_index.generation()
    digest = hashlib.sha256(text.encode()).hexdigest()
    cache, key = caches[RANKING_CACHE], f"ranked:{generation}:{exclude_sample}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        ranked_to, ranking = cached
        if limit <= ranked_to or len(ranking) < ranked_to:
            return ranking[:limit]
    ranking = _ranked(tokenize(text), limit, exclude_sample)
    cache.set(key, (limit, ranking), RANKING_SECONDS)
    return ranking


def _ranked(query: list[str], limit: int, exclude_sample: int | None) -> list[tuple[int, str, float]]:
    search = _Search(_corpus(None), query, set()) if query else None
    if search is None or not search.scored:
        return []
    return [(step_id, category, float(score)) for step_id, score, category in search.ranked(limit, exclude_sample)]


@dataclass(frozen=True)
class _Corpus:
    """The steps a search ranks: a condition on the postings (alias t) and the same set of index entries."""

    where: str
    params: tuple
    entries: QuerySet
    terms: QuerySet
    counted: bool = False  # the totals and document frequencies are kept in StepIndexToken (the shared steps)

    def statistics(self, tokens: Collection[str]) -> tuple[int, int, dict[str, int]]:
        """(N, the sum of the document lengths, {token: df} for the tokens some step has): one query for the
        shared steps, two for a caller's own set."""
        if self.counted:
            kept = StepIndexToken.objects.filter(token__in=[*tokens, STEPS_TOTAL, LENGTH_TOTAL], df__gt=0)
            df = dict(kept.values_list("token", "df"))
            return df.pop(STEPS_TOTAL, 0), df.pop(LENGTH_TOTAL, 0), df
        stats = self.entries.aggregate(n=Count("pk"), length=Sum("length"))
        counts = self.terms.filter(token__in=tokens).values("token").annotate(df=Count("pk"))
        return stats["n"] or 0, stats["length"] or 0, dict(counts.values_list("token", "df"))


def _corpus(steps: QuerySet | None) -> _Corpus:
    if steps is None:
        return _Corpus(
            "t.shared = %s",
            (True,),
            StepIndexEntry.objects.filter(shared=True),
            StepIndexTerm.objects.filter(shared=True),
            counted=True,
        )
    ids = steps.order_by().values("pk")
    sql, params = ids.query.sql_with_params()
    return _Corpus(
        f"t.entry_id IN ({sql})",
        tuple(params),
        StepIndexEntry.objects.filter(step_id__in=ids),
        StepIndexTerm.objects.filter(entry_id__in=ids),
    )


class _Search:
    """BM25 statistics of a query over a corpus, then the scoring query itself."""

    def __init__(self, corpus: _Corpus, query: list[str], cover: set[str]) -> None:
        self.corpus = corpus
        self.n, length, self.df = corpus.statistics(set(query) | cover)
        self.avgdl = length / self.n if self.n else 1.0
        self.counts = {token: query.count(token) for token in set(query)}
        self.cover = {token: self.idf(token) for token in cover}
        self.total_weight = sum(self.cover.values())
        # Rarest first, within the posting budget; a token no step has adds nothing to any score.
        self.scored: list[str] = []
        budget = POSTING_BUDGET
        for token in sorted(self.df, key=lambda token: (self.df[token], token)):
            if self.df[token] <= budget:
                self.scored.append(token)
                budget -= self.df[token]

    def idf(self, token: str) -> float:
        """Lucene's idf; a token no step has counts like one a single step has (for the floor's weights)."""
        df = self.df.get(token) or 1
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def ranked(self, limit: int, exclude_sample: int | None) -> list[tuple[int, float, str]]:
        """[(step id, BM25 score, category)], best first, at most `limit`; no floor, no boost."""
        scored, params = self._scored_sql()
        # The sample's own steps are left out of the best `limit` + as many as it has, not out of every posting
        # read: the same steps, without a lookup per posting (a third of the query's time at L).
        if exclude_sample is None:
            best, outside, values = "%s", "", [limit]
        else:
            best = f"%s + (SELECT COUNT(*) FROM {_ENTRY} WHERE sample_id = %s)"
            outside = f"WHERE b.id NOT IN (SELECT step_id FROM {_ENTRY} WHERE sample_id = %s)"
            values = [limit, exclude_sample, exclude_sample]
        sql = f"""{scored},
            best AS (SELECT id, score FROM scored WHERE score > 0 ORDER BY score DESC, id LIMIT {best})
            SELECT b.id, b.score, (SELECT e.category FROM {_ENTRY} e WHERE e.step_id = b.id)
            FROM best b {outside} ORDER BY b.score DESC, b.id LIMIT %s
        """
        return self._fetch(sql, [*params, *values, limit])

    def similar(self, limit: int, query_type: str | None, floors: tuple[float, float], exclusions: list[str],
                exclusion_params: list) -> list[tuple[FixStep, float, int]]:  # fmt: skip
        """[(step, score with the type boost, same exception type 0/1)] above the floor, best first, each step read
        in the same query with what a suggestion shows (_SUGGESTION_FIELDS and its sample's key). `floors`: the
        share of the message's weight a step must cover with the same exception type, and without."""
        scored, params = self._scored_sql()
        type_floor, word_floor = floors
        total = self.total_weight
        # Each candidate's type is looked up by its key (a scalar subquery), never by joining the whole entry
        # table: PostgreSQL would hash-join every entry for a thousand candidates.
        sql = f"""{scored},
            top AS (SELECT MAX(score) AS top FROM scored),
            candidates AS MATERIALIZED (
                SELECT s.id, s.score, s.covered,
                       (SELECT e.exception_type FROM {_ENTRY} e WHERE e.step_id = s.id) AS exception_type
                FROM scored s
                WHERE s.score > 0 AND s.covered >= %s{"".join(f" AND {condition}" for condition in exclusions)}
            ),
            best AS (
                SELECT c.id, c.score + (CASE WHEN c.exception_type = %s THEN %s * top.top ELSE 0 END) AS final,
                       CASE WHEN c.exception_type = %s THEN 1 ELSE 0 END AS same_type
                FROM candidates c CROSS JOIN top
                WHERE c.covered >= (CASE WHEN c.exception_type = %s THEN %s ELSE %s END) * %s
                ORDER BY final DESC, c.id
                LIMIT %s
            )
            SELECT b.final, b.same_type, {_SUGGESTION_COLUMNS}
            FROM best b
                JOIN {_STEP} st ON st.id = b.id
                JOIN {_SESSION} se ON se.id = st.session_id
                JOIN {_TRANSLATION} tr ON tr.id = se.translation_id
                JOIN {_SAMPLE} sa ON sa.id = tr.sample_id
            ORDER BY b.final DESC, b.id
        """
        values = [*params, min(floors) * total, *exclusion_params, query_type, TYPE_BOOST, query_type]
        values += [query_type, type_floor, word_floor, total, limit]
        return [(_suggested_step(row[2:]), row[0], row[1]) for row in self._fetch(sql, values)]

    def _scored_sql(self) -> tuple[str, list]:
        """The CTEs `q` (the scored tokens, their weight = count in the query × idf, and their weight in the
        floor's total) and `scored` (per step: BM25 score and the floor weight it covers), with their params.
        Computed once (MATERIALIZED): the best score and the candidates both read it."""
        rows = [(token, float(self.counts.get(token, 0) * self.idf(token)), float(self.cover.get(token, 0.0)))
                for token in self.scored]  # fmt: skip
        sql = f"""
            WITH q (token, weight, cover) AS (VALUES {", ".join([f"(%s, {_FLOAT}, {_FLOAT})"] * len(rows))}),
            scored AS MATERIALIZED (
                SELECT t.entry_id AS id,
                       SUM(ROUND(q.weight * t.tf * {K1 + 1} / (t.tf + {K1} * ({1 - B} + {B} * t.doc_length / {_FLOAT}))
                                 * {SCORE_SCALE})) / {SCORE_SCALE} AS score,
                       SUM(q.cover) AS covered
                FROM {_TERM} t JOIN q ON q.token = t.token
                WHERE {self.corpus.where}
                GROUP BY t.entry_id
            )"""
        return sql, [*(value for row in rows for value in row), float(self.avgdl), *self.corpus.params]

    @staticmethod
    def _fetch(sql: str, params: list) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


# Each posting's share of a score is rounded to 1e-9 (a whole number of these units) before the sum: a sum of whole
# numbers is exact in any order, so steps with the same words score exactly alike, and rank by id, whatever order
# the engine's plan adds them in (PostgreSQL's sort-then-group and hash-group plans gave 1-ulp differences).
SCORE_SCALE = 1_000_000_000
# Floating point on both engines: PostgreSQL reads a literal 1.5 as NUMERIC, whose arithmetic is several times
# slower over thousands of postings.
_FLOAT = "CAST(%s AS DOUBLE PRECISION)"
_ENTRY = StepIndexEntry._meta.db_table
_TERM = StepIndexTerm._meta.db_table
_STEP, _SESSION = FixStep._meta.db_table, FixSession._meta.db_table
_TRANSLATION, _SAMPLE = Translation._meta.db_table, Sample._meta.db_table
# A suggestion's step as the step form shows it (and its shared words need): no programs. In the model's field
# order, which Model.from_db expects.
_SUGGESTION_FIELDS = tuple(
    field.attname for field in FixStep._meta.concrete_fields
    if field.attname in {"id", "session_id", "index", "error", "error_code", "fix_info", "fixed_code", "category"}
)  # fmt: skip
_SUGGESTION_COLUMNS = ", ".join(
    [f"st.{connection.ops.quote_name(FixStep._meta.get_field(name).column)}" for name in _SUGGESTION_FIELDS]
    + ["se.translation_id", "tr.sample_id", f"sa.{connection.ops.quote_name('key')}"]
)


def _suggested_step(values: tuple) -> FixStep:
    """A step from a row of _SUGGESTION_COLUMNS, with its session, translation and sample (only the sample's key)
    attached as select_related would: the template reaches the key without a query."""
    step = FixStep.from_db(connection.alias, _SUGGESTION_FIELDS, values[: len(_SUGGESTION_FIELDS)])
    translation_id, sample_id, key = values[len(_SUGGESTION_FIELDS) :]
    translation = Translation.from_db(connection.alias, ("id", "sample_id"), (translation_id, sample_id))
    translation.sample = Sample.from_db(connection.alias, ("id", "key"), (sample_id, key))
    step.session = FixSession.from_db(connection.alias, ("id", "translation_id"), (step.session_id, translation_id))
    step.session.translation = translation
    return step


def _marks(values: Collection) -> str:
    return ", ".join(["%s"] * len(values))
