"""CodeTrans Score: an ICE-Score-style LLM judge giving 0–4 for usefulness and functional correctness.

Each aspect is judged with and without the reference translation (the human-fixed code of the sample).
The rubric wording is our own; reviewers score on the same rubric in the browser. Every call goes through
annotate/llm.py; the raw answer is stored with the parsed score (empty when it cannot be parsed).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import mean

from annotate import llm
from annotate.models import System, Translation
from evaluate.metrics.base import ComputeOptions, ComputeReport, StoredValues, TranslationIds
from evaluate.metrics.codebleu import reference_code
from evaluate.models import Aspect, Judgement

RUBRICS = {
    Aspect.USEFULNESS: (
        "Usefulness: how much the JAX program helps a developer who must port this PyTorch program. "
        "0 = no help (wrong task, nonsense or empty); 1 = a little (some relevant pieces, mostly to be rewritten); "
        "2 = partly (the structure is right, several real bugs to fix); 3 = mostly (small fixes needed); "
        "4 = fully useful (usable as is)."
    ),
    Aspect.FUNCTIONAL_CORRECTNESS: (
        "Functional correctness: would the JAX program, run as is, compute what the PyTorch program computes "
        "(same outputs, losses and training behaviour, allowing for different random numbers)? "
        "0 = fails to run or computes something else; 1 = runs only in part or is mostly wrong; "
        "2 = main computation right with notable errors; 3 = correct but for minor differences; "
        "4 = equivalent."
    ),
}
ASPECT_TITLES = {Aspect.USEFULNESS: "usefulness", Aspect.FUNCTIONAL_CORRECTNESS: "functional correctness"}
# Export column of the LLM judge's score per (aspect, with reference); reviewers' mean is "human_" + it.
COLUMNS = {
    (Aspect.USEFULNESS, True): "codetrans_usefulness_ref",
    (Aspect.USEFULNESS, False): "codetrans_usefulness_noref",
    (Aspect.FUNCTIONAL_CORRECTNESS, True): "codetrans_func_ref",
    (Aspect.FUNCTIONAL_CORRECTNESS, False): "codetrans_func_noref",
}

SYSTEM_PROMPT = (
    "You are a strict reviewer of PyTorch-to-JAX translations. You judge one aspect at a time on a 0-4 scale "
    "and finish your answer with a line of the form 'Score: N'."
)


def judge_messages(pytorch: str, candidate: str, aspect: str, reference: str | None) -> list[dict]:
    parts = [
        f"Evaluate the JAX translation below for {ASPECT_TITLES[aspect]}.",
        f"Rubric:\n{RUBRICS[aspect]}",
        "Steps: read the PyTorch program and understand what it does; read the JAX translation"
        + (" and compare it with the reference translation, which is known to be correct" if reference else "")
        + "; then decide on one whole number from 0 to 4.",
        f"PyTorch program:\n```python\n{pytorch}\n```",
    ]
    if reference:
        parts.append(f"Reference JAX translation (correct):\n```python\n{reference}\n```")
    parts.append(f"JAX translation to evaluate:\n```python\n{candidate}\n```")
    parts.append("Give a short justification, then the last line exactly as 'Score: N' with N from 0 to 4.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


_SCORE_LINE = re.compile(
    r"(?:score|rating)\s*(?:is|of|=|:)?\s*\**\s*([0-4](?:\.\d+)?)\s*\**\s*(?:/\s*4|out of 4)?\b", re.IGNORECASE
)
_FRACTION = re.compile(r"\b([0-4](?:\.\d+)?)\s*(?:/\s*4|out of 4)\b", re.IGNORECASE)
_BARE = re.compile(r"^\s*\**\s*([0-4])(?:\.0+)?\s*\**\s*$")


def parse_score(text: str) -> int | None:
    """The 0–4 score in a judge's answer: the last 'Score: N' (or 'N/4', or a lone digit); None when unclear."""
    if not text:
        return None
    for pattern in (_SCORE_LINE, _FRACTION):
        found = pattern.findall(text)
        if found:
            return _to_score(found[-1])
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines and (bare := _BARE.match(lines[-1])):
        return int(bare.group(1))
    return None


