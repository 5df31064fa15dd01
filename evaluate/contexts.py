"""Data the evaluate pages show, built as dataclasses so each can be tested without a request.

The dashboard's context is built here from stored rows (metric values, votes, scores) by the refresh job
and stored by evaluate/dashboard.py; pages read what it stored. Which metric columns are averaged, ranked,
charted and correlated is the registry's (evaluate/metrics/__init__.py).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from itertools import combinations
from statistics import mean

from annotate.models import Difficulty, FixStep, Sample, SessionStatus, StepCategory, System, Translation
from evaluate import agreement, metrics, plots, ranking
from evaluate.correlation import Correlation, correlation_table
from evaluate.exports import metric_rows
from evaluate.metrics import runtime
from evaluate.models import Comparison, Judgement, Verdict
from evaluate.plots import Plot
from evaluate.statistics import BCA_MAX_N, Interval, mean_ci, paired_difference, proportion_ci

# The dashboard is rebuilt after every batch of votes or metrics: 2,000 resamples give its interval bounds to about
# the third decimal at a fifth of scipy's default cost (an experiment's report uses the default 9,999).
DASHBOARD_RESAMPLES = 2000
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
class SystemRow:
    name: str
    mode: str
    translations: int
    verified: int
    means: dict[str, Interval]  # per column: the mean with its bootstrap CI and n
    cells: list[list[Interval]] = field(default_factory=list)  # the means, as the table's cells group them
    runtime_ratio: float | None = None
    bt_rank: int | None = None
    bt_strength: float | None = None
    bt_low: float | None = None
    bt_high: float | None = None


@dataclass
class PairScoreRow:
    """Comparison Score of b over a (ties half) with its Clopper–Pearson interval."""

    a: str
    b: str
    n: int
    score_b: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, score: ranking.PairScore) -> PairScoreRow:
        share = proportion_ci(score.score_b * score.n, score.n)
        return cls(score.a, score.b, score.n, _round(share.estimate), _round(share.low), _round(share.high))


@dataclass
class DifferenceRow:
    """One metric's per-sample difference b - a between two systems, over the samples both have a value for."""

    metric: str
    a: str
    b: str
    n: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    low: float | None
    high: float | None
    wilcoxon_p: float | None
    b_higher: int
    a_higher: int
    equal: int


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
    pair_scores: list[PairScoreRow] = field(default_factory=list)
    bt_ranking: list[ranking.RankedSystem] = field(default_factory=list)
    differences: list[DifferenceRow] = field(default_factory=list)
    metric_rankings: dict[str, list[tuple[int, str, float]]] = field(default_factory=dict)
    fixcost_distribution: list[dict] = field(default_factory=list)
    fixcost_bins: list[str] = field(default_factory=list)
    error_categories: list[dict] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    agreement: list[AgreementRow] = field(default_factory=list)
    # Plots by the page section that shows them: systems, differences, ranking, correlations, fixcost, errors.
    plots: dict[str, list[Plot]] = field(default_factory=dict)
    # How each table's intervals and tests were computed, by table name (every table says its method).
    methods: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_database(
        cls,
        filters: Filters | None = None,
        *,
        baseline: str = "",
        bootstrap: int = 500,
        resamples: int = DASHBOARD_RESAMPLES,
    ) -> DashboardContext:
        """`bootstrap`: Bradley–Terry refits over resampled votes; `resamples`: bootstrap resamples of each mean,
        paired difference and Spearman interval."""
        filters = filters or Filters()
        translations = filters.translations()
        columns = metrics.dashboard_columns()
        rows = metric_rows(translations, columns=[c.name for c in columns])
        sample_ids = translations.values("sample_id")  # a subquery, however many samples
        # Each reviewer's latest vote per pair: a changed vote replaces the earlier one in every figure.
        human = list(
            Comparison.objects.filter(sample_id__in=sample_ids, judge_user__isnull=False)
            .current()
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
            pair_scores=[PairScoreRow.of(score) for score in ranking.pair_scores(outcomes)],
            bt_ranking=ranking.bradley_terry_ranking(outcomes, bootstrap=bootstrap),
            correlations=correlation_table(
                rows, [c.name for c in columns if c.correlated], target=metrics.REFERENCE_COLUMN, resamples=resamples
            ),
            agreement=agreement_rows(human, sample_ids),
        )
        ctx.systems = _system_rows(translations, rows, ctx.bt_ranking, baseline, ctx.system_columns, resamples)
        ctx.differences = _differences(rows, columns, resamples)
        ctx.metric_rankings = _metric_rankings(ctx.systems, columns)
        ctx.fixcost_bins = [label for _, _, label in FIXCOST_BINS]
        ctx.fixcost_distribution = _fixcost_distribution(rows)
        ctx.categories = [label for _, label in StepCategory.choices]
        ctx.error_categories = _error_categories(sample_ids)
        ctx.methods = _methods(ctx, bootstrap, resamples)
        ctx.plots = _plots(ctx, rows, columns, resamples)
        return ctx

    def to_payload(self) -> dict:
        """The context as JSON-ready dicts and lists (what the dashboard stores and the template reads)."""
        return _json_safe(asdict(self))

    def table(self, name: str) -> tuple[list[dict], list[str]]:
        return dashboard_table(self.to_payload(), name)


