"""Data the evaluate pages show, built as dataclasses so each can be tested without a request.

The dashboard's context is built here from stored rows (metric values, votes, scores) by the refresh job
and stored by evaluate/dashboard.py; pages read what it stored. Which metric columns are averaged, ranked,
charted and correlated is the registry's (evaluate/metrics/__init__.py).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import mean, stdev

from annotate.models import Difficulty, FixStep, Sample, SessionStatus, StepCategory, System, Translation
from evaluate import agreement, metrics, ranking
from evaluate.correlation import Correlation, correlation_table
from evaluate.exports import metric_rows
from evaluate.metrics import runtime
from evaluate.models import Comparison, Judgement, Verdict

FIXCOST_BINS = ((0, 0, "0"), (1, 1, "1"), (2, 2, "2"), (3, 5, "3–5"), (6, 10, "6–10"), (11, math.inf, "11+"))


@dataclass
class Filters:
    origin: str = ""
    difficulty: str = ""

    @classmethod
    def from_query(cls, query) -> Filters:
        # Only these two named filters are read; anything else in the query string is ignored (no ORM lookups).
        origin = str(query.get("origin", "")).strip()[:100]
        difficulty = str(query.get("difficulty", "")).strip()
        return cls(origin=origin, difficulty=difficulty if difficulty in Difficulty.values else "")

    def translations(self):
        qs = Translation.objects.select_related("sample", "system")
        if self.origin:
            qs = qs.filter(sample__origin=self.origin)
        if self.difficulty:
            qs = qs.filter(sample__difficulty=self.difficulty)
        return qs


@dataclass
class MeanCI:
    mean: float | None
    low: float | None
    high: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> MeanCI:
        present = [float(v) for v in values if v is not None]
        if not present:
            return cls(None, None, None, 0)
        m = mean(present)
        if len(present) < 2:
            return cls(round(m, 4), None, None, 1)
        half = 1.96 * stdev(present) / math.sqrt(len(present))  # normal-approximation 95% interval
        return cls(round(m, 4), round(m - half, 4), round(m + half, 4), len(present))


@dataclass
class SystemRow:
    name: str
    mode: str
    translations: int
    verified: int
    means: dict[str, MeanCI]
    cells: list[list[float | None]] = field(default_factory=list)  # the means, as the table's cells group them
    runtime_ratio: float | None = None
    bt_rank: int | None = None
    bt_strength: float | None = None
    bt_low: float | None = None
    bt_high: float | None = None


@dataclass
class Bar:
    label: str
    value: float
    low: float | None
    high: float | None
    # Positions in percent of the chart width, computed here so the template only draws.
    x: float = 0.0
    width_ci: float = 0.0
    x_low: float | None = None
    x_high: float | None = None


@dataclass
class Chart:
    title: str
    bars: list[Bar]
    kind: str = "bar"  # "bar" from zero, or "point" for values around zero (log-strengths)
    zero: float | None = None  # where 0 sits, percent of the width

    @classmethod
    def scaled(
        cls, title: str, bars: list[Bar], *, low: float | None = None, high: float | None = None, kind: str = "bar"
    ) -> Chart:
        values = [v for b in bars for v in (b.value, b.low, b.high) if v is not None]
        lo = min([0.0, *values]) if low is None else low
        hi = max([1e-9, *values]) if high is None else high
        span = (hi - lo) or 1.0

        def pct(v):
            return None if v is None else round(100 * (v - lo) / span, 2)

        for b in bars:
            b.x, b.x_low, b.x_high = pct(b.value), pct(b.low), pct(b.high)
            b.width_ci = round(b.x_high - b.x_low, 2) if b.x_low is not None else 0.0
        return cls(title, bars, kind, pct(0.0))


@dataclass
class Segment:
    label: str
    count: int
    percent: float
    index: int  # which colour


@dataclass
class Stack:
    """One system's counts as a 100% stacked bar (FixCost distribution, error categories)."""

    system: str
    total: int
    segments: list[Segment]

    @classmethod
    def from_rows(cls, rows: list[dict], labels: list[str]) -> list[Stack]:
        stacks = []
        for row in rows:
            total = sum(row[label] for label in labels)
            segments = [
                Segment(label, row[label], round(100 * row[label] / total, 2), i)
                for i, label in enumerate(labels)
                if total and row[label]
            ]
            stacks.append(cls(row["system"], total, segments))
        return stacks


