from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import SessionStatus
from evaluate.exports import METRIC_COLUMNS, comparison_rows, judgement_rows, metric_rows, render_table
from evaluate.metrics.fixcost import compute_human
from evaluate.models import CodeBLEUScore, RuntimeMeasurement
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory, JudgementFactory


@pytest.fixture
def measured(db):
    """One translation with every metric stored, and one with none."""
    sample = SampleFactory(key="e1")
    full = TranslationFactory(sample=sample, system=SystemFactory(name="t2j"))
    session = FixSessionFactory(translation=full, status=SessionStatus.VERIFIED)
    FixStepFactory(session=session, index=1)
    FixStepFactory(session=session, index=2)
    compute_human()
    CodeBLEUScore.objects.create(
        translation=full, reference="verified", codebleu=0.5, ngram=0.1, weighted_ngram=0.2, syntax=0.3, dataflow=0.4
    )
    for aspect, ref, score in (
        ("usefulness", True, 3),
        ("usefulness", False, 2),
        ("functional-correctness", True, 1),
        ("functional-correctness", False, 0),
    ):
        JudgementFactory(
            translation=full, judge_user=None, judge_model="judge", aspect=aspect, with_reference=ref, score=score
        )
    JudgementFactory(translation=full, judge_user=make_user("reviewer", "h1"), aspect="usefulness", score=4)
    JudgementFactory(translation=full, judge_user=make_user("reviewer", "h2"), aspect="usefulness", score=1)
    RuntimeMeasurement.objects.create(sample=sample, translation=full, label="whole-program", median_s=1.25)
    empty = TranslationFactory(sample=SampleFactory(key="e2"), system=full.system)
    return full, empty


def test_one_row_per_translation_with_every_column(measured):
    rows = {row["sample"]: row for row in metric_rows()}
    assert rows["e1"] == {
        "sample": "e1",
        "system": "t2j",
        "codebleu": 0.5,
        "codebleu_ngram": 0.1,
        "codebleu_weighted_ngram": 0.2,
        "codebleu_syntax": 0.3,
        "codebleu_dataflow": 0.4,
        "codebleu_reference": "verified",
        "fixcost_steps": 2,
        "fixcost_score": pytest.approx(1 / 3),
        "codetrans_usefulness_ref": 3.0,
        "codetrans_usefulness_noref": 2.0,
        "codetrans_func_ref": 1.0,
        "codetrans_func_noref": 0.0,
        "human_codetrans_usefulness_ref": None,
        "human_codetrans_usefulness_noref": 2.5,
        "human_codetrans_func_ref": None,
        "human_codetrans_func_noref": None,
        "runtime_median_s": 1.25,
    }
    assert all(value is None for key, value in rows["e2"].items() if key not in ("sample", "system"))


def test_a_reviewers_latest_score_counts_once(measured):
    full, _ = measured
    JudgementFactory(translation=full, judge_user=make_user("reviewer", "h1"), aspect="usefulness", score=2)
    row = next(r for r in metric_rows() if r["sample"] == "e1")
    assert row["human_codetrans_usefulness_noref"] == 1.5


def test_export_metrics_writes_csv_with_empty_cells_where_not_computed(measured, tmp_path):
    out = tmp_path / "metrics.csv"
    call_command("export_metrics", "--format", "csv", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == list(METRIC_COLUMNS)
    assert [(r["sample"], r["system"], r["fixcost_steps"], r["codebleu"]) for r in rows] == [
        ("e1", "t2j", "2", "0.5"),
        ("e2", "t2j", "", ""),
    ]


def test_export_metrics_json_is_a_list_of_the_same_rows(measured, capsys):
    call_command("export_metrics", "--format", "json")
    rows = json.loads(capsys.readouterr().out)
    assert [r["sample"] for r in rows] == ["e1", "e2"] and rows[1]["codebleu"] is None
    assert list(rows[0]) == list(METRIC_COLUMNS)


def test_raw_comparisons_and_judgements_export(measured, capsys):
    full, _ = measured
    other = TranslationFactory(sample=full.sample, system=SystemFactory(name="base"))
    ComparisonFactory(sample=full.sample, left=full, right=other, verdict="tie", reason="same")
    call_command("export_metrics", "--format", "csv", "--table", "comparisons")
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["left_system"], row["right_system"], row["verdict"], row["reason"]) == ("t2j", "base", "tie", "same")
    call_command("export_metrics", "--format", "json", "--table", "judgements")
    assert len(json.loads(capsys.readouterr().out)) == 6


def test_raw_exports_keep_superseded_votes_and_scores_and_name_what_replaced_them(measured):
    full, _ = measured
    other = TranslationFactory(sample=full.sample, system=SystemFactory(name="base"))
    reviewer = make_user("reviewer", "changes-mind")
    first = ComparisonFactory(sample=full.sample, left=full, right=other, verdict="left", judge_user=reviewer)
    ComparisonFactory(sample=full.sample, left=other, right=full, verdict="tie", judge_user=make_user("reviewer"))
    again = ComparisonFactory(sample=full.sample, left=other, right=full, verdict="right", judge_user=reviewer)
    llm = [ComparisonFactory(sample=full.sample, left=full, right=other, judge_user=None, judge_model="m")
           for _ in range(2)]  # fmt: skip

    rows = {row["id"]: row for row in comparison_rows()}
    assert rows[first.pk]["superseded_by"] == again.pk
    assert [row["superseded_by"] for pk, row in rows.items() if pk != first.pk] == [None] * 4
    assert {llm[0].pk, llm[1].pk} <= set(rows)

    h1 = JudgementFactory(translation=full, judge_user=make_user("reviewer", "h3"), aspect="usefulness", score=4)
    h1_again = JudgementFactory(translation=full, judge_user=h1.judge_user, aspect="usefulness", score=1)
    scores = {row["id"]: row for row in judgement_rows()}
    assert scores[h1.pk]["superseded_by"] == h1_again.pk and scores[h1_again.pk]["superseded_by"] is None
    assert sum(row["superseded_by"] is not None for row in scores.values()) == 1
    assert list(csv.reader(io.StringIO(render_table("judgements", "csv"))))[0][-1] == "superseded_by"


def test_export_to_a_missing_folder_fails_clearly(db, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_metrics", "--format", "csv", "--output", str(tmp_path / "no" / "x.csv"))


def test_csv_defuses_text_a_spreadsheet_would_run_but_keeps_numbers(db):
    from evaluate.exports import to_csv

    text = to_csv([{"reason": '=HYPERLINK("http://x")', "value": -0.5}], ["reason", "value"])
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x"")",-0.5'
