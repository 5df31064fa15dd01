"""The metric registry: a metric added with one entry shows in compute, the export and the dashboard."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotate.models import Translation
from evaluate import dashboard, metrics
from evaluate.compute import metrics_for
from evaluate.exports import metric_columns, render_table
from evaluate.metrics import Column, Metric

# The per-translation export as it was before the registry: names and order are a promise to its readers.
EXPORT_COLUMNS = (
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
LINE_RATIO = {"base": 0.25, "t2j": 0.75}  # the throwaway metric's value per system


@pytest.fixture
def line_ratio():
    """A throwaway metric, registered for one test only: no module, no model, no migration.

    Its stored values come from a function; computing it records which translations it was given.
    """
    computed: list[list[int]] = []

    def compute(translations, report, options):
        computed.append(sorted(translations.values_list("pk", flat=True)))
        report.say(f"line_ratio: {len(computed[-1])} translations")

    def values(translation_ids):
        stored = Translation.objects.filter(pk__in=translation_ids).select_related("system")
        return {t.pk: {"line_ratio": LINE_RATIO[t.system.name]} for t in stored}

    column = Column(
        "line_ratio", "Line ratio", value_range=(0.0, 1.0), ranked="Line ratio", charted="Mean line ratio (0–1)"
    )
    metrics.register(Metric("line_ratio", "Line ratio", (column,), compute=compute, values=values))
    yield computed
    metrics.unregister("line_ratio")


def test_the_export_keeps_its_columns_and_their_order():
    assert metric_columns() == EXPORT_COLUMNS


def test_a_registered_metric_is_a_compute_choice(evaluated, line_ratio, admin_client_role, capsys):
    assert metrics_for("line_ratio") == ("line_ratio",) and "line_ratio" in metrics_for("all")
    call_command("compute_metrics", "--metric", "line_ratio")
    assert "line_ratio: 4 translations" in capsys.readouterr().out
    assert line_ratio == [sorted(Translation.objects.values_list("pk", flat=True))]
    html = admin_client_role.get(reverse("evaluate:dashboard")).content.decode()
    assert '<input type="checkbox" name="metrics" value="line_ratio" checked> Line ratio' in html


def test_a_registered_metric_is_the_last_column_of_the_metrics_export(evaluated, line_ratio):
    rows = list(csv.DictReader(io.StringIO(render_table("metrics", "csv"))))
    assert tuple(rows[0]) == (*EXPORT_COLUMNS, "line_ratio")
    assert {(row["system"], float(row["line_ratio"])) for row in rows} == set(LINE_RATIO.items())


def test_a_registered_metric_shows_in_the_systems_table_rankings_and_charts(evaluated, line_ratio, admin_client_role):
    dashboard.refresh()
    html = admin_client_role.get(reverse("evaluate:dashboard")).content.decode()
    assert '<th class="num">Line ratio</th>' in html
    assert '<td class="num">0.75<span class="ci">[0.75, 0.75] n 2</span></td>' in html  # mean, interval, n
    assert "<figcaption>Mean line ratio (0–1)</figcaption>" in html
    assert "<h3>Line ratio</h3>" in html
    systems = admin_client_role.get(reverse("evaluate:metrics_export"), {"table": "systems"}).content.decode()
    assert {(row["system"], float(row["mean_line_ratio"])) for row in csv.DictReader(io.StringIO(systems))} == set(
        LINE_RATIO.items()
    )


def test_names_and_columns_are_registered_once(line_ratio):
    with pytest.raises(ValueError, match="already registered"):
        metrics.register(Metric("other", "Other", (Column("line_ratio"),), compute=print, values=dict))
    with pytest.raises(ValueError, match="already registered"):
        metrics.register(Metric("line_ratio", "Again", (Column("again"),), compute=print, values=dict))


def test_every_charted_column_has_a_bounded_range():
    for column in metrics.dashboard_columns():
        if column.charted:
            low, high = column.value_range
            assert high is not None and low < high, column.name
