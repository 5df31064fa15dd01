"""The two drafting prompts: standard, and T2J (standard plus the bug-fix dataset of *other* samples).

Token estimate: no tokenizer can be downloaded here, so sizes are estimated conservatively as the UTF-8 bytes of
each message's text divided by 3, rounded up, plus 4 tokens per message and 3 for the reply's start. Common BPE
tokenizers average about 4 bytes of English or code per token, so the estimate runs high, never low: a prompt
within the estimated budget is within the real one.

The T2J dataset is JSON in the paper's field names (Example_id, Input_Code, LLM_weak_output, LLM_fix_output,
Errors with Error_Code, Error, Fix_info, Fixed_Code), one example per verified fix session, built only from
shared steps (counted steps of verified sessions) and never from the sample being drafted (leave-one-out).
When the whole dataset does not fit the system's token budget, steps are chosen by priority — first the most
relevant step of each error category (coverage), then the rest by relevance to the PyTorch source (BM25 over
the similar-fix index, annotate.similarity) — with long code fields trimmed (gently first, harder when a tight
budget would otherwise carry fewer than MIN_STEPS steps), taking each step only if the whole prompt still fits.
The budget covers the whole prompt, never only the dataset: a prompt over it is refused (PromptTooLarge), never
sent.

Work scales with the budget, not the dataset, and runs the same queries whatever its size: at most as many
candidates as the budget could hold even as empty error entries (`room / the bytes of an empty error entry`) are
ranked in the index, with the coverage steps and, when the ranking runs short, further steps read beside them
(ids, sessions and sizes only). When the index's sizes say the whole pool of candidates may fit untrimmed, it is
read whole; otherwise only the window of candidates the budget could reach at the harshest trim, were each to
cost its least (an empty entry and its index size, cut to what the harshest trim keeps at least, plus an empty
example for each new session), is read: each text up to _WHOLE_BYTES whole, a longer one cut in SQL to the head
and tail the gentlest trim keeps.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from annotate import similarity_index
from annotate.models import FixSession, FixStep, Sample, StepCategory, StepIndexEntry, System, SystemMode, Translation
from annotate.similarity import ranked_steps

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_OVERHEAD_TOKENS = 3
# Field lengths (characters: whole programs, code snippets, prose) once the dataset must be cut to fit, from
# gentle to harsh. The gentlest level that still fits MIN_STEPS steps wins: a few full examples teach more than
# many stubs, but a tight budget should still carry some fixes.
TRIM_LEVELS = ((1500, 800, 600), (600, 400, 300), (200, 200, 200), (0, 160, 160))
MIN_STEPS = 5
# JSON layout of the dataset: one line, default separators. The byte arithmetic in _Packer relies on it.
_SEPARATOR = ", "

SYSTEM_MESSAGE = (
    "You are an expert in PyTorch and JAX. You translate PyTorch programs into idiomatic JAX programs that "
    "run as they are and compute the same results."
)

TASK = """Translate the PyTorch program below into idiomatic, runnable JAX.

Requirements:
- Keep its behaviour: the same computations and the same printed results, up to floating-point tolerance.
- Randomness uses explicit PRNG keys (jax.random.PRNGKey, jax.random.split); never global random state.
- Functions are pure: parameters and state go in as arguments and come back as results; nothing is mutated in
  place (use .at[...].set(...) instead of item assignment).
- Where the source trains a model, use optax for the optimizer (flax.linen for modules if it helps).
- Import everything you use; only jax, jax.numpy, flax, optax and numpy are available.

Answer with exactly one Python code block holding the complete program."""

T2J_DATASET_INTRO = """Below is a dataset of bugs that developers found and fixed in earlier LLM translations of other \
PyTorch programs into JAX, as JSON. Each example has the PyTorch input (Input_Code), the weak LLM translation \
(LLM_weak_output), the fixed translation (LLM_fix_output) and the errors met on the way (Errors: the erroneous \
code Error_Code, the error message Error, how it was fixed Fix_info, the corrected code Fixed_Code). \
Learn from these fixes and do not repeat these mistakes."""


class PromptTooLarge(ValueError):
    """Even without any fix steps the prompt exceeds the system's token budget."""