def dashboard_table(context: dict, name: str) -> tuple[list[dict], list[str]]:
    """A table of a stored context (`to_payload()`) as export rows and columns (the CSV and JSON downloads):
    one of DASHBOARD_TABLES, or `plot-<id>`, the data of one plot. ValueError for any other name."""
    sources = {
        "pairs": "pair_scores",
        "ranking": "bt_ranking",
        "differences": "differences",
        "correlations": "correlations",
        "agreement": "agreement",
        "fixcost-distribution": "fixcost_distribution",
        "error-categories": "error_categories",
    }
    if name == "systems":
        rows = [_flat_system(s) for s in context["systems"]]
    elif name in sources:
        rows = context[sources[name]]
    elif plot := next((p for shown in context.get("plots", {}).values() for p in shown if p["table"] == name), None):
        return plot["rows"], plot["columns"]
    else:
        raise ValueError(f"unknown dashboard table {name!r}")
    return rows, list(rows[0]) if rows else _empty_table_columns(context, name)


def _empty_table_columns(context: dict, name: str) -> list[str]:
    """The header of a table with no rows yet: a CSV download always has its header row."""
    if name == "systems":
        means = [f"mean_{c.name}{end}" for c in metrics.dashboard_columns() for end in ("", "_low", "_high", "_n")]
        return ["system", "mode", "translations", "verified", *means, "runtime_ratio", "bt_rank", "bt_strength",
                "bt_low", "bt_high"]  # fmt: skip
    if name == "fixcost-distribution":
        return ["system", *context.get("fixcost_bins", [])]
    if name == "error-categories":
        return ["system", *(label for _, label in StepCategory.choices)]
    row_type = {
        "pairs": PairScoreRow, "ranking": ranking.RankedSystem, "differences": DifferenceRow,
        "correlations": Correlation, "agreement": AgreementRow,
    }[name]  # fmt: skip
    return [f.name for f in fields(row_type)]


DASHBOARD_TABLES = (
    "systems",
    "pairs",
    "ranking",
    "differences",
    "correlations",
    "agreement",
    "fixcost-distribution",
    "error-categories",
)


def _flat_system(row: dict) -> dict:
    flat = {"system": row["name"], **{key: row[key] for key in ("mode", "translations", "verified")}}
    for column, ci in row["means"].items():
        flat[f"mean_{column}"] = ci["estimate"]
        flat[f"mean_{column}_low"] = ci["low"]
        flat[f"mean_{column}_high"] = ci["high"]
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


def _system_rows(translations, rows, bt, baseline: str, cells: list[TableCell], resamples: int) -> list[SystemRow]:
    by_system: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_system[row["system"]].append(row)
    verified = _verified_counts(translations)
    ratios = runtime.ratios(baseline) if baseline else {}
    bt_by_name = {r.system: r for r in bt}
    ranges = {column.name: column.value_range for column in metrics.dashboard_columns()}
    out = []
    for system in System.objects.filter(name__in=by_system):
        system_rows = by_system[system.name]
        means = {
            column: _rounded(mean_ci([r[column] for r in system_rows], ranges[column], resamples=resamples))
            for cell in cells
            for column in cell.columns
        }
        r = bt_by_name.get(system.name)
        out.append(
            SystemRow(
                name=system.name,
                mode=system.mode,
                translations=len(system_rows),
                verified=verified.get(system.name, 0),
                means=means,
                cells=[[means[column] for column in cell.columns] for cell in cells],
                runtime_ratio=round(ratios[system.name]["ratio"], 3) if system.name in ratios else None,
                bt_rank=r.rank if r else None,
                bt_strength=round(r.strength, 3) if r else None,
                bt_low=round(r.low, 3) if r else None,
                bt_high=round(r.high, 3) if r else None,
            )
        )
    return out


