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

Work scales with the budget, not the dataset: the index's sizes tell without reading any code whether the whole
dataset could fit; only then is it loaded whole. Otherwise at most as many candidates as the budget could hold
(`room / the bytes of an empty error entry`) are ranked in the index, and they are read in priority order, a
batch at a time, with each text cut in SQL to the head and tail the gentlest trim keeps, until the budget is
full.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Left, Length, Right

from annotate import similarity_index
from annotate.models import FixStep, Sample, StepCategory, StepIndexEntry, System, SystemMode
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
BATCH = 50  # candidates read per query while filling the budget


def _t2j_prompt(sample: Sample, budget: int, step_ids: Sequence[int] | None = None) -> Prompt:
    shared = StepIndexEntry.objects.filter(shared=True)
    pool = shared.exclude(sample_id=sample.pk)
    if step_ids is None:
        available = similarity_index.shared_steps() - shared.filter(sample_id=sample.pk).count()
    else:
        pool = pool.filter(step_id__in=step_ids)
        available = pool.count()
    room = _room(sample, budget)
    whole = None
    # Each step takes at least an empty error entry: past that count the whole dataset cannot fit, unread.
    if _EMPTY_DATASET_BYTES + available * _EMPTY_ENTRY_BYTES <= room:
        stats = pool.aggregate(size=Sum("size"), sessions=Count("session_id", distinct=True))
        least = _EMPTY_DATASET_BYTES + (stats["size"] or 0) + available * _EMPTY_ENTRY_BYTES
        if least + stats["sessions"] * _EMPTY_HEADER_BYTES <= room:
            # The whole dataset may fit: read it whole (its texts alone fit the budget's bytes).
            whole = _read(list(pool.values_list("step_id", flat=True)), None)
            steps = sorted(whole.values(), key=lambda step: step.order)
            messages = t2j_messages(sample, dataset_json(steps))
            tokens = estimate_messages(messages)
            if tokens <= budget:
                return Prompt(messages, tokens, budget, SystemMode.T2J, _display(steps), available)
    limit = available if whole is not None else max(0, room // _EMPTY_ENTRY_BYTES + 1)
    if step_ids is None:
        order = _by_priority(sample, pool, limit)
    else:  # the caller's own order, of the steps that are shared and outside the sample
        allowed = set(pool.values_list("step_id", flat=True))
        order = [step_id for step_id in step_ids if step_id in allowed]
    candidates = _Candidates(order, whole)
    best: tuple[list[_Step], Limits] = ([], TRIM_LEVELS[-1])
    for limits in TRIM_LEVELS:
        chosen = _fit_to_budget(sample, candidates, budget, limits)
        if len(chosen) > len(best[0]):
            best = (chosen, limits)
        if len(chosen) >= min(MIN_STEPS, available):
            break
    chosen, limits = best
    messages = t2j_messages(sample, dataset_json(chosen, trim=limits))
    return Prompt(
        messages, estimate_messages(messages), budget, SystemMode.T2J, _display(chosen), available, trimmed=True
    )


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
_KEYS = ("pk", "session_id", "index", "session__translation__sample__key",
         "session__translation__sample__import_position")  # fmt: skip


def _read(step_ids: Sequence[int], limits: Limits | None) -> dict[int, _Step]:
    """The steps' dataset fields: whole (`limits` None), or cut in SQL to what trimming to `limits` keeps."""
    rows = FixStep.objects.filter(pk__in=step_ids)
    if limits is None:
        values = rows.values_list(*_KEYS, *(path for path, _ in _FIELDS.values()))
    else:
        parts = {}
        for i, (path, kind) in enumerate(_FIELDS.values()):
            parts |= {f"h{i}": Left(path, limits[kind]), f"t{i}": Right(path, limits[kind] // 3), f"n{i}": Length(path)}
        values = rows.annotate(**parts).values_list(*_KEYS, *parts)
    read = {}
    for pk, session_id, index, key, position, *fields in values:
        if limits is None:
            texts = [_Text(text, text, len(text)) for text in fields]
        else:
            texts = [_Text(*fields[i : i + 3]) for i in range(0, len(fields), 3)]
        order = (position if position is not None else math.inf, key, session_id, index)
        read[pk] = _Step(pk, session_id, order, key, dict(zip(_FIELDS, texts, strict=True)))
    return read


class _Candidates:
    """Steps in priority order, read a batch at a time (cut to the gentlest trim) and kept for harsher trims."""

    def __init__(self, step_ids: list[int], whole: dict[int, _Step] | None) -> None:
        self.step_ids = step_ids
        self.read: dict[int, _Step] = dict(whole or {})

    def batches(self) -> Iterator[list[_Step]]:
        for start in range(0, len(self.step_ids), BATCH):
            batch = self.step_ids[start : start + BATCH]
            missing = [pk for pk in batch if pk not in self.read]
            if missing:
                self.read |= _read(missing, TRIM_LEVELS[0])
            yield [self.read[pk] for pk in batch if pk in self.read]


def _by_priority(sample: Sample, pool: QuerySet, limit: int) -> list[int]:
    """Up to about `limit` step ids: coverage first (the most relevant step of each category), then the rest by
    relevance to the sample's source, then steps it shares no word with."""
    ranked = ranked_steps(f"{sample.title}\n{sample.pytorch_code}", limit=limit, exclude_sample=sample.pk)
    leaders: dict[str, int] = {}
    for step_id, category, _score in ranked:
        leaders.setdefault(category, step_id)
    missing = [category for category in StepCategory.values if category not in leaders]
    for category, first in zip(missing, _first_steps(missing, sample), strict=True):
        if first is not None:  # a category none of the ranked steps has: its first step
            leaders[category] = first
    chosen = set(leaders.values())
    ordered = list(leaders.values()) + [step_id for step_id, _, _ in ranked if step_id not in chosen]
    if len(ordered) < limit:
        rest = pool.exclude(step_id__in=ordered).order_by("step_id").values_list("step_id", flat=True)
        ordered += list(rest[: limit - len(ordered)])
    return ordered


def _first_steps(categories: list[str], sample: Sample) -> list[int | None]:
    """The first shared step of each category outside `sample` (None when it has none), in one query: each an
    index walk on (shared, category, step) that stops at its first row."""
    if not categories:
        return []
    first = (
        f"(SELECT step_id FROM {StepIndexEntry._meta.db_table} WHERE shared = %s AND category = %s AND sample_id <> %s"
        " ORDER BY step_id LIMIT 1)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join([first] * len(categories))}",
                       [value for category in categories for value in (True, category, sample.pk)])  # fmt: skip
        return list(cursor.fetchone())


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


def _example_header(step: _Step, trim: Limits | None) -> dict:
    header = {"Example_id": step.example_id}
    for name in ("Input_Code", "LLM_weak_output", "LLM_fix_output"):
        header[name] = step.texts[name].cut(trim[0] if trim else None)
    header["Errors"] = []
    return header


def _error_entry(step: _Step, trim: Limits | None) -> dict:
    return {name: step.texts[name].cut(trim[_FIELDS[name][1]] if trim else None)
            for name in ("Error_Code", "Error", "Fix_info", "Fixed_Code")}  # fmt: skip


def _fit_to_budget(sample: Sample, candidates: _Candidates, budget: int, limits: Limits) -> list[_Step]:
    """Steps in priority order, each taken only if the whole prompt, trimmed to `limits`, still fits the budget;
    reading stops when no step can fit any more or a whole batch brought none that fits."""
    packer = _Packer(_room(sample, budget), limits)
    chosen: list[_Step] = []
    for batch in candidates.batches():
        taken = [step for step in batch if packer.add(step)]
        chosen += taken
        if not taken or packer.room - packer.size < _EMPTY_ENTRY_BYTES:
            break
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


def _fenced(code: str) -> str:
    """A Markdown code block whose fence is longer than any backtick run inside the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