@dataclass
class Prompt:
    messages: list[dict]
    estimated_tokens: int
    budget: int
    mode: str
    steps: list[FixStep] = field(default_factory=list)
    available_steps: int = 0
    trimmed: bool = False

    @property
    def step_ids(self) -> list[int]:
        return [step.pk for step in self.steps]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


def estimate_messages(messages: Sequence[dict]) -> int:
    return REPLY_OVERHEAD_TOKENS + sum(MESSAGE_OVERHEAD_TOKENS + estimate_tokens(m["content"]) for m in messages)


def budget_for(system: System) -> int:
    return system.token_budget or settings.T2J_PROMPT_TOKEN_BUDGET


def build_prompt(system: System, sample: Sample, *, step_ids: Sequence[int] | None = None) -> Prompt:
    """The exact messages `system` sends for `sample`. Raises PromptTooLarge when even the prompt without fix
    steps exceeds the system's budget.

    `step_ids` narrows the shared steps a T2J prompt may draw on, in priority order (an experiment's arm: the
    k most relevant, or chosen error categories); leave-one-out and the token budget still apply.
    """
    budget = budget_for(system)
    if system.mode == SystemMode.T2J:
        prompt = _t2j_prompt(sample, budget, step_ids)
    else:
        messages = standard_messages(sample)
        prompt = Prompt(messages, estimate_messages(messages), budget, SystemMode.STANDARD)
    if prompt.estimated_tokens > budget:
        raise PromptTooLarge(
            f"The prompt for {sample.key} needs about {prompt.estimated_tokens} tokens even without fix steps; "
            f"the budget of {system.name} is {budget}."
        )
    return prompt


def standard_messages(sample: Sample) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM_MESSAGE},
        {"role": "user", "content": f"{TASK}\n\nPyTorch program:\n{_fenced(sample.pytorch_code)}"},
    ]


def t2j_messages(sample: Sample, dataset_json: str) -> list[dict]:
    prefix, suffix = _t2j_user_parts(sample)
    return [
        {"role": "system", "content": SYSTEM_MESSAGE},
        {"role": "user", "content": prefix + dataset_json + suffix},
    ]


def _t2j_user_parts(sample: Sample) -> tuple[str, str]:
    prefix = f"{T2J_DATASET_INTRO}\n\nBug-fix dataset (JSON):\n"
    suffix = f"\n\n{TASK}\n\nPyTorch program:\n{_fenced(sample.pytorch_code)}"
    return prefix, suffix


