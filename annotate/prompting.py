"""The two drafting prompts: standard, and T2J (standard plus the bug-fix dataset of *other* samples).

Token estimate: no tokenizer can be downloaded here, so sizes are estimated conservatively as the UTF-8 bytes of
each message's text divided by 3, rounded up, plus 4 tokens per message and 3 for the reply's start. Common BPE
tokenizers average about 4 bytes of English or code per token, so the estimate runs high, never low: a prompt
within the estimated budget is within the real one.

The T2J dataset is JSON in the paper's field names (Example_id, Input_Code, LLM_weak_output, LLM_fix_output,
Errors with Error_Code, Error, Fix_info, Fixed_Code), one example per verified fix session, built only from
shared steps (counted steps of verified sessions) and never from the sample being drafted (leave-one-out).
When the whole dataset does not fit the system's token budget, steps are chosen by priority — first the most
relevant step of each error category (coverage), then the rest by relevance to the PyTorch source (the
similarity module) — with long code fields trimmed (gently first, harder when a tight budget would
otherwise carry fewer than MIN_STEPS steps), taking each step only if the whole prompt still fits. The budget covers the
whole prompt, never only the dataset: a prompt over it is refused (PromptTooLarge), never sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from annotate.models import FixStep, Sample, StepCategory, System, SystemMode
from annotate.similarity import rank_steps
from annotate.taxonomy import suggest_category

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


def shared_steps() -> list[FixStep]:
    """Every step the T2J prompt may draw on, loaded once per batch."""
    return list(
        FixStep.objects.shared()
        .select_related("session__translation__sample")
        .order_by(
            "session__translation__sample__import_position", "session__translation__sample__key", "session_id", "index"
        )
    )


def eligible_steps(sample: Sample, steps: Iterable[FixStep] | None = None) -> list[FixStep]:
    """Leave-one-out: the shared steps of every sample except the one being drafted."""
    steps = shared_steps() if steps is None else steps
    return [step for step in steps if step.session.translation.sample_id != sample.pk]


def build_prompt(system: System, sample: Sample, *, steps: Sequence[FixStep] | None = None) -> Prompt:
    """The exact messages `system` sends for `sample`; `steps` are the shared steps when already loaded."""
    budget = budget_for(system)
    if system.mode == SystemMode.T2J:
        prompt = _t2j_prompt(sample, eligible_steps(sample, steps), budget)
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


def _t2j_prompt(sample: Sample, steps: list[FixStep], budget: int) -> Prompt:
    full = dataset_json(steps)
    messages = t2j_messages(sample, full)
    tokens = estimate_messages(messages)
    if tokens <= budget:
        return Prompt(messages, tokens, budget, SystemMode.T2J, list(steps), len(steps))
    ordered = _by_priority(sample, steps)
    best: tuple[list[FixStep], tuple] = ([], TRIM_LEVELS[-1])
    for limits in TRIM_LEVELS:
        chosen = _fit_to_budget(sample, ordered, budget, limits)
        if len(chosen) > len(best[0]):
            best = (chosen, limits)
        if len(chosen) >= min(MIN_STEPS, len(steps)):
            break
    chosen, limits = best
    messages = t2j_messages(sample, dataset_json(chosen, trim=limits))
    return Prompt(messages, estimate_messages(messages), budget, SystemMode.T2J, chosen, len(steps), trimmed=True)


def dataset_json(steps: Sequence[FixStep], *, trim: tuple[int, int, int] | None = None) -> str:
    """The steps as the paper's JSON: one example per session, examples and errors in their natural order."""
    sessions: dict[int, list[FixStep]] = {}
    for step in sorted(steps, key=_natural_order):
        sessions.setdefault(step.session_id, []).append(step)
    examples = []
    for session_steps in sessions.values():
        example = _example_header(session_steps[0], trim)
        example["Errors"] = [_error_entry(step, trim) for step in session_steps]
        examples.append(example)
    return _dumps({"Pytorch_to_JAX_Examples": examples})


