"""Metric tables as rows: one row per translation (the export_metrics format), raw comparisons and judgements.

Pages, the CSV/JSON downloads and the management command all use these functions, so they always agree.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import mean

from annotate.models import Translation
from evaluate.models import (
    Aspect,
    CodeBLEUScore,
    Comparison,
    FixCostRecord,
    FixCostSource,
    Judgement,
    RuntimeMeasurement,
)

METRIC_COLUMNS = (
    "sample",
    "system",
    "codebleu",
    "codebleu_ngram",
    "codebleu_weighted_ngram",
    "codebleu_syntax",
    "codebleu_dataflow",
    "codebleu_reference",
    "fixcost_steps",
    "fixcost_score",
    "codetrans_usefulness_ref",
    "codetrans_usefulness_noref",
    "codetrans_func_ref",
    "codetrans_func_noref",
    "human_codetrans_usefulness_ref",
    "human_codetrans_usefulness_noref",
    "human_codetrans_func_ref",
    "human_codetrans_func_noref",
    "runtime_median_s",
)
CODETRANS_KEYS = {
    (Aspect.USEFULNESS, True): "codetrans_usefulness_ref",
    (Aspect.USEFULNESS, False): "codetrans_usefulness_noref",
    (Aspect.FUNCTIONAL_CORRECTNESS, True): "codetrans_func_ref",
    (Aspect.FUNCTIONAL_CORRECTNESS, False): "codetrans_func_noref",
}
COMPARISON_COLUMNS = (
    "id",
    "sample",
    "left_system",
    "right_system",
    "judge",
    "order_seen",
    "verdict",
    "reason",
    "time_spent_s",
    "comments_stripped",
    "inconsistent",
    "created_at",
)
JUDGEMENT_COLUMNS = ("id", "sample", "system", "judge", "aspect", "with_reference", "score", "raw_output", "created_at")


def metric_rows(translations: Iterable[Translation] | None = None, *, reference: str | None = None) -> list[dict]:
    """One dict per translation with METRIC_COLUMNS; None where a metric was not computed.

    `reference` picks which stored CodeBLEU to show ('verified' or a system name); by default 'verified'
    where it exists, else whichever reference was computed.
    """
    if translations is None:
        translations = Translation.objects.select_related("sample", "system")
    translations = list(translations)
    ids = [t.pk for t in translations]
    codebleu = _codebleu_by_translation(ids, reference)
    fixcost = {
        r.translation_id: r for r in FixCostRecord.objects.filter(translation_id__in=ids, source=FixCostSource.HUMAN)
    }
    llm_scores, human_scores = _codetrans_by_translation(ids)
    runtime = dict(RuntimeMeasurement.objects.filter(translation_id__in=ids).values_list("translation_id", "median_s"))
    rows = []
    for t in translations:
        row = dict.fromkeys(METRIC_COLUMNS)
        row["sample"], row["system"] = t.sample.key, t.system.name
        if (cb := codebleu.get(t.pk)) is not None:
            row.update(
                codebleu=cb.codebleu,
                codebleu_ngram=cb.ngram,
                codebleu_weighted_ngram=cb.weighted_ngram,
                codebleu_syntax=cb.syntax,
                codebleu_dataflow=cb.dataflow,
                codebleu_reference=cb.reference,
            )
        if (fc := fixcost.get(t.pk)) is not None:
            row.update(fixcost_steps=int(fc.steps), fixcost_score=fc.score)
        row.update(llm_scores.get(t.pk, {}))
        row.update({f"human_{k}": v for k, v in human_scores.get(t.pk, {}).items()})
        row["runtime_median_s"] = runtime.get(t.pk)
        rows.append(row)
    return rows


def _codebleu_by_translation(ids: Sequence[int], reference: str | None) -> dict[int, CodeBLEUScore]:
    scores = CodeBLEUScore.objects.filter(translation_id__in=ids)
    if reference:
        return {s.translation_id: s for s in scores.filter(reference=reference)}
    chosen: dict[int, CodeBLEUScore] = {}
    for s in scores.order_by("computed_at"):
        if s.translation_id not in chosen or s.reference == "verified":
            chosen[s.translation_id] = s
    return chosen


def _codetrans_by_translation(ids: Sequence[int]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Latest LLM score per key, and the mean over reviewers of each reviewer's latest score."""
    llm: dict[int, dict] = defaultdict(dict)
    human: dict[tuple[int, str], dict[int, int]] = defaultdict(dict)
    # Oldest first, so later judgements overwrite earlier ones.
    for j in Judgement.objects.filter(translation_id__in=ids, score__isnull=False).order_by("created_at", "pk"):
        key = CODETRANS_KEYS[(j.aspect, j.with_reference)]
        if j.judge_user_id:
            human[(j.translation_id, key)][j.judge_user_id] = j.score
        else:
            llm[j.translation_id][key] = float(j.score)
    humans: dict[int, dict] = defaultdict(dict)
    for (translation_id, key), by_user in human.items():
        humans[translation_id][key] = round(mean(by_user.values()), 4)
    return llm, humans


def comparison_rows() -> list[dict]:
    rows = []
    for c in Comparison.objects.select_related("sample", "left__system", "right__system", "judge_user").order_by("pk"):
        rows.append(
            {
                "id": c.pk,
                "sample": c.sample.key,
                "left_system": c.left.system.name,
                "right_system": c.right.system.name,
                "judge": c.judge_user.get_username() if c.judge_user else c.judge_model,
                "order_seen": c.order_seen,
                "verdict": c.verdict,
                "reason": c.reason,
                "time_spent_s": c.time_spent_s,
                "comments_stripped": c.comments_stripped,
                "inconsistent": c.inconsistent,
                "created_at": c.created_at.isoformat(),
            }
        )
    return rows


def judgement_rows() -> list[dict]:
    rows = []
    for j in Judgement.objects.select_related("translation__sample", "translation__system", "judge_user").order_by(
        "pk"
    ):
        rows.append(
            {
                "id": j.pk,
                "sample": j.translation.sample.key,
                "system": j.translation.system.name,
                "judge": j.judge_user.get_username() if j.judge_user else j.judge_model,
                "aspect": j.aspect,
                "with_reference": j.with_reference,
                "score": j.score,
                "raw_output": j.raw_output,
                "created_at": j.created_at.isoformat(),
            }
        )
    return rows


# Text cells a spreadsheet would run as a formula (reasons and raw judge output are typed by people and LLMs).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """CSV with a header; empty cells where a value is None; formula-like text defused with a leading quote."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return out.getvalue()


def to_json(rows: Sequence[dict]) -> str:
    return json.dumps(list(rows), indent=2, ensure_ascii=False)


TABLES = {
    "metrics": (metric_rows, METRIC_COLUMNS),
    "comparisons": (comparison_rows, COMPARISON_COLUMNS),
    "judgements": (judgement_rows, JUDGEMENT_COLUMNS),
}


def render_table(table: str, fmt: str) -> str:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    if fmt not in ("csv", "json"):
        raise ValueError("format must be csv or json")
    build, columns = TABLES[table]
    rows = build()
    return to_csv(rows, columns) if fmt == "csv" else to_json(rows)
