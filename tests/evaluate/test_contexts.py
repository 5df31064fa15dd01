from __future__ import annotations

import pytest

from evaluate import metrics
from evaluate.contexts import DashboardContext, Filters
from tests.annotate.factories import SampleFactory, TranslationFactory
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory


def test_the_dashboard_has_every_metric_per_system(evaluated):
    ctx = DashboardContext.from_database(bootstrap=50)
    rows = {row.name: row for row in ctx.systems}
    assert rows["base"].means["fixcost_steps"].estimate == 3 and rows["t2j"].means["fixcost_steps"].estimate == 1
    assert rows["t2j"].means["codebleu"].estimate == 0.3 and rows["t2j"].verified == 2
    # 4 wins of 4: the Clopper–Pearson interval is [0.025 ** (1/4), 1], not a zero-width one.
    assert [(p.a, p.b, p.n, p.score_b, p.low, p.high) for p in ctx.pair_scores] == [
        ("base", "t2j", 4, 1.0, round(0.025**0.25, 4), 1.0)
    ]
    assert [r.system for r in ctx.bt_ranking] == ["t2j", "base"] and rows["t2j"].bt_rank == 1
    assert ctx.metric_rankings["CodeBLEU"][0][1] == "t2j"
    assert ctx.metric_rankings["FixCost (mean steps, fewer is better)"][0][1] == "t2j"
    assert ctx.fixcost_distribution == [
        {"system": "base", "0": 0, "1": 0, "2": 0, "3–5": 2, "6–10": 0, "11+": 0},
        {"system": "t2j", "0": 0, "1": 2, "2": 0, "3–5": 0, "6–10": 0, "11+": 0},
    ]
    assert [(r["system"], r["PRNG key misuse"]) for r in ctx.error_categories] == [("base", 6), ("t2j", 2)]
    [codebleu_diff] = [d for d in ctx.differences if d.metric == "codebleu"]
    assert (codebleu_diff.a, codebleu_diff.b, codebleu_diff.n, codebleu_diff.difference) == ("base", "t2j", 2, 0.1)
    assert (codebleu_diff.b_higher, codebleu_diff.a_higher) == (2, 0)
    codebleu = next(c for c in ctx.correlations if c.metric == "codebleu")
    assert codebleu.n == 4 and codebleu.spearman_rho == pytest.approx(1.0)
    [cohen] = [a for a in ctx.agreement if a.statistic == "Cohen's kappa"]
    assert cohen.items == 2


def test_filters_restrict_every_table(evaluated):
    ctx = DashboardContext.from_database(Filters(origin="TorchLeet"), bootstrap=10)
    assert {row.name: row.translations for row in ctx.systems} == {"base": 1, "t2j": 1}
    assert ctx.pair_scores[0].n == 2
    assert DashboardContext.from_database(Filters(difficulty="hard"), bootstrap=10).pair_scores[0].n == 2


def test_filters_ignore_anything_but_origin_and_known_difficulties():
    assert Filters.from_query({"difficulty": "evil", "origin": "x", "system__name": "y"}) == Filters(origin="x")


def test_agreement_reads_votes_in_the_pairs_own_orientation(db):
    sample = SampleFactory()
    a, b = TranslationFactory(sample=sample), TranslationFactory(sample=sample)
    # Same opinion (b is better) seen from opposite sides: perfect agreement, not disagreement.
    ComparisonFactory(sample=sample, left=a, right=b, verdict="right", judge_user=make_user("reviewer", "x1"))
    ComparisonFactory(sample=sample, left=b, right=a, verdict="left", judge_user=make_user("reviewer", "x2"))
    c, d = TranslationFactory(sample=sample), TranslationFactory(sample=sample)
    ComparisonFactory(sample=sample, left=c, right=d, verdict="tie", judge_user=make_user("reviewer", "x1"))
    ComparisonFactory(sample=sample, left=c, right=d, verdict="tie", judge_user=make_user("reviewer", "x2"))
    ctx = DashboardContext.from_database(bootstrap=10)
    [cohen] = [row for row in ctx.agreement if row.statistic == "Cohen's kappa"]
    assert cohen.value == 1.0