def _natural_order(step: FixStep) -> tuple:
    sample = step.session.translation.sample
    position = sample.import_position if sample.import_position is not None else math.inf
    return (position, sample.key, step.session_id, step.index)


def _example_header(step: FixStep, trim: tuple[int, int, int] | None) -> dict:
    session = step.session
    translation = session.translation

    def cut(text: str) -> str:
        return _trim(text, trim[0]) if trim else text

    return {
        "Example_id": translation.sample.key,
        "Input_Code": cut(translation.sample.pytorch_code),
        "LLM_weak_output": cut(translation.code),
        "LLM_fix_output": cut(session.current_code),
        "Errors": [],
    }


def _error_entry(step: FixStep, trim: tuple[int, int, int] | None) -> dict:
    def cut(text: str, limit: int) -> str:
        return _trim(text, limit) if trim else text

    _, snippet, prose = trim or (0, 0, 0)
    return {
        "Error_Code": cut(step.error_code, snippet),
        "Error": cut(step.error, prose),
        "Fix_info": cut(step.fix_info, prose),
        "Fixed_Code": cut(step.fixed_code, snippet),
    }


def _fit_to_budget(sample: Sample, ordered: list[FixStep], budget: int, limits: tuple[int, int, int]) -> list[FixStep]:
    """Steps in priority order, each taken only if the whole prompt, trimmed to `limits`, still fits the budget."""
    prefix, suffix = _t2j_user_parts(sample)
    fixed_tokens = REPLY_OVERHEAD_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + estimate_tokens(SYSTEM_MESSAGE)
    # ceil(bytes / 3) <= tokens  <=>  bytes <= 3 * tokens: the user message may hold this many bytes.
    room = BYTES_PER_TOKEN * (budget - fixed_tokens) - _nbytes(prefix) - _nbytes(suffix)
    packer = _Packer(room, limits)
    chosen = [step for step in ordered if packer.add(step)]
    # The arithmetic above is exact; this check keeps "never over budget" true even if the layout changes.
    while chosen and estimate_messages(t2j_messages(sample, dataset_json(chosen, trim=limits))) > budget:
        chosen.pop()
    return chosen


class _Packer:
    """Tracks the byte size of the trimmed dataset JSON as steps are added, without re-serialising it."""

    def __init__(self, room: int, limits: tuple[int, int, int]) -> None:
        self.room = room
        self.limits = limits
        self.size = _nbytes(_dumps({"Pytorch_to_JAX_Examples": []}))
        self.sessions: set[int] = set()

    def add(self, step: FixStep) -> bool:
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


def _by_priority(sample: Sample, steps: list[FixStep]) -> list[FixStep]:
    """Coverage first (the most relevant step of each category), then everything else by relevance."""
    ranked = [step for step, _score in rank_steps(f"{sample.title}\n{sample.pytorch_code}", steps)]
    seen_ids = {step.pk for step in ranked}
    ranked += [step for step in steps if step.pk not in seen_ids]  # steps the ranking left out, kept last
    leaders: dict[str, FixStep] = {}
    for step in ranked:
        leaders.setdefault(step_category(step), step)
    leader_ids = {step.pk for step in leaders.values()}
    return list(leaders.values()) + [step for step in ranked if step.pk not in leader_ids]


def step_category(step: FixStep) -> str:
    """The step's category, else the one the taxonomy suggests for it, else "other"."""
    if step.category:
        return step.category
    return suggest_category(step.error, step.code_before, step.code_after) or StepCategory.OTHER


def _trim(text: str, limit: int) -> str:
    """Keep the head and the tail of a long field, and say how much was cut."""
    if len(text) <= limit:
        return text
    if limit == 0:
        return f"[{len(text)} characters left out]"
    head, tail = (limit * 2) // 3, limit // 3
    return f"{text[:head]}\n# ... [{len(text) - head - tail} characters trimmed] ...\n{text[-tail:]}"


def _fenced(code: str) -> str:
    """A Markdown code block whose fence is longer than any backtick run inside the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code.rstrip()}\n{fence}"


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
