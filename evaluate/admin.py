from __future__ import annotations

from django.contrib import admin

from annotate.admin import TRANSLATION_FIELDS, TRANSLATION_NAME, ReadOnlyAdmin, via
from evaluate.models import (
    CodeBLEUScore,
    Comparison,
    Experiment,
    ExperimentArm,
    FixCostRecord,
    Judgement,
    RuntimeMeasurement,
)


@admin.register(Comparison)
class ComparisonAdmin(ReadOnlyAdmin):
    list_display = [
        "pk", "sample", "left", "right", "verdict", "judge_user", "judge_model", "inconsistent", "created_at"
    ]
    list_select_related = ["sample", "left__sample", "left__system", "right__sample", "right__system", "judge_user"]
    list_only = (
        *via("sample", ("key",)), *via("left", TRANSLATION_FIELDS), *via("right", TRANSLATION_FIELDS),
        *via("judge_user", ("username",)), "verdict", "judge_model", "inconsistent", "created_at",
    )  # fmt: skip
    list_filter = ["verdict", "inconsistent", "judge_model"]
    search_fields = ["sample__key", "reason"]


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
    list_filter = ["aspect", "with_reference", ScoreFilter, "judge_model"]


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
    ]  # fmt: skip
    exclude = ["state", "report"]
    inlines = [ExperimentArmInline]

    def has_add_permission(self, request) -> bool:
        return False