@dataclass
class AgreementRow:
    what: str
    statistic: str
    value: float | None
    items: int


@dataclass
class TableCell:
    """A header of the systems table and the metric columns whose means its cells show ("ref / noref")."""

    label: str
    columns: list[str]

    @classmethod
    def from_registry(cls) -> list[TableCell]:
        cells: list[TableCell] = []
        for column in metrics.dashboard_columns():
            if not column.in_table:
                continue
            if cells and cells[-1].label == column.label:
                cells[-1].columns.append(column.name)
            else:
                cells.append(cls(column.label, [column.name]))
        return cells


@dataclass
class DashboardContext:
    filters: Filters = field(default_factory=Filters)
    origins: list[str] = field(default_factory=list)
    difficulties: list[str] = field(default_factory=list)
    baseline: str = ""
    system_columns: list[TableCell] = field(default_factory=list)
    systems: list[SystemRow] = field(default_factory=list)
    pair_scores: list[ranking.PairScore] = field(default_factory=list)
    bt_ranking: list[ranking.RankedSystem] = field(default_factory=list)
    metric_rankings: dict[str, list[tuple[int, str, float]]] = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)
    fixcost_distribution: list[dict] = field(default_factory=list)
    fixcost_bins: list[str] = field(default_factory=list)
    fixcost_stacks: list[Stack] = field(default_factory=list)
    error_categories: list[dict] = field(default_factory=list)
    error_stacks: list[Stack] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    agreement: list[AgreementRow] = field(default_factory=list)

    @classmethod
    def from_database(
        cls, filters: Filters | None = None, *, baseline: str = "", bootstrap: int = 500
    ) -> DashboardContext:
        filters = filters or Filters()
        translations = filters.translations()
        columns = metrics.dashboard_columns()
        rows = metric_rows(translations, columns=[c.name for c in columns])
        sample_ids = translations.values("sample_id")  # a subquery, however many samples
        human = list(
            Comparison.objects.filter(sample_id__in=sample_ids, judge_user__isnull=False)
            .select_related("left__system", "right__system")
            # System names, not the translations' code: 20k votes would otherwise read 40k programs.
            .only("verdict", "created_at", "judge_user_id", "left__system__name", "right__system__name")
        )
        outcomes = ranking.outcomes_from(human)
        ctx = cls(
            filters=filters,
            origins=list(
                Sample.objects.exclude(origin="").values_list("origin", flat=True).distinct().order_by("origin")
            ),
            difficulties=list(Difficulty.values),
            baseline=baseline,
            system_columns=TableCell.from_registry(),
            pair_scores=ranking.pair_scores(outcomes),
            bt_ranking=ranking.bradley_terry_ranking(outcomes, bootstrap=bootstrap),
            correlations=correlation_table(
                rows, [c.name for c in columns if c.correlated], target=metrics.REFERENCE_COLUMN
            ),
            agreement=agreement_rows(human, sample_ids),
        )
        ctx.systems = _system_rows(translations, rows, ctx.bt_ranking, baseline, ctx.system_columns)
        ctx.metric_rankings = _metric_rankings(ctx.systems, columns)
        ctx.charts = _charts(ctx.systems, ctx.bt_ranking, columns)
        ctx.fixcost_bins = [label for _, _, label in FIXCOST_BINS]
        ctx.fixcost_distribution = _fixcost_distribution(rows)
        ctx.categories = [label for _, label in StepCategory.choices]
        ctx.error_categories = _error_categories(sample_ids)
        ctx.fixcost_stacks = Stack.from_rows(ctx.fixcost_distribution, ctx.fixcost_bins)
        ctx.error_stacks = Stack.from_rows(ctx.error_categories, ctx.categories)
        return ctx

    def to_payload(self) -> dict:
        """The context as JSON-ready dicts and lists (what the dashboard stores and the template reads)."""
        return _json_safe(asdict(self))

    def table(self, name: str) -> tuple[list[dict], list[str]]:
        return dashboard_table(self.to_payload(), name)


