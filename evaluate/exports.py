"""Metric tables as rows: one row per translation (the export_metrics format), raw comparisons and judgements.

Pages, the CSV/JSON downloads and the management command all use these functions, so they always agree.
The raw tables hold every row, superseded votes and scores too (for audit); `superseded_by` names the row
that replaced one (the same reviewer's later vote on the pair, or score of the item), empty for current rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from django.db.models import QuerySet

from annotate.models import Translation
from evaluate import metrics
from evaluate.models import Comparison, Judgement

ROW_KEYS = ("sample", "system")


def metric_columns() -> tuple[str, ...]:
    """The columns of the per-translation metrics table: sample, system, then every metric's, registry order."""
    return (*ROW_KEYS, *metrics.export_columns())


def __getattr__(name: str):
    # METRIC_COLUMNS is read from the registry when asked for, so a metric registered later is in it too.
    if name == "METRIC_COLUMNS":
        return metric_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "superseded_by",
)
JUDGEMENT_COLUMNS = (
    "id", "sample", "system", "judge", "aspect", "with_reference", "score", "raw_output", "created_at", "superseded_by",
)  # fmt: skip


def metric_rows(
    translations: QuerySet[Translation] | None = None, *, columns: Sequence[str] | None = None
) -> list[dict]:
    """One dict per translation (of the queryset, default all) with `columns` (default the export's after
    sample and system); None where a metric was not computed. Each metric's stored values are read once."""
    if translations is None:
        translations = Translation.objects.select_related("sample", "system")
    columns = list(columns if columns is not None else metrics.export_columns())
    rows: dict[int, dict] = {}
    for t in translations:
        rows[t.pk] = dict.fromkeys((*ROW_KEYS, *columns))
        rows[t.pk].update(sample=t.sample.key, system=t.system.name)
    ids = translations.values("pk")  # a subquery: no list of ids however many translations there are
    wanted = set(columns)
    for metric in metrics.all_metrics():
        if not wanted.intersection(column.name for column in metric.columns):
            continue
        for translation_id, values in metric.values(ids).items():
            if translation_id in rows:
                rows[translation_id].update({k: v for k, v in values.items() if k in wanted})
    return list(rows.values())


def _superseded_by(rows: list[dict], key) -> None:
    """Fill each row's superseded_by (rows in id order; `key(row)` is None for rows nobody supersedes)."""
    latest: dict = {}
    for row in reversed(rows):
        row["superseded_by"] = None
        item = key(row)
        if item is not None:
            row["superseded_by"] = latest.get(item)
            latest[item] = row["id"]


def comparison_rows() -> list[dict]:
    rows, pairs = [], {}
    for c in Comparison.objects.select_related("sample", "left__system", "right__system", "judge_user").order_by("pk"):
        pair = (min(c.left_id, c.right_id), max(c.left_id, c.right_id))
        pairs[c.pk] = (c.judge_user_id, *pair) if c.judge_user_id else None  # LLM verdicts supersede nothing
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
    _superseded_by(rows, lambda row: pairs[row["id"]])
    return rows


def judgement_rows() -> list[dict]:
    rows, items = [], {}
    for j in Judgement.objects.select_related("translation__sample", "translation__system", "judge_user").order_by(
        "pk"
    ):
        items[j.pk] = (j.judge_user_id, j.translation_id, j.aspect, j.with_reference) if j.judge_user_id else None
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
    _superseded_by(rows, lambda row: items[row["id"]])
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
    "metrics": (metric_rows, metric_columns),
    "comparisons": (comparison_rows, lambda: COMPARISON_COLUMNS),
    "judgements": (judgement_rows, lambda: JUDGEMENT_COLUMNS),
}


def render_table(table: str, fmt: str) -> str:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    if fmt not in ("csv", "json"):
        raise ValueError("format must be csv or json")
    build, columns = TABLES[table]
    rows = build()
    return to_csv(rows, columns()) if fmt == "csv" else to_json(rows)