Limits = tuple[int, int, int]  # characters kept of (whole programs, code snippets, prose)
# No step costs less than an error entry with empty fields, nor a session less than an empty example header.
_EMPTY_DATASET_BYTES = len(json.dumps({"Pytorch_to_JAX_Examples": []}))
_EMPTY_ENTRY_BYTES = len(json.dumps({"Error_Code": "", "Error": "", "Fix_info": "", "Fixed_Code": ""}))
_EMPTY_HEADER_BYTES = len(
    json.dumps({"Example_id": "", "Input_Code": "", "LLM_weak_output": "", "LLM_fix_output": "", "Errors": []})
)
# The fewest characters of a field the harshest trim keeps (all of a shorter one): head + tail of its limit.
_HARSHEST_KEPT = min((limit * 2) // 3 + limit // 3 for limit in TRIM_LEVELS[-1][1:])


class _Candidate(NamedTuple):
    """A shared step as the index knows it: enough to order it and to bound its cost, no text."""

    step_id: int
    session_id: int
    size: int  # characters of its Error_Code, Error, Fix_info and Fixed_Code (StepIndexEntry.size)


def _t2j_prompt(sample: Sample, budget: int, step_ids: Sequence[int] | None = None) -> Prompt:
    room = _room(sample, budget)
    # Each step takes at least an empty error entry: no more than this many can be in the prompt.
    limit = max(0, room // _EMPTY_ENTRY_BYTES + 1)
    if step_ids is None:
        shared = StepIndexEntry.objects.filter(shared=True)
        available = similarity_index.shared_steps() - shared.filter(sample_id=sample.pk).count()
        candidates = _by_priority(sample, limit)
    else:  # the caller's own order, of the steps that are shared and outside the sample
        pool = StepIndexEntry.objects.filter(shared=True, step_id__in=step_ids).exclude(sample_id=sample.pk)
        rows = {row[0]: _Candidate(*row) for row in pool.values_list("step_id", "session_id", "size")}
        available = len(rows)
        candidates = [rows[step_id] for step_id in dict.fromkeys(step_ids) if step_id in rows]
    if len(candidates) == available and _least_whole_bytes(candidates) <= room:
        # The whole dataset may fit: read it whole (its texts alone fit the budget's bytes).
        read = _read([candidate.step_id for candidate in candidates], None)
        steps = sorted(read.values(), key=lambda step: step.order)
        messages = t2j_messages(sample, dataset_json(steps))
        tokens = estimate_messages(messages)
        if tokens <= budget:
            return Prompt(messages, tokens, budget, SystemMode.T2J, _display(steps), available)
    else:
        window = _window(candidates, room)
        read = _read([candidate.step_id for candidate in window], TRIM_LEVELS[0])
    ordered = [read[candidate.step_id] for candidate in candidates if candidate.step_id in read]
    best: tuple[list[_Step], Limits] = ([], TRIM_LEVELS[-1])
    for limits in TRIM_LEVELS:
        chosen = _fit_to_budget(sample, ordered, budget, limits)
        if len(chosen) > len(best[0]):
            best = (chosen, limits)
        if len(chosen) >= min(MIN_STEPS, available):
            break
    chosen, limits = best
    messages = t2j_messages(sample, dataset_json(chosen, trim=limits))
    return Prompt(
        messages, estimate_messages(messages), budget, SystemMode.T2J, _display(chosen), available, trimmed=True
    )


def _least_whole_bytes(candidates: Sequence[_Candidate]) -> int:
    """A lower bound on the bytes of the untrimmed dataset JSON holding all `candidates`: each step costs at least
    an empty error entry plus its fields' characters, each session at least an empty example."""
    sessions = {candidate.session_id for candidate in candidates}
    size = sum(candidate.size for candidate in candidates)
    return _EMPTY_DATASET_BYTES + len(candidates) * _EMPTY_ENTRY_BYTES + size + len(sessions) * _EMPTY_HEADER_BYTES


def _window(candidates: Sequence[_Candidate], room: int) -> list[_Candidate]:
    """The candidates, in priority order, up to the first that would pass `room` at the harshest trim even if it
    and all before it cost their least: how far down the priority list the prompt looks."""
    least, sessions = _EMPTY_DATASET_BYTES, set()
    for n, candidate in enumerate(candidates):
        least += _EMPTY_ENTRY_BYTES + min(candidate.size, _HARSHEST_KEPT)
        if candidate.session_id not in sessions:
            least += _EMPTY_HEADER_BYTES
            sessions.add(candidate.session_id)
        if least > room:
            return list(candidates[: n + 1])
    return list(candidates)


def _room(sample: Sample, budget: int) -> int:
    """Bytes the dataset JSON may take in the user message for the whole prompt to stay within `budget`."""
    prefix, suffix = _t2j_user_parts(sample)
    fixed_tokens = REPLY_OVERHEAD_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + estimate_tokens(SYSTEM_MESSAGE)
    # ceil(bytes / 3) <= tokens  <=>  bytes <= 3 * tokens: the user message may hold this many bytes.
    return BYTES_PER_TOKEN * (budget - fixed_tokens) - _nbytes(prefix) - _nbytes(suffix)


@dataclass(frozen=True)
class _Text:
    """A field as read: whole (head and tail both the whole text), or its head and tail as far as the gentlest
    trim keeps them."""

    head: str
    tail: str
    length: int  # characters of the whole field

    def cut(self, limit: int | None) -> str:
        """The field kept to about `limit` characters (None: whole): head and tail, saying how much was cut.
        Exact for any limit up to the one the field was read with."""
        if limit is None or self.length <= limit:
            return self.head
        if limit == 0:
            return f"[{self.length} characters left out]"
        head, tail = (limit * 2) // 3, limit // 3
        cut = self.length - head - tail
        return f"{self.head[:head]}\n# ... [{cut} characters trimmed] ...\n{self.tail[len(self.tail) - tail :]}"

    def least(self, limit: int | None) -> int:
        """A lower bound on the characters of `cut(limit)`, from the length alone: what it keeps of the text."""
        if limit is None or self.length <= limit:
            return self.length
        return (limit * 2) // 3 + limit // 3


@dataclass(frozen=True)
class _Step:
    """A shared step as the T2J dataset shows it: its example's fields and its error entry's."""

    pk: int
    session_id: int
    order: tuple  # the dataset's natural order: sample (import position, key), session, step index
    example_id: str
    texts: dict[str, _Text]


# The dataset's fields: where each is read from and which of the trim limits applies (0 programs, 1 snippets, 2 prose).
_FIELDS = {
    "Input_Code": ("session__translation__sample__pytorch_code", 0),
    "LLM_weak_output": ("session__translation__code", 0),
    "LLM_fix_output": ("session__current_code", 0),
    "Error_Code": ("error_code", 1),
    "Error": ("error", 2),
    "Fix_info": ("fix_info", 2),
    "Fixed_Code": ("fixed_code", 1),
}
# The same fields as columns of _cut_read_sql's tables (st step, se session, tr translation, sa sample).
_COLUMNS = {
    "Input_Code": "sa.pytorch_code",
    "LLM_weak_output": "tr.code",
    "LLM_fix_output": "se.current_code",
    "Error_Code": "st.error_code",
    "Error": "st.error",
    "Fix_info": "st.fix_info",
    "Fixed_Code": "st.fixed_code",
}
_KEYS = ("pk", "session_id", "index", "session__translation__sample__key",
         "session__translation__sample__import_position")  # fmt: skip


# A text up to this many bytes is read whole; a longer one is cut in SQL. Cutting costs more than it saves on the
# usual programs of a few kB: LEFT, RIGHT and LENGTH each pass over the text (on PostgreSQL each decompresses it
# again), while the bound keeps a window's read small whatever one field holds.
_WHOLE_BYTES = 16_384


def _read(step_ids: Sequence[int], limits: Limits | None) -> dict[int, _Step]:
    """The steps' dataset fields: whole (`limits` None), or each at most what trimming to `limits` keeps: a text
    up to _WHOLE_BYTES whole, a longer one cut in SQL to its head, tail and length."""
    if limits is None:
        rows = FixStep.objects.filter(pk__in=step_ids).order_by()
        values = rows.values_list(*_KEYS, *(path for path, _ in _FIELDS.values()))
    else:
        with connection.cursor() as cursor:
            cursor.execute(_cut_read_sql(limits, connection.vendor, len(step_ids)), list(step_ids))
            values = cursor.fetchall()
    read = {}
    for pk, session_id, index, key, position, *fields in values:
        if limits is None:
            texts = [_Text(text, text, len(text)) for text in fields]
        else:
            texts = [_read_text(*fields[i : i + 4]) for i in range(0, len(fields), 4)]
        order = (position if position is not None else math.inf, key, session_id, index)
        read[pk] = _Step(pk, session_id, order, key, dict(zip(_FIELDS, texts, strict=True)))
    return read


def _read_text(whole: str | None, head: str | None, tail: str | None, length: int | None) -> _Text:
    return _Text(whole, whole, len(whole)) if whole is not None else _Text(head, tail, length)


def _cut_read_sql(limits: Limits, vendor: str, count: int) -> str:
    """_read's query for `count` step ids: the _KEYS, then per field (whole or NULL, head, tail, length). Plain SQL:
    compiling the same 28 CASE expressions through the ORM took longer than running them (3 ms)."""
    quote = connection.ops.quote_name
    step, session, translation, sample = (model._meta.db_table for model in (FixStep, FixSession, Translation, Sample))
    columns = []
    for name, (_, kind) in _FIELDS.items():
        column, limit = _COLUMNS[name], limits[kind]
        size = f"OCTET_LENGTH({column})" if vendor == "postgresql" else f"LENGTH(CAST({column} AS BLOB))"
        tail = limit // 3
        right = f"RIGHT({column}, {tail})" if vendor == "postgresql" else f"SUBSTR({column}, -{tail}, {tail})"
        short = f"{size} <= {_WHOLE_BYTES}"
        columns += [f"CASE WHEN {short} THEN {column} END"]
        columns += [f"CASE WHEN {short} THEN NULL ELSE {cut} END"
                    for cut in (f"SUBSTR({column}, 1, {limit})", right, f"LENGTH({column})")]  # fmt: skip
    return (
        f"SELECT st.id, st.session_id, st.{quote('index')}, sa.{quote('key')}, sa.import_position, {', '.join(columns)}"
        f" FROM {step} st JOIN {session} se ON se.id = st.session_id JOIN {translation} tr ON tr.id = se.translation_id"
        f" JOIN {sample} sa ON sa.id = tr.sample_id WHERE st.id IN ({', '.join(['%s'] * count)})"
    )


def _by_priority(sample: Sample, limit: int) -> list[_Candidate]:
    """Up to about `limit` shared steps outside `sample`: coverage first (the most relevant step of each category,
    or its first step when none is ranked), then the rest by relevance to the sample's source, then steps it
    shares no word with. Three queries: the ranking's two and the candidates' index rows."""
    ranked = ranked_steps(f"{sample.title}\n{sample.pytorch_code}", limit=limit, exclude_sample=sample.pk)
    leaders: dict[str, int] = {}
    for step_id, category, _score in ranked:
        leaders.setdefault(category, step_id)
    missing = [category for category in StepCategory.values if category not in leaders]
    ranked_ids = [step_id for step_id, _, _ in ranked]
    # Past the ranked steps, enough of the others to reach `limit` after the coverage steps among them.
    rest = limit - len(ranked) + len(missing) if len(ranked) < limit else 0
    rows = _index_rows(sample, ranked_ids, missing, rest)
    candidates = {row[0]: _Candidate(*row[:3]) for row in rows}
    for step_id, _, _, category, part in rows:
        if part == _FIRST_OF_CATEGORY:
            leaders.setdefault(category, step_id)
    ordered = list(leaders.values()) + [step_id for step_id in ranked_ids if step_id not in leaders.values()]
    if len(ordered) < limit:
        chosen = set(ordered)
        ordered += [row[0] for row in rows if row[4] == _UNRANKED and row[0] not in chosen][: limit - len(ordered)]
    return [candidates[step_id] for step_id in ordered]


_RANKED, _FIRST_OF_CATEGORY, _UNRANKED = 0, 1, 2


def _index_rows(sample: Sample, ranked: list[int], categories: list[str], rest: int) -> list[tuple]:
    """(step id, session id, size, category, part) of the ranked steps, the first shared step outside `sample`
    of each of `categories`, and the first `rest` shared steps outside it that are not ranked: one query, each
    part an index walk that stops at its limit."""
    table, columns = StepIndexEntry._meta.db_table, "step_id, session_id, size, category"
    among, among_params = _among("step_id", ranked)
    parts, params = [], []
    if ranked:
        parts.append(f"SELECT {columns}, {_RANKED} FROM {table} WHERE {among}")
        params += among_params
    outside = "shared = %s AND sample_id <> %s"
    for n, category in enumerate(categories):
        parts.append(f"SELECT * FROM (SELECT {columns}, {_FIRST_OF_CATEGORY} FROM {table} WHERE {outside}"
                     f" AND category = %s ORDER BY step_id LIMIT 1) AS first_{n}")  # fmt: skip
        params += [True, sample.pk, category]
    unranked = f" AND NOT {among}" if ranked else ""
    parts.append(f"SELECT * FROM (SELECT {columns}, {_UNRANKED} FROM {table} WHERE {outside}{unranked}"
                 " ORDER BY step_id LIMIT %s) AS unranked")  # fmt: skip
    params += [True, sample.pk, *(among_params if ranked else []), rest]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return cursor.fetchall()


def _among(column: str, ids: list[int]) -> tuple[str, list]:
    """`column IN ids` as SQL and its parameters: on PostgreSQL one array parameter, as hundreds of separate
    ones cost the client more to bind (2.5 ms for the ~500 ranked steps of a prompt) than the query to run."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _display(steps: Sequence[_Step]) -> list[FixStep]:
    """The included steps as rows for the preview and the translation's record (no code read)."""
    rows = (
        FixStep.objects.select_related("session__translation__sample")
        .only("index", "category", "error", "session__translation__sample__key")
        .in_bulk([step.pk for step in steps])
    )
    return [rows[step.pk] for step in steps]


def dataset_json(steps: Sequence[_Step], *, trim: Limits | None = None) -> str:
    """The steps as the paper's JSON: one example per session, examples and errors in their natural order."""
    sessions: dict[int, list[_Step]] = {}
    for step in sorted(steps, key=lambda step: step.order):
        sessions.setdefault(step.session_id, []).append(step)
    examples = []
    for session_steps in sessions.values():
        example = _example_header(session_steps[0], trim)
        example["Errors"] = [_error_entry(step, trim) for step in session_steps]
        examples.append(example)
    return _dumps({"Pytorch_to_JAX_Examples": examples})


_HEADER_FIELDS = ("Input_Code", "LLM_weak_output", "LLM_fix_output")
_ENTRY_FIELDS = ("Error_Code", "Error", "Fix_info", "Fixed_Code")


def _example_header(step: _Step, trim: Limits | None) -> dict:
    header = {"Example_id": step.example_id}
    for name in _HEADER_FIELDS:
        header[name] = step.texts[name].cut(trim[0] if trim else None)
    header["Errors"] = []
    return header


def _error_entry(step: _Step, trim: Limits | None) -> dict:
    return {name: step.texts[name].cut(trim[_FIELDS[name][1]] if trim else None) for name in _ENTRY_FIELDS}


def _fit_to_budget(sample: Sample, steps: Sequence[_Step], budget: int, limits: Limits) -> list[_Step]:
    """Steps in priority order, each taken only if the whole prompt, trimmed to `limits`, still fits the budget;
    stops when not even an empty error entry would fit any more."""
    packer = _Packer(_room(sample, budget), limits)
    chosen: list[_Step] = []
    for step in steps:
        if packer.room - packer.size < _EMPTY_ENTRY_BYTES:
            break
        if packer.add(step):
            chosen.append(step)
    # The arithmetic above is exact; this check keeps "never over budget" true even if the layout changes.
    while chosen and estimate_messages(t2j_messages(sample, dataset_json(chosen, trim=limits))) > budget:
        chosen.pop()
    return chosen


class _Packer:
    """Tracks the byte size of the trimmed dataset JSON as steps are added, without re-serialising it."""

    def __init__(self, room: int, limits: Limits) -> None:
        self.room = room
        self.limits = limits
        self.size = _EMPTY_DATASET_BYTES
        self.sessions: set[int] = set()

    def add(self, step: _Step) -> bool:
        if self.size + self._least(step) > self.room:
            return False  # what serialising would find, known from the lengths: most candidates once room runs low
        cost = _nbytes(_dumps(_error_entry(step, self.limits)))
        if step.session_id in self.sessions:
            cost += len(_SEPARATOR)  # between this error and the previous one
        else:
            cost += _nbytes(_dumps(_example_header(step, self.limits)))
            cost += len(_SEPARATOR) if self.sessions else 0
        if self.size + cost > self.room:
            return False
        self.size += cost
        self.sessions.add(step.session_id)
        return True

    def _least(self, step: _Step) -> int:
        """A lower bound on `add`'s cost: the empty entry (and example) plus the characters kept of each field (a
        character is at least one byte of JSON)."""
        entry = sum(step.texts[name].least(self.limits[_FIELDS[name][1]]) for name in _ENTRY_FIELDS)
        if step.session_id in self.sessions:
            return _EMPTY_ENTRY_BYTES + entry
        header = sum(step.texts[name].least(self.limits[0]) for name in _HEADER_FIELDS)
        return _EMPTY_ENTRY_BYTES + entry + _EMPTY_HEADER_BYTES + header


def _fenced(code: str) -> str:
    """A Markdown code block whose fence is longer than any backtick run inside the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
