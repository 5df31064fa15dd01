"""CodeBLEU (codebleu package, lang python, weights 0.25 each), computed in worker interpreters with a fixed hash seed.

The package's data-flow match walks sets, so per-sample values move with PYTHONHASHSEED (up to 0.015). Scores
are therefore always computed in fresh interpreters started with PYTHONHASHSEED=0, so they repeat run to run
and match the paper's published figures; batches are split over every core available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.db.models import Case, F, QuerySet, When
from django.utils import timezone

from annotate.models import FixSession, SessionStatus, System, SystemMode, Translation
from evaluate.metrics.base import ComputeOptions, ComputeReport, StoredValues, TranslationIds
from evaluate.models import CodeBLEUScore

HASH_SEED = "0"
VERIFIED = "verified"
WORKER = Path(__file__).with_name("codebleu_worker.py")
# Generous: the package scores ~20 pairs a second per core, plus interpreter start-up.
WORKER_TIMEOUT_S_PER_PAIR = 10.0


class CodeBLEUError(RuntimeError):
    """A worker failed as a whole (crash, timeout, unreadable output)."""


@dataclass(frozen=True)
class CodeBLEUResult:
    codebleu: float | None
    ngram: float | None = None
    weighted_ngram: float | None = None
    syntax: float | None = None
    dataflow: float | None = None
    error: str = ""

    @classmethod
    def from_worker(cls, row: dict) -> CodeBLEUResult:
        if "error" in row:
            return cls(codebleu=None, error=row["error"])
        return cls(
            codebleu=row["codebleu"],
            ngram=row["ngram_match_score"],
            weighted_ngram=row["weighted_ngram_match_score"],
            syntax=row["syntax_match_score"],
            dataflow=row["dataflow_match_score"],
        )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def score_pairs(pairs: Sequence[tuple[str, str]], *, processes: int | None = None) -> list[CodeBLEUResult]:
    """CodeBLEU of each (candidate, reference), in order, spread over `processes` workers (default: every core)."""
    if not pairs:
        return []
    n = max(1, min(processes or available_cores(), len(pairs)))
    # Every n-th pair to the same worker: long and short programs spread evenly, whatever the input's order.
    shares = [pairs[i::n] for i in range(n)]
    workers = [_start_worker(share) for share in shares]
    # Each worker is fed and read by its own thread: fed one after the other, the second worker would wait,
    # with its core idle, until the first had finished (communicate() writes its input and then waits).
    with ThreadPoolExecutor(max_workers=n) as pool:
        chunks = list(pool.map(lambda job: _collect(*job[0], len(job[1])), zip(workers, shares, strict=True)))
    results: list[CodeBLEUResult] = [None] * len(pairs)  # type: ignore[list-item]
    for i, chunk in enumerate(chunks):
        results[i::n] = chunk
    return results


def _start_worker(chunk: Sequence[tuple[str, str]]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONHASHSEED": HASH_SEED}
    process = subprocess.Popen(
        # -P: the worker's own folder must not shadow the `codebleu` package with this module.
        [sys.executable, "-P", str(WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    return process, json.dumps([list(pair) for pair in chunk])


def _collect(process: subprocess.Popen, payload: str, n: int) -> list[CodeBLEUResult]:
    try:
        out, err = process.communicate(payload, timeout=30 + WORKER_TIMEOUT_S_PER_PAIR * n)
    except subprocess.TimeoutExpired as error:
        process.kill()
        process.communicate()
        raise CodeBLEUError(f"CodeBLEU worker timed out after {error.timeout:.0f} s") from error
    if process.returncode != 0:
        raise CodeBLEUError(f"CodeBLEU worker failed (exit {process.returncode}): {err.strip()[-500:]}")
    rows = json.loads(out)
    if len(rows) != n:
        raise CodeBLEUError(f"CodeBLEU worker returned {len(rows)} results for {n} pairs")
    return [CodeBLEUResult.from_worker(row) for row in rows]


def reference_code(translation: Translation, reference_system: System | None) -> str | None:
    """The code to score against: the reference system's translation, else the verified session's code."""
    if reference_system is not None:
        other = next((t for t in translation.sample.translations.all() if t.system_id == reference_system.pk), None)
        return other.code if other and other.code.strip() else None
    verified = [
        s
        for t in translation.sample.translations.all()
        for s in t.fix_sessions.all()
        if s.status == SessionStatus.VERIFIED and s.current_code.strip()
    ]
    # Prefer the sample's human-fixed code of a human system; else the earliest verified session.
    verified.sort(key=lambda s: (s.translation.system.mode != "human", s.verified_at or timezone.now(), s.pk))
    return verified[0].current_code if verified else None


def verified_reference(sample_id: int) -> str | None:
    """reference_code(translation, None) for one sample, in one query that reads one program's text."""
    human_first = Case(When(translation__system__mode=SystemMode.HUMAN, then=0), default=1)
    return (
        FixSession.objects.verified()
        .filter(translation__sample_id=sample_id, has_code=True)
        .order_by(human_first, F("verified_at").asc(nulls_last=True), "pk")
        .values_list("current_code", flat=True)
        .first()
    )


