"""Metric tables as rows: one row per translation (the export_metrics format), raw comparisons and judgements.

Pages, the CSV/JSON downloads and the management command all use these functions, so they always agree.
The raw tables hold every row, superseded votes and scores too (for audit); `superseded_by` names the row
that replaced one (the same reviewer's later vote on the pair, or score of the item), empty for current rows.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Iterable, Iterator, Sequence

from django.db.models import QuerySet, Subquery

from annotate.models import Translation
from evaluate import metrics
from evaluate.models import Comparison, Judgement, later_scores, later_votes

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
        translations = Translation.objects.all()
    columns = list(columns if columns is not None else metrics.export_columns())
    rows: dict[int, dict] = {}
    # Names only: the programs' texts are never read for a table of numbers.
    for pk, sample_key, system_name in translations.values_list("pk", "sample__key", "system__name"):
        rows[pk] = dict.fromkeys((*ROW_KEYS, *columns))
        rows[pk].update(sample=sample_key, system=system_name)
    ids = translations.values("pk")  # a subquery: no list of ids however many translations there are
    wanted = set(columns)
    for metric in metrics.all_metrics():
        if not wanted.intersection(column.name for column in metric.columns):
            continue
        for translation_id, values in metric.values(ids).items():
            if translation_id in rows:
                rows[translation_id].update({k: v for k, v in values.items() if k in wanted})
    return list(rows.values())


# Rows are read in chunks with names joined in, never the translations' programs.
CHUNK_ROWS = 2000


def comparison_rows() -> Iterator[dict]:
    """Every vote, oldest first; superseded_by names the same reviewer's later vote on the pair (None: current)."""
    rows = Comparison.objects.order_by("pk").annotate(superseded_by=_first(later_votes())).values(
        "pk", "superseded_by", "sample__key", "left__system__name", "right__system__name", "judge_user__username",
        "judge_model", "order_seen", "verdict", "reason", "time_spent_s", "comments_stripped", "inconsistent",
        "created_at",
    )  # fmt: skip
    for c in rows.iterator(chunk_size=CHUNK_ROWS):
        yield {
            "id": c["pk"],
            "sample": c["sample__key"],
            "left_system": c["left__system__name"],
            "right_system": c["right__system__name"],
            "judge": c["judge_user__username"] or c["judge_model"],
            "order_seen": c["order_seen"],
            "verdict": c["verdict"],
            "reason": c["reason"],
            "time_spent_s": c["time_spent_s"],
            "comments_stripped": c["comments_stripped"],
            "inconsistent": c["inconsistent"],
            "created_at": c["created_at"].isoformat(),
            "superseded_by": c["superseded_by"],
        }


def judgement_rows() -> Iterator[dict]:
    """Every score, oldest first; superseded_by names the same reviewer's later score of the item (None: current)."""
    rows = Judgement.objects.order_by("pk").annotate(superseded_by=_first(later_scores())).values(
        "pk", "superseded_by", "translation__sample__key", "translation__system__name", "judge_user__username",
        "judge_model", "aspect", "with_reference", "score", "raw_output", "created_at",
    )  # fmt: skip
    for j in rows.iterator(chunk_size=CHUNK_ROWS):
        yield {
            "id": j["pk"],
            "sample": j["translation__sample__key"],
            "system": j["translation__system__name"],
            "judge": j["judge_user__username"] or j["judge_model"],
            "aspect": j["aspect"],
            "with_reference": j["with_reference"],
            "score": j["score"],
            "raw_output": j["raw_output"],
            "created_at": j["created_at"].isoformat(),
            "superseded_by": j["superseded_by"],
        }


def _first(later) -> Subquery:
    return Subquery(later.order_by("pk").values("pk")[:1])


# Text cells a spreadsheet would run as a formula (reasons and raw judge output are typed by people and LLMs).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FLUSH_CHARS = 1 << 16


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def iter_csv(rows: Iterable[dict], columns: Sequence[str]) -> Iterator[str]:
    """CSV with a header, a line at a time; empty cells where a value is None; formula-like text defused."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
        if out.tell() > FLUSH_CHARS:
            yield _drain(out)
    yield _drain(out)


def _drain(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def iter_json(rows: Iterable[dict]) -> Iterator[str]:
    """What json.dumps(list(rows), indent=2, ensure_ascii=False) gives, a row at a time."""
    first = True
    for row in rows:
        yield ("[\n" if first else ",\n") + textwrap.indent(json.dumps(row, indent=2, ensure_ascii=False), "  ")
        first = False
    yield "[]" if first else "\n]"


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    return "".join(iter_csv(rows, columns))


def to_json(rows: Iterable[dict]) -> str:
    return "".join(iter_json(rows))


TABLES = {
    "metrics": (metric_rows, metric_columns),
    "comparisons": (comparison_rows, lambda: COMPARISON_COLUMNS),
    "judgements": (judgement_rows, lambda: JUDGEMENT_COLUMNS),
}


def stream_table(table: str, fmt: str) -> Iterator[str]:
    """A table as CSV or JSON text in pieces: downloads and files stream it instead of building it whole."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    if fmt not in ("csv", "json"):
        raise ValueError("format must be csv or json")
    build, columns = TABLES[table]
    rows = build()
    return iter_csv(rows, columns()) if fmt == "csv" else iter_json(rows)


def render_table(table: str, fmt: str) -> str:
    return "".join(stream_table(table, fmt))
