from __future__ import annotations

from django.contrib import admin
from django.db import connections
from django.db.models import Prefetch

from annotate.admin import TRANSLATION_FIELDS, TRANSLATION_NAME, ReadOnlyAdmin, via
from annotate.models import Translation
from evaluate.models import (
    CodeBLEUScore,
    Comparison,
    Experiment,
    ExperimentArm,
    FixCostRecord,
    Judgement,
    RuntimeMeasurement,
)


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """A column's distinct values, as AllValuesFieldListFilter lists them (in order, the empty one too), read
    by stepping through the column's index from one value to the next (a recursive query: one index lookup per
    value) instead of a DISTINCT over every row, which PostgreSQL reads in full (it has no skip scan).
    For a non-null column with an index of its own."""

    blank_display = "(blank)"  # the empty value's link, which Django leaves without text

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = _distinct_values(model, field)

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if choice["display"] == "" or choice["display"].startswith(" ("):  # "" or "" with its facet count
                choice = choice | {"display": self.blank_display + choice["display"]}
            yield choice


class JudgeModelFilter(IndexedValuesFilter):
    blank_display = "a person (no model)"


def _distinct_values(model, field) -> list:
    connection = connections[model._default_manager.db]
    table, column = (connection.ops.quote_name(name) for name in (model._meta.db_table, field.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE found(value) AS (SELECT MIN({column}) FROM {table} UNION ALL "
            f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > found.value) FROM found "
            "WHERE found.value IS NOT NULL) SELECT value FROM found WHERE value IS NOT NULL"
        )
        return [value for (value,) in cursor.fetchall()]


# A translation prints as "<sample key> by <system name>": the page's translations are read with their names
# in one query per side (prefetched), not joined into the row query, whose nine tables took PostgreSQL longer to
# plan (11 ms at 20,000 comparisons) than to run.
NAMED_TRANSLATIONS = Translation.objects.select_related("sample", "system").only(*TRANSLATION_FIELDS)


@admin.register(Comparison)
class ComparisonAdmin(ReadOnlyAdmin):
    list_display = [
        "pk", "sample", "left", "right", "verdict", "judge_user", "judge_model", "inconsistent", "created_at"
    ]
    list_select_related = ["sample", "judge_user"]
    list_only = (
        *via("sample", ("key",)), "left", "right", *via("judge_user", ("username",)), "verdict", "judge_model",
        "inconsistent", "created_at",
    )  # fmt: skip
    list_filter = ["verdict", "inconsistent", ("judge_model", JudgeModelFilter)]
    search_fields = ["sample__key", "reason"]
    show_full_result_count = False  # a filtered list would count the whole table a second time

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("left", NAMED_TRANSLATIONS), Prefetch("right", NAMED_TRANSLATIONS))
        )


class ScoreFilter(admin.SimpleListFilter):
    """Scores 0-4 listed as they are, not read from the table (a DISTINCT over every judgement)."""

    title = "score"
    parameter_name = "score"

    def lookups(self, request, model_admin):
        return [(str(n), str(n)) for n in range(5)]

    def queryset(self, request, queryset):
        return queryset.filter(score=int(self.value())) if self.value() in {str(n) for n in range(5)} else queryset


@admin.register(Judgement)
class JudgementAdmin(ReadOnlyAdmin):
    list_display = ["pk", "translation", "aspect", "with_reference", "score", "judge_user", "judge_model", "created_at"]
    list_select_related = ["translation__sample", "translation__system", "judge_user"]
    list_only = (*TRANSLATION_NAME, *via("judge_user", ("username",)), "aspect", "with_reference", "score",
                 "judge_model", "created_at")  # fmt: skip
    list_filter = ["aspect", "with_reference", ScoreFilter, ("judge_model", JudgeModelFilter)]


# Stored metric values are derived data, recomputed by `manage.py compute_metrics`: shown, never edited by hand.
@admin.register(CodeBLEUScore)
class CodeBLEUScoreAdmin(ReadOnlyAdmin):
    list_display = ["translation", "reference", "codebleu", "ngram", "weighted_ngram", "syntax", "dataflow"]
    list_select_related = ["translation__sample", "translation__system"]
    list_only = (*TRANSLATION_NAME, "reference", "codebleu", "ngram", "weighted_ngram", "syntax", "dataflow")
    # By the row's own columns (the unique index on them): ordering by `translation` sorts every row by sample.
    ordering = ["translation_id", "reference"]
    list_filter = ["reference"]
    search_fields = ["translation__sample__key", "translation__system__name"]


@admin.register(FixCostRecord)
class FixCostRecordAdmin(ReadOnlyAdmin):
    list_display = ["translation", "source", "steps", "score", "time_spent_s", "edit_size", "runs", "judge_model"]
    list_select_related = ["translation__sample", "translation__system"]
    list_only = (*TRANSLATION_NAME, "source", "steps", "score", "time_spent_s", "edit_size", "runs", "judge_model")
    ordering = ["translation_id", "source"]
    list_filter = ["source"]
    search_fields = ["translation__sample__key", "translation__system__name"]


@admin.register(RuntimeMeasurement)
class RuntimeMeasurementAdmin(ReadOnlyAdmin):
    list_display = ["sample", "translation", "label", "median_s", "compile_s", "status", "computed_at"]
    list_select_related = ["sample", "translation__sample", "translation__system"]
    list_only = (*via("sample", ("key",)), *TRANSLATION_NAME, "label", "median_s", "compile_s", "status", "computed_at")
    list_filter = ["label", "status"]


class ExperimentArmInline(admin.TabularInline):
    model = ExperimentArm
    fields = ["position", "name", "system", "prompt_mode", "relevant_k", "categories"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Experiments are created from a spec (`manage.py experiment create`) and reported on their own page; here
    they can be read, and deleted (their drafts, runs and scores stay with the arms' systems)."""

    list_display = ["name", "reference", "created_at", "report_built_at"]
    search_fields = ["name", "description"]
    readonly_fields = [
        "name", "sample_keys", "reference", "metrics", "published_source", "published_section", "published_arms",
        "copy_threshold", "judge_model", "spec", "report_built_at", "created_at",
    ]
    exclude = ["state", "report"]
    inlines = [ExperimentArmInline]

    def has_add_permission(self, request) -> bool:
        return False