def _rounded(ci: Interval) -> Interval:
    return Interval(_round(ci.estimate), _round(ci.low), _round(ci.high), ci.n, ci.method)


def _verified_counts(translations) -> Counter:
    return Counter(
        Translation.objects.filter(
            pk__in=translations.values("pk"), fix_sessions__status=SessionStatus.VERIFIED
        ).values_list("system__name", flat=True)
    )


def _metric_rankings(systems: list[SystemRow], columns) -> dict[str, list[tuple[int, str, float]]]:
    return {
        column.ranked: ranking.rank_by_metric(
            {s.name: s.means[column.name].estimate for s in systems}, higher_is_better=column.higher_is_better
        )
        for column in columns
        if column.ranked
    }


def _differences(rows: list[dict], columns, resamples: int) -> list[DifferenceRow]:
    """Every pair of systems on each ranked column, paired by sample (b - a, systems in name order)."""
    by_sample: dict[str, dict[str, dict]] = defaultdict(dict)  # system -> sample -> row
    for row in rows:
        by_sample[row["system"]][row["sample"]] = row
    out = []
    for column in columns:
        if not column.ranked:
            continue
        for a, b in combinations(sorted(by_sample), 2):
            common = sorted(
                key
                for key in by_sample[a].keys() & by_sample[b].keys()
                if by_sample[a][key][column.name] is not None and by_sample[b][key][column.name] is not None
            )
            if len(common) < 2:
                continue
            d = paired_difference(
                [by_sample[a][key][column.name] for key in common],
                [by_sample[b][key][column.name] for key in common],
                column.value_range,
                resamples=resamples,
            )
            out.append(
                DifferenceRow(
                    column.name,
                    a,
                    b,
                    d.n,
                    _round(d.mean_a),
                    _round(d.mean_b),
                    _round(d.difference.estimate),
                    _round(d.difference.low),
                    _round(d.difference.high),
                    _round(d.wilcoxon_p),
                    d.b_higher,
                    d.a_higher,
                    d.equal,
                )
            )
    return out


def _methods(ctx: DashboardContext, bootstrap: int, resamples: int) -> dict[str, str]:
    """Each table's methods, as its caption states them (the distinct methods its figures were computed with)."""

    def listed(methods, none: str) -> str:
        return "; ".join(sorted({m for m in methods if m})) or none

    return {
        "systems": listed(
            (ci.method for row in ctx.systems for ci in row.means.values()), "no intervals: fewer than two values"
        ),
        "pairs": "Clopper–Pearson exact 95% CI of the share (scipy.stats.binomtest); ties and both-bad count half",
        "ranking": (
            f"Bradley–Terry (Hunter's MM, 0.1 virtual wins each way per pair that met); 95% percentile bootstrap "
            f"over votes, {bootstrap} refits, seed 0"
        ),
        "differences": (
            f"b − a per sample, over the samples both systems have a value for; bootstrap 95% CI of the mean "
            f"difference (scipy.stats.bootstrap, paired, BCa up to {BCA_MAX_N:,} pairs, percentile above, "
            f"{resamples:,} resamples, seed 0); Wilcoxon signed-rank p (two-sided, zero differences dropped)"
        ),
        "correlations": listed(
            (m for c in ctx.correlations for m in (c.pearson_method, c.spearman_method)),
            "no correlation: fewer than three translations with both values",
        ),
    }


