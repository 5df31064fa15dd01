from __future__ import annotations

import pytest

from evaluate.contexts import DashboardContext, Filters, MeanCI
from tests.annotate.factories import SampleFactory, TranslationFactory
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory


def test_mean_with_a_normal_95_percent_interval():
    ci = MeanCI.of([1.0, 2.0, 3.0, None])
    assert (ci.mean, ci.n) == (2.0, 3)
    assert ci.low == pytest.approx(2 - 1.96 / 3**0.5, abs=1e-4)
    assert MeanCI.of([None]).mean is None


def test_the_dashboard_has_every_metric_per_system(evaluated):
    ctx = DashboardContext.from_database(bootstrap=50)
    rows = {row.name: row for row in ctx.systems}
    assert rows["base"].means["fixcost_steps"].mean == 3 and rows["t2j"].means["fixcost_steps"].mean == 1
    assert rows["t2j"].means["codebleu"].mean == 0.3 and rows["t2j"].verified == 2
    assert [(p.a, p.b, p.n, p.score_b) for p in ctx.pair_scores] == [("base", "t2j", 4, 1.0)]
    assert [r.system for r in ctx.bt_ranking] == ["t2j", "base"] and rows["t2j"].bt_rank == 1
    assert ctx.metric_rankings["CodeBLEU"][0][1] == "t2j"
    assert ctx.metric_rankings["FixCost (mean steps, fewer is better)"][0][1] == "t2j"
    assert ctx.fixcost_distribution == [
        {"system": "base", "0": 0, "1": 0, "2": 0, "3–5": 2, "6–10": 0, "11+": 0},
        {"system": "t2j", "0": 0, "1": 2, "2": 0, "3–5": 0, "6–10": 0, "11+": 0},
    ]
    assert [(r["system"], r["PRNG key misuse"]) for r in ctx.error_categories] == [("base", 6), ("t2j", 2)]
    assert [(s.system, [(g.label, g.count, g.percent) for g in s.segments]) for s in ctx.fixcost_stacks] == [
        ("base", [("3–5", 2, 100.0)]),
        ("t2j", [("1", 2, 100.0)]),
    ]
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


def test_dashboard_tables_export_as_rows(evaluated):
    ctx = DashboardContext.from_database(bootstrap=10)
    rows, columns = ctx.table("systems")
    assert columns[:4] == ["system", "mode", "translations", "verified"] and len(rows) == 2
    with pytest.raises(ValueError):
        ctx.table("nope")