def _to_score(value: str) -> int | None:
    number = float(value)
    # Half points ("2.5") round to the nearest whole score the rubric defines; out-of-range means unparseable.
    return int(round(number)) if 0 <= number <= 4 else None


@dataclass(frozen=True)
class JudgeOutcome:
    translation_id: int
    stored: int
    unparsed: int
    error: str = ""


def judge_translation(
    translation: Translation, *, model: str = "", reference_system: System | None = None
) -> JudgeOutcome:
    """Ask the judge about all four (aspect, with/without reference) of one translation and store each answer.

    The reference is `reference_system`'s translation of the sample (an experiment's reference), else the
    sample's verified code; without one only the two questions without the reference are asked."""
    reference = reference_code(translation, reference_system)
    stored = unparsed = 0
    for aspect in Aspect.values:
        for with_reference in (False, True):
            if with_reference and not reference:
                continue
            messages = judge_messages(
                translation.sample.pytorch_code, translation.code, aspect, reference if with_reference else None
            )
            try:
                result = llm.chat(messages, model=model)
            except llm.LLMError as error:
                return JudgeOutcome(translation.pk, stored, unparsed, error.reason)
            score = parse_score(result.text)
            Judgement.objects.create(
                translation=translation,
                judge_model=result.model or llm.resolve_model(model),
                aspect=aspect,
                with_reference=with_reference,
                score=score,
                raw_output=result.text,
            )
            stored += 1
            unparsed += score is None
    return JudgeOutcome(translation.pk, stored, unparsed)


def judge_all(
    translations: Iterable[Translation], *, model: str = "", on_each: Callable[[JudgeOutcome], bool] | None = None
) -> list[JudgeOutcome]:
    """Judge each translation in turn; `on_each` returning False stops early (cancellation)."""
    outcomes = []
    for translation in translations:
        outcome = judge_translation(translation, model=model)
        outcomes.append(outcome)
        if on_each is not None and on_each(outcome) is False:
            break
    return outcomes


def compute(translations, report: ComputeReport, options: ComputeOptions) -> None:
    """The registry's compute step: ask the LLM judge about every non-empty translation of the queryset."""
    problem = llm.configuration_problem(options.model)
    if problem:
        # Part of "all" without an endpoint: skip, loudly; asked for by name: that is an error.
        report.skip("codetrans", problem, problem=options.explicit)
        return
    outcomes = judge_all(
        translations.exclude(code="").prefetch_related("sample__translations__fix_sessions__translation__system"),
        model=options.model,
        on_each=lambda _: not options.should_stop(),
    )
    stored = sum(o.stored for o in outcomes)
    unparsed = sum(o.unparsed for o in outcomes)
    report.say(f"codetrans: {stored} judgements for {len(outcomes)} translations ({unparsed} unparsed)")
    report.problems += [f"codetrans: translation {o.translation_id}: {o.error}" for o in outcomes if o.error]


def stored_values(translation_ids: TranslationIds) -> StoredValues:
    """The LLM judge's latest score per column, and the mean over reviewers of each reviewer's latest score."""
    values: StoredValues = defaultdict(dict)
    human: dict[tuple[int, str], dict[int, int]] = defaultdict(dict)
    # Oldest first, so later judgements overwrite earlier ones.
    rows = (
        Judgement.objects.filter(translation_id__in=translation_ids, score__isnull=False)
        .order_by("created_at", "pk")
        .values_list("translation_id", "aspect", "with_reference", "judge_user_id", "score")  # no raw output
    )
    for translation_id, aspect, with_reference, judge_user_id, score in rows:
        column = COLUMNS[(aspect, with_reference)]
        if judge_user_id:
            human[(translation_id, column)][judge_user_id] = score
        else:
            values[translation_id][column] = float(score)
    for (translation_id, column), by_user in human.items():
        values[translation_id][f"human_{column}"] = round(mean(by_user.values()), 4)
    return values
