from __future__ import annotations

from django.contrib import admin

from annotate.admin import ReadOnlyAdmin
from evaluate.models import Comparison, Judgement


@admin.register(Comparison)
class ComparisonAdmin(ReadOnlyAdmin):
    list_display = [
        "pk", "sample", "left", "right", "verdict", "judge_user", "judge_model", "inconsistent", "created_at"
    ]
    list_filter = ["verdict", "inconsistent", "judge_model"]
    search_fields = ["sample__key", "reason"]


@admin.register(Judgement)
class JudgementAdmin(ReadOnlyAdmin):
    list_display = ["pk", "translation", "aspect", "with_reference", "score", "judge_user", "judge_model", "created_at"]
    list_filter = ["aspect", "with_reference", "score", "judge_model"]
