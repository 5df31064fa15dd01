"""The metric registry: one entry per metric, the one place its columns, direction and range are spelled.

compute.py (which metrics can be computed, and how), exports.py (the per-translation columns, in this
order), contexts.py (means per system, rankings, charts, correlations) and the dashboard template all loop
over it. Adding a metric: its module (how to compute and store it, how to read the stored values), its
model and migration, and one `Metric` entry here.

Entries are in export order. The dashboard shows the reference metric first (FixCost: every other metric is
correlated with its score, the T2J paper's point), then the others in this order.
"""

from __future__ import annotations

from evaluate.metrics import codebleu, codetrans, fixcost, runtime
from evaluate.metrics.base import Column, ComputeOptions, ComputeReport, Metric

__all__ = ["Column", "ComputeOptions", "ComputeReport", "Metric", "REFERENCE_COLUMN", "register", "unregister"]

# The column every other metric is correlated with, per translation.
REFERENCE_COLUMN = "fixcost_score"
_CODETRANS = (0.0, 4.0)
_UNIT = (0.0, 1.0)

_METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> None:
    """Add a metric at the end of the registry; ValueError when its name or a column name is taken."""
    taken = {column.name for m in _METRICS.values() for column in m.columns}
    clash = taken & {column.name for column in metric.columns}
    if metric.name in _METRICS or metric.name == "all" or clash:
        raise ValueError(f"metric {metric.name!r} or its columns {sorted(clash)} are already registered")
    _METRICS[metric.name] = metric


def unregister(name: str) -> None:
    del _METRICS[name]


def all_metrics() -> list[Metric]:
    return list(_METRICS.values())


def names() -> tuple[str, ...]:
    return tuple(_METRICS)


def get(name: str) -> Metric:
    return _METRICS[name]


def export_columns() -> tuple[str, ...]:
    """The per-translation export columns of every metric, in registry order (after sample and system)."""
    return tuple(column.name for metric in _METRICS.values() for column in metric.columns if column.export)


def dashboard_columns() -> list[Column]:
    """Every column, the reference metric's first: the order of the dashboard's tables, rankings and charts."""
    def is_reference(metric: Metric) -> bool:
        return any(column.name == REFERENCE_COLUMN for column in metric.columns)

    metrics = sorted(_METRICS.values(), key=lambda metric: not is_reference(metric))  # stable: the rest keep order
    return [column for metric in metrics for column in metric.columns]


register(
    Metric(
        name="codebleu",
        label="CodeBLEU",
        columns=(
            Column(
                "codebleu", "CodeBLEU", value_range=_UNIT, ranked="CodeBLEU", charted="Mean CodeBLEU", correlated=True
            ),
            Column("codebleu_ngram", value_range=_UNIT),
            Column("codebleu_weighted_ngram", value_range=_UNIT),
            Column("codebleu_syntax", value_range=_UNIT),
            Column("codebleu_dataflow", value_range=_UNIT),
            Column("codebleu_reference", value_range=None),  # 'verified' or the reference system's name
        ),
        compute=codebleu.compute,
        values=codebleu.stored_values,
    )
)
register(
    Metric(
        name="fixcost",
        label="FixCost",
        columns=(
            Column(
                "fixcost_steps", "FixCost steps", higher_is_better=False, ranked="FixCost (mean steps, fewer is better)"
            ),
            # Beside the human figure, on the dashboard, not in the export: how many of its steps step hygiene
            # flagged (FixCost without them is the difference), and the LLM's estimate.
            Column("fixcost_flagged_steps", "Flagged steps", higher_is_better=False, export=False),
            Column("fixcost_llm_steps", "LLM est. steps", higher_is_better=False, export=False),
            Column("fixcost_score", "FixCost Score", value_range=_UNIT, charted="Mean FixCost Score"),
            Column("fixcost_llm_score", value_range=_UNIT, export=False, correlated=True),
        ),
        compute=fixcost.compute,
        values=fixcost.stored_values,
    )
)
register(
    Metric(
        name="codetrans",
        label="CodeTrans Score (LLM judge and reviewers, 0–4)",
        columns=(
            Column("codetrans_usefulness_ref", "CodeTrans use ref/noref", value_range=_CODETRANS, correlated=True),
            Column(
                "codetrans_usefulness_noref",
                "CodeTrans use ref/noref",
                value_range=_CODETRANS,
                ranked="CodeTrans usefulness (no reference)",
                correlated=True,
            ),
            Column("codetrans_func_ref", "CodeTrans func ref/noref", value_range=_CODETRANS, correlated=True),
            Column(
                "codetrans_func_noref",
                "CodeTrans func ref/noref",
                value_range=_CODETRANS,
                ranked="CodeTrans functional correctness (no reference)",
                charted="Mean CodeTrans functional correctness (0–4)",
                correlated=True,
            ),
            Column("human_codetrans_usefulness_ref", value_range=_CODETRANS, correlated=True),
            Column("human_codetrans_usefulness_noref", value_range=_CODETRANS, correlated=True),
            Column("human_codetrans_func_ref", value_range=_CODETRANS, correlated=True),
            Column("human_codetrans_func_noref", "Human func noref", value_range=_CODETRANS, correlated=True),
        ),
        compute=codetrans.compute,
        values=codetrans.stored_values,
    )
)
register(
    Metric(
        name="runtime",
        label="Runtime",
        columns=(
            Column(
                "runtime_median_s",
                "Runtime median s",
                higher_is_better=False,
                ranked="Runtime (median s, lower is better)",
                correlated=True,
            ),
        ),
        compute=runtime.compute,
        values=runtime.stored_values,
    )
)
