"""Step hygiene: steps of a session that repeat an earlier step of the same session.

Three kinds, checked in this order against every earlier step (the first earlier step that matches is named):
- duplicate: error, erroneous code, fix description and corrected code all equal (the paper's m3 repeats its
  steps 4-13 word for word as 14-23);
- near-duplicate: all four fields nearly equal (each at least NEAR_FIELD similar, on average NEAR_MEAN);
- repeat: the same code change (erroneous and corrected code equal, and not empty) answering a similar error
  or described alike: the same fix made twice.
Flags are advice: a flagged step still counts wherever steps count (FixCost counts it, as the paper did; the
figure without flagged steps is shown beside). Pure functions over text; no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from annotate.models import StepFlag

NEAR_FIELD = 0.75
NEAR_MEAN = 0.9
REPEAT_ERROR = 0.6
REPEAT_FIX_INFO = 0.5


@dataclass(frozen=True)
class StepText:
    """The four fields of a step that hygiene compares."""

    index: int
    error: str
    error_code: str
    fix_info: str
    fixed_code: str

    def fields(self) -> tuple[str, str, str, str]:
        return (self.error, self.error_code, self.fix_info, self.fixed_code)


def flags_for(step: StepText, earlier: Sequence[StepText]) -> list[dict]:
    """The hygiene flags of `step` given the earlier steps of its session: [] or [{"kind", "of": index}]."""
    for kind, matches in ((StepFlag.DUPLICATE, _duplicate), (StepFlag.NEAR_DUPLICATE, _near_duplicate),
                          (StepFlag.REPEAT, _repeat)):  # fmt: skip
        for other in earlier:
            if matches(step, other):
                return [{"kind": str(kind), "of": other.index}]
    return []


def session_flags(steps: Sequence[StepText]) -> dict[int, list[dict]]:
    """Flags of each step of a session (in order), against the steps before it: {index: flags}."""
    return {step.index: flags_for(step, steps[:position]) for position, step in enumerate(steps)}


def describe(flags: dict[int, list[dict]]) -> list[str]:
    """Flagged steps as short phrases, consecutive ones together: ["14-23 duplicate of 4-13", "12 repeat of 9"]."""
    flagged = sorted((index, found[0]["kind"], found[0]["of"]) for index, found in flags.items() if found)
    phrases: list[str] = []
    run: list[tuple[int, str, int]] = []
    for item in flagged:
        if run and item[1] == run[-1][1] and item[0] == run[-1][0] + 1 and item[2] == run[-1][2] + 1:
            run.append(item)
            continue
        if run:
            phrases.append(_phrase(run))
        run = [item]
    if run:
        phrases.append(_phrase(run))
    return phrases


def _phrase(run: list[tuple[int, str, int]]) -> str:
    (first, kind, of), (last, _, last_of) = run[0], run[-1]
    if first == last:
        return f"{first} {kind} of {of}"
    return f"{first}-{last} {kind} of {of}-{last_of}"


def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _similar(a: str, b: str, at_least: float) -> float:
    """SequenceMatcher's ratio when it may reach `at_least` (cheap upper bounds first), else 0."""
    a, b = a.strip(), b.strip()
    if a == b:
        return 1.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < at_least or matcher.quick_ratio() < at_least:
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= at_least else 0.0


def _duplicate(step: StepText, other: StepText) -> bool:
    return all(_same(a, b) for a, b in zip(step.fields(), other.fields(), strict=True))


def _near_duplicate(step: StepText, other: StepText) -> bool:
    ratios = []
    for a, b in zip(step.fields(), other.fields(), strict=True):
        ratio = _similar(a, b, NEAR_FIELD)
        if not ratio:
            return False
        ratios.append(ratio)
    return sum(ratios) / len(ratios) >= NEAR_MEAN


def _repeat(step: StepText, other: StepText) -> bool:
    if not step.error_code.strip() or _same(step.error_code, step.fixed_code):
        return False
    if not (_same(step.error_code, other.error_code) and _same(step.fixed_code, other.fixed_code)):
        return False
    return bool(_similar(step.error, other.error, REPEAT_ERROR) or _similar(step.fix_info, other.fix_info,
                                                                             REPEAT_FIX_INFO))  # fmt: skip