def _plots(ctx: DashboardContext, rows: list[dict], columns, resamples: int) -> dict[str, list[Plot]]:
    """Every plot of the dashboard by section: means with CIs and per-system boxes, paired differences,
    Bradley–Terry, metrics against FixCost Score, FixCost distribution, error categories."""
    by_system: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_system[row["system"]].append(row)
    systems = [
        plots.mean_bars(
            f"mean-{_slug(column.name)}",
            column.charted,
            {s.name: s.means[column.name] for s in ctx.systems},
            column.value_range,
        )
        for column in columns
        if column.charted and any(s.means[column.name].estimate is not None for s in ctx.systems)
    ]
    systems += [
        plots.box_plot(
            f"box-{_slug(column.name)}",
            f"{column.label or column.name} per system",
            {name: [r[column.name] for r in system_rows] for name, system_rows in sorted(by_system.items())},
            column.value_range,
            resamples=resamples,
            intervals={s.name: s.means[column.name] for s in ctx.systems},  # the systems table's, not recomputed
        )
        for column in columns
        if column.in_table and column.value_range is not None and any(r[column.name] is not None for r in rows)
    ]
    differences = [
        _difference_plot(column, diffs, ctx.methods["differences"])
        for column in columns
        if (diffs := [d for d in ctx.differences if d.metric == column.name])
    ]
    return {
        "systems": systems,
        "differences": differences,
        "ranking": [_bradley_terry_plot(ctx)] if ctx.bt_ranking else [],
        "correlations": _scatter_plots(rows, columns),
        "fixcost": _stacked_plot(
            "fixcost-distribution",
            "FixCost distribution",
            ctx.fixcost_distribution,
            ctx.fixcost_bins,
            "verified translations, counted by fix steps",
        ),
        "errors": _stacked_plot(
            "error-categories",
            "Error categories per system",
            ctx.error_categories,
            ctx.categories,
            "counted steps of verified sessions, by category",
        ),
    }


def _bradley_terry_plot(ctx: DashboardContext) -> Plot:
    forest_rows = [
        {
            "label": r.system,
            "estimate": _round(r.strength),
            "low": _round(r.low),
            "high": _round(r.high),
            "votes": r.votes,
        }
        for r in ctx.bt_ranking
    ]
    votes = sum(r.votes for r in ctx.bt_ranking) // 2  # each vote counts for both of its systems
    caption = f"n = {votes} reviewer votes. {ctx.methods['ranking']}."
    return plots.forest("bradley-terry", "Bradley–Terry log-strength", forest_rows, caption=caption)


def _stacked_plot(table: str, title: str, rows: list[dict], categories: list[str], what: str) -> list[Plot]:
    """The plot of a count table (its CSV is that table's), or none when the table is empty."""
    if not rows:
        return []
    n = sum(sum(count for key, count in row.items() if key != "system") for row in rows)
    return [plots.stacked(table, title, rows, categories, caption=f"n = {n} {what}.", table=table)]


def _difference_plot(column, diffs: list[DifferenceRow], method: str) -> Plot:
    label = column.label or column.name
    forest_rows = [
        {
            "label": f"{d.b} − {d.a}",
            "estimate": d.difference,
            "low": d.low,
            "high": d.high,
            "n": d.n,
            "wilcoxon_p": d.wilcoxon_p,
        }
        for d in diffs
    ]
    better = "higher" if column.higher_is_better else "lower"
    caption = f"n per pair: {', '.join(str(d.n) for d in diffs)} samples; {better} is better. {method}."
    return plots.forest(
        f"difference-{_slug(column.name)}", f"Paired difference in {label}", forest_rows, caption=caption
    )


def _scatter_plots(rows: list[dict], columns) -> list[Plot]:
    reference = next(c for c in columns if c.name == metrics.REFERENCE_COLUMN)
    out = []
    for column in columns:
        if not column.correlated:
            continue
        points = [
            (r["system"], r["sample"], r[reference.name], r[column.name])
            for r in rows
            if r[reference.name] is not None and r[column.name] is not None
        ]
        if len(points) >= 3:
            out.append(
                plots.scatter_with_fit(
                    f"scatter-{_slug(column.name)}",
                    f"{column.label or column.name} against FixCost Score",
                    points,
                    x_label=reference.label or reference.name,
                    y_label=column.label or column.name,
                    x_range=reference.value_range,
                    y_range=column.value_range,
                )
            )
    return out


def _slug(name: str) -> str:
    return name.replace("_", "-").lower()


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
    """Weighted (quadratic) kappa between the rounded mean of the reviewers' latest scores and the latest LLM
    score, per aspect."""
    human: dict[tuple, list[int]] = defaultdict(list)
    llm: dict[tuple, int] = {}
    rows = (
        Judgement.objects.filter(translation__sample_id__in=sample_ids, score__isnull=False)
        .current()
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


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)