def dashboard_table(context: dict, name: str) -> tuple[list[dict], list[str]]:
    """A table of a stored context (`to_payload()`) as export rows and columns (the CSV and JSON downloads)."""
    sources = {
        "pairs": "pair_scores",
        "ranking": "bt_ranking",
        "correlations": "correlations",
        "agreement": "agreement",
        "fixcost-distribution": "fixcost_distribution",
        "error-categories": "error_categories",
    }
    if name == "systems":
        rows = [_flat_system(s) for s in context["systems"]]
    elif name in sources:
        rows = context[sources[name]]
    else:
        raise ValueError(f"unknown dashboard table {name!r}")
    columns = list(rows[0]) if rows else []
    return rows, columns


DASHBOARD_TABLES = (
    "systems",
    "pairs",
    "ranking",
    "correlations",
    "agreement",
    "fixcost-distribution",
    "error-categories",
)


def _flat_system(row: dict) -> dict:
    flat = {"system": row["name"], **{key: row[key] for key in ("mode", "translations", "verified")}}
    for column, ci in row["means"].items():
        flat[f"mean_{column}"] = ci["mean"]
        flat[f"mean_{column}_n"] = ci["n"]
    flat.update({key: row[key] for key in ("runtime_ratio", "bt_rank", "bt_strength", "bt_low", "bt_high")})
    return flat