def samples_with_verified_reference() -> QuerySet:
    """Ids of the samples that have a verified reference: a subquery, or a few thousand small ints."""
    return verified_references().order_by().values_list("translation__sample_id", flat=True).distinct()


def verified_references() -> QuerySet:
    """The verified sessions whose code is not blank: each one a reference.

    Blank means empty or only whitespace as Python's str.strip() sees it (annotate.models.WHITESPACE: ASCII
    and Unicode spaces, tabs, line breaks), so this agrees with reference_code's `.strip()`. The test is the
    stored FixSession.has_code, read with the partial index fixsession_references: no program text is read.
    """
    return FixSession.objects.verified().filter(has_code=True)


def compute_for(
    translations: Sequence[Translation], *, reference_system: System | None = None, processes: int | None = None
) -> tuple[int, list[str]]:
    """Score and store CodeBLEU for `translations`; returns (stored, skipped reasons)."""
    label = reference_system.name if reference_system else VERIFIED
    todo: list[tuple[Translation, str]] = []
    skipped: list[str] = []
    for translation in translations:
        if reference_system is not None and translation.system_id == reference_system.pk:
            continue  # the reference itself scores 1 by definition and would skew means
        reference = reference_code(translation, reference_system)
        if reference is None:
            skipped.append(f"{translation}: no {label} reference code")
        elif not translation.code.strip():
            skipped.append(f"{translation}: empty translation")
        else:
            todo.append((translation, reference))
    results = score_pairs([(t.code, ref) for t, ref in todo], processes=processes)
    stored = 0
    with transaction.atomic():
        for (translation, _), result in zip(todo, results, strict=True):
            if result.codebleu is None:
                skipped.append(f"{translation}: {result.error}")
                continue
            CodeBLEUScore.objects.update_or_create(
                translation=translation,
                reference=label,
                defaults={
                    "codebleu": result.codebleu,
                    "ngram": result.ngram,
                    "weighted_ngram": result.weighted_ngram,
                    "syntax": result.syntax,
                    "dataflow": result.dataflow,
                    "hash_seed": HASH_SEED,
                    "computed_at": timezone.now(),
                },
            )
            stored += 1
    return stored, skipped


def compute(translations, report: ComputeReport, options: ComputeOptions) -> None:
    """The registry's compute step: score `translations` (a Translation queryset) and report what was stored."""
    scoring = translations.prefetch_related("sample__translations__fix_sessions__translation__system")
    reference = options.reference
    stored, skipped = compute_for(list(scoring), reference_system=reference, processes=options.processes)
    label = reference.name if reference else VERIFIED
    report.say(f"codebleu: {stored} translations scored against {label}; {len(skipped)} skipped")
    report.problems += [f"codebleu: {why}" for why in skipped]


def stored_values(translation_ids: TranslationIds) -> StoredValues:
    """The stored CodeBLEU of each translation: against the verified code where it exists, else the latest."""
    chosen: dict[int, CodeBLEUScore] = {}
    for score in CodeBLEUScore.objects.filter(translation_id__in=translation_ids).order_by("computed_at"):
        if score.translation_id not in chosen or score.reference == VERIFIED:
            chosen[score.translation_id] = score
    return {
        translation_id: {
            "codebleu": s.codebleu,
            "codebleu_ngram": s.ngram,
            "codebleu_weighted_ngram": s.weighted_ngram,
            "codebleu_syntax": s.syntax,
            "codebleu_dataflow": s.dataflow,
            "codebleu_reference": s.reference,
        }
        for translation_id, s in chosen.items()
    }
