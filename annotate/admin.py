from __future__ import annotations

from django.contrib import admin

from annotate.models import (
    FixSession,
    FixStep,
    ImportRecord,
    Job,
    Run,
    Sample,
    SessionEvent,
    System,
    Translation,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: shown, never added, changed or deleted through the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "origin", "difficulty", "contract_version", "updated_at"]
    list_filter = ["origin", "difficulty"]
    search_fields = ["key", "title"]


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "model", "temperature", "token_budget"]
    list_filter = ["mode"]
    search_fields = ["name", "model"]
    readonly_fields = ["stats", "stats_updated_at"]


@admin.register(Translation)
class TranslationAdmin(admin.ModelAdmin):
    list_display = ["sample", "system", "draft_status", "model", "prompt_tokens", "completion_tokens", "drafted_at"]
    list_filter = ["system", "draft_status", "sample__origin", "sample__difficulty"]
    search_fields = ["sample__key", "system__name"]
    raw_id_fields = ["sample"]
    filter_horizontal = []
    exclude = ["included_steps"]


@admin.register(FixSession)
class FixSessionAdmin(admin.ModelAdmin):
    list_display = ["pk", "translation", "owner", "status", "is_stale", "claimed_at", "verified_at"]
    list_filter = ["status", "is_stale", "translation__system"]
    search_fields = ["translation__sample__key", "owner__username"]
    raw_id_fields = ["translation", "verified_run"]


@admin.register(FixStep)
class FixStepAdmin(ReadOnlyAdmin):
    list_display = ["pk", "session", "index", "category", "author", "retracts", "created_at"]
    list_filter = ["category", "session__status", "session__translation__system"]
    search_fields = ["error", "fix_info", "session__translation__sample__key"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "status", "verdict", "user", "isolation", "duration_s", "created_at"]
    list_filter = ["kind", "status", "verdict", "isolation"]
    search_fields = ["code_hash", "user__username", "exception_type"]


@admin.register(SessionEvent)
class SessionEventAdmin(ReadOnlyAdmin):
    list_display = ["session", "kind", "actor", "created_at"]
    list_filter = ["kind"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "system", "status", "done", "failed", "total", "created_at"]
    list_filter = ["kind", "status", "system"]
    readonly_fields = ["done", "failed", "total"]


@admin.register(ImportRecord)
class ImportRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "source", "format", "status", "actor"]
    list_filter = ["kind", "status", "format"]
    search_fields = ["source", "errors", "actor__username"]