def _json_safe(value):
    """`value` with tuples as lists and NaN or infinite floats as None, so that it is valid JSON."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _system_rows(translations, rows, bt, baseline: str, cells: list[TableCell]) -> list[SystemRow]:
    by_system: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_system[row["system"]].append(row)
    verified = _verified_counts(translations)
    ratios = runtime.ratios(baseline) if baseline else {}
    bt_by_name = {r.system: r for r in bt}
    out = []
    for system in System.objects.filter(name__in=by_system):
        system_rows = by_system[system.name]
        means = {column: MeanCI.of([r[column] for r in system_rows]) for cell in cells for column in cell.columns}
        r = bt_by_name.get(system.name)
        out.append(
            SystemRow(
                name=system.name,
                mode=system.mode,
                translations=len(system_rows),
                verified=verified.get(system.name, 0),
                means=means,
                cells=[[means[column].mean for column in cell.columns] for cell in cells],
                runtime_ratio=round(ratios[system.name]["ratio"], 3) if system.name in ratios else None,
                bt_rank=r.rank if r else None,
                bt_strength=round(r.strength, 3) if r else None,
                bt_low=round(r.low, 3) if r else None,
                bt_high=round(r.high, 3) if r else None,
            )
        )
    return out


def _verified_counts(translations) -> Counter:
    return Counter(
        Translation.objects.filter(
            pk__in=translations.values("pk"), fix_sessions__status=SessionStatus.VERIFIED
        ).values_list("system__name", flat=True)
    )


def _metric_rankings(systems: list[SystemRow], columns) -> dict[str, list[tuple[int, str, float]]]:
    return {
        column.ranked: ranking.rank_by_metric(
            {s.name: s.means[column.name].mean for s in systems}, higher_is_better=column.higher_is_better
        )
        for column in columns
        if column.ranked
    }


def _charts(systems: list[SystemRow], bt: list[ranking.RankedSystem], columns) -> list[Chart]:
    charts = []
    for column in columns:
        if not column.charted:
            continue
        low, high = column.value_range
        bars = [
            Bar(s.name, s.means[column.name].mean, s.means[column.name].low, s.means[column.name].high)
            for s in systems
            if s.means[column.name].mean is not None
        ]
        if bars:
            charts.append(Chart.scaled(column.charted, bars, low=low, high=high))
    if bt:
        bars = [Bar(r.system, round(r.strength, 3), round(r.low, 3), round(r.high, 3)) for r in bt]
        charts.append(Chart.scaled("Bradley–Terry log-strength (95% bootstrap interval)", bars, kind="point"))
    return charts


def _fixcost_distribution(rows: list[dict]) -> list[dict]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        steps = row["fixcost_steps"]
        if steps is None:
            continue
        label = next(label for lo, hi, label in FIXCOST_BINS if lo <= steps <= hi)
        counts[row["system"]][label] += 1
    return [{"system": name, **{label: c[label] for _, _, label in FIXCOST_BINS}} for name, c in sorted(counts.items())]


def _error_categories(sample_ids) -> list[dict]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for system, category in (
        FixStep.objects.shared()
        .filter(session__translation__sample_id__in=sample_ids)
        .values_list("session__translation__system__name", "category")
    ):
        counts[system][category or StepCategory.OTHER] += 1
    return [
        {"system": name, **{label: c[value] for value, label in StepCategory.choices}}
        for name, c in sorted(counts.items())
    ]


def _pair_label(c: Comparison) -> str:
    """A reviewer's verdict in the pair's own orientation (lower translation id first), so sides do not matter."""
    if c.verdict in (Verdict.TIE, Verdict.BOTH_BAD):
        return c.verdict
    winner = c.left_id if c.verdict == Verdict.LEFT else c.right_id
    return "first" if winner == min(c.left_id, c.right_id) else "second"


def agreement_rows(human: list[Comparison], sample_ids) -> list[AgreementRow]:
    """Reviewer agreement on pairs (Cohen for 2 reviewers, Fleiss for more) and human vs LLM CodeTrans kappa."""
    by_pair: dict[tuple[int, int], list[Comparison]] = defaultdict(list)
    for c in sorted(human, key=lambda c: c.created_at):
        by_pair[(min(c.left_id, c.right_id), max(c.left_id, c.right_id))].append(c)
    out = []
    by_count: dict[int, list[list[str]]] = defaultdict(list)
    for votes in by_pair.values():
        if len(votes) >= 2:
            by_count[len(votes)].append([_pair_label(c) for c in votes])
    if by_count.get(2):
        first, second = zip(*by_count[2], strict=True)
        out.append(
            AgreementRow(
                "pairs with 2 reviewers",
                "Cohen's kappa",
                _round(agreement.cohen_kappa(first, second)),
                len(by_count[2]),
            )
        )
    categories = ["first", "second", Verdict.TIE, Verdict.BOTH_BAD]
    for n, items in sorted(by_count.items()):
        if n > 2 or (n == 2 and len(items) > 1):
            out.append(
                AgreementRow(
                    f"pairs with {n} reviewers",
                    "Fleiss' kappa",
                    _round(agreement.fleiss_kappa(agreement.labels_table(items, categories))),
                    len(items),
                )
            )
    out += _human_vs_llm(sample_ids)
    return out


def _human_vs_llm(sample_ids) -> list[AgreementRow]:
    """Weighted (quadratic) kappa between the rounded mean human score and the latest LLM score, per aspect."""
    human: dict[tuple, list[int]] = defaultdict(list)
    llm: dict[tuple, int] = {}
    rows = (
        Judgement.objects.filter(translation__sample_id__in=sample_ids, score__isnull=False)
        .order_by("created_at", "pk")
        .values_list("translation_id", "aspect", "with_reference", "judge_user_id", "score")
    )
    for translation_id, aspect, with_reference, judge_user_id, score in rows:
        key = (translation_id, aspect, with_reference)
        if judge_user_id:
            human[key].append(score)
        else:
            llm[key] = score
    rows = []
    for aspect in ("usefulness", "functional-correctness"):
        for with_reference in (False, True):
            keys = [k for k in human if k in llm and k[1] == aspect and k[2] == with_reference]
            if len(keys) >= 2:
                value = agreement.weighted_kappa([round(mean(human[k])) for k in keys], [llm[k] for k in keys])
                rows.append(
                    AgreementRow(
                        f"human vs LLM {aspect} ({'with' if with_reference else 'no'} reference)",
                        "weighted kappa (quadratic)",
                        _round(value),
                        len(keys),
                    )
                )
    return rows


def _round(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)