def test_a_changed_vote_replaces_the_earlier_one_in_scores_rankings_and_agreement(db):
    sample = SampleFactory()
    a, b = TranslationFactory(sample=sample), TranslationFactory(sample=sample)
    x1, x2 = make_user("reviewer", "x1"), make_user("reviewer", "x2")
    ComparisonFactory(sample=sample, left=a, right=b, verdict="left", judge_user=x1)  # superseded below
    ComparisonFactory(sample=sample, left=b, right=a, verdict="left", judge_user=x1)  # x1 changed their mind
    ComparisonFactory(sample=sample, left=a, right=b, verdict="right", judge_user=x2)
    ctx = DashboardContext.from_database(bootstrap=10)
    [pair] = ctx.pair_scores
    assert (pair.n, pair.score_b) == (2, 1.0)  # two votes, both for b: the superseded one counts nowhere
    assert [r.votes for r in ctx.bt_ranking] == [2, 2]
    [cohen] = [row for row in ctx.agreement if row.statistic == "Cohen's kappa"]
    assert cohen.items == 1


def test_dashboard_tables_export_as_rows(evaluated):
    ctx = DashboardContext.from_database(bootstrap=10)
    rows, columns = ctx.table("systems")
    assert columns[:4] == ["system", "mode", "translations", "verified"] and len(rows) == 2
    with pytest.raises(ValueError):
        ctx.table("nope")


def _intervals(ctx: DashboardContext):
    """(column, low, high) of every interval the dashboard shows, with the range it must lie in."""
    ranges = {column.name: column.value_range for column in metrics.dashboard_columns()}
    for row in ctx.systems:
        for column, ci in row.means.items():
            yield column, ranges[column], [ci.estimate, ci.low, ci.high]
    for d in ctx.differences:
        low, high = ranges[d.metric]
        if high is not None:  # a difference of unbounded values (FixCost steps) has no range to lie in
            yield d.metric, (-(high - low), high - low), [d.difference, d.low, d.high]
    for p in ctx.pair_scores:
        yield "pair score", (0.0, 1.0), [p.score_b, p.low, p.high]
    for c in ctx.correlations:
        yield c.metric, (-1.0, 1.0), [c.pearson_r, c.pearson_low, c.pearson_high, c.spearman_low, c.spearman_high]


def test_every_interval_of_the_dashboard_lies_inside_its_metrics_range(evaluated):
    # CodeBLEU near its maximum on few samples: the old normal approximation printed [0.648, 1.0899] for such data.
    from evaluate.models import CodeBLEUScore

    for value, score in zip((1.0, 0.62), CodeBLEUScore.objects.filter(translation__system__name="t2j"), strict=True):
        CodeBLEUScore.objects.filter(pk=score.pk).update(codebleu=value)
    ctx = DashboardContext.from_database(bootstrap=10)
    checked = 0
    for column, value_range, values in _intervals(ctx):
        for value in (v for v in values if v is not None):
            low, high = value_range
            assert low <= value and (high is None or value <= high), (column, values)
            checked += 1
    assert checked > 20
    t2j = next(row for row in ctx.systems if row.name == "t2j").means["codebleu"]
    assert t2j.estimate == 0.81 and t2j.high <= 1.0 and "BCa bootstrap" in t2j.method


def test_every_plot_has_its_data_and_says_its_n(evaluated):
    ctx = DashboardContext.from_database(bootstrap=10)
    shown = [plot for section in ctx.plots.values() for plot in section]
    ids = [plot.id for plot in shown]
    assert len(ids) == len(set(ids))
    expected = ("mean-codebleu", "box-codebleu", "box-fixcost-steps", "difference-codebleu", "bradley-terry")
    assert {*expected, "scatter-codebleu", "fixcost-distribution", "error-categories"} <= set(ids)
    for plot in shown:
        assert plot.rows and plot.caption.startswith("n") and ctx.table(plot.table)[0], plot.id
    box = next(plot for plot in shown if plot.id == "box-codebleu")
    assert [(r["group"], r["n"], r["median"]) for r in box.rows] == [("base", 2, 0.2), ("t2j", 2, 0.3)]
    assert box.options["points"] == {"base": [0.2, 0.2], "t2j": [0.3, 0.3]}
    scatter = next(plot for plot in shown if plot.id == "scatter-codebleu")
    assert len(scatter.rows) == 4 and scatter.options["fit"]["slope"] > 0
