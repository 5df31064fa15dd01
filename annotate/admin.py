from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as admin_delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from annotate import accounts, fixlog
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


def via(prefix: str, fields: tuple[str, ...]) -> tuple[str, ...]:
    """`fields` of a related row reached through `prefix`, the foreign key itself first (for list_only)."""
    return (prefix, *(f"{prefix}__{field}" for field in fields))


# What a translation prints as ("<sample key> by <system name>"), and the same reached through `translation`.
TRANSLATION_FIELDS = ("sample__key", "system__name")
TRANSLATION_NAME = via("translation", TRANSLATION_FIELDS)


class _NarrowChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.only(*self.model_admin.list_only) if self.model_admin.list_only else queryset


class ListAdmin(admin.ModelAdmin):
    """Change lists that read one query's worth of narrow rows, whatever the table's size.

    `list_only`: the columns a list reads (program texts and outputs stay unread), including the related rows'
    columns its `__str__`s print; pair it with `list_select_related` so no row costs a query of its own
    (Django only joins non-null foreign keys by itself). The change view still reads whole rows.
    """

    list_only: tuple[str, ...] = ()
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return _NarrowChangeList


class ReadOnlyAdmin(ListAdmin):
    """Append-only records: shown, never added, changed or deleted through the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Sample)
class SampleAdmin(ListAdmin):
    list_display = ["key", "title", "origin", "difficulty", "contract_version", "updated_at"]
    list_only = ("key", "title", "origin", "difficulty", "contract_version", "updated_at", "import_position")
    list_filter = ["origin", "difficulty"]
    search_fields = ["key", "title"]


@admin.register(System)
class SystemAdmin(ListAdmin):
    list_display = ["name", "mode", "model", "temperature", "token_budget"]
    list_only = ("name", "mode", "model", "temperature", "token_budget")
    list_filter = ["mode"]
    search_fields = ["name", "model"]
    readonly_fields = ["stats", "stats_updated_at"]


@admin.register(Translation)
class TranslationAdmin(ListAdmin):
    list_display = ["sample", "system", "draft_status", "model", "prompt_tokens", "completion_tokens", "drafted_at"]
    list_select_related = ["sample", "system"]
    list_only = (*via("sample", ("key", "import_position")), *via("system", ("name",)), "draft_status", "model",
                 "prompt_tokens", "completion_tokens", "drafted_at")  # fmt: skip
    list_filter = ["system", "draft_status", "sample__origin", "sample__difficulty"]
    search_fields = ["sample__key", "system__name"]
    raw_id_fields = ["sample"]
    filter_horizontal = []
    exclude = ["included_steps"]


@admin.register(FixSession)
class FixSessionAdmin(ListAdmin):
    list_display = ["pk", "translation", "owner", "status", "is_stale", "claimed_at", "verified_at"]
    list_select_related = ["translation__sample", "translation__system", "owner"]
    list_only = (*TRANSLATION_NAME, *via("owner", ("username",)), "status", "is_stale", "claimed_at", "verified_at")
    list_filter = ["status", "is_stale", "translation__system"]
    search_fields = ["translation__sample__key", "owner__username"]
    raw_id_fields = ["translation", "verified_run"]


@admin.register(FixStep)
class FixStepAdmin(ReadOnlyAdmin):
    list_display = ["pk", "session", "index", "category", "author", "retracted_step", "created_at"]
    list_select_related = ["session__translation__sample", "session__translation__system", "author"]
    list_only = (*via("session", TRANSLATION_NAME), *via("author", ("username",)), "index", "category",
                 "retracts_id", "created_at")  # fmt: skip
    # Newest first by primary key: ordering by `session` would sort every step by its session's claim time.
    ordering = ["-pk"]
    list_filter = ["category", "session__status", "session__translation__system"]
    search_fields = ["error", "fix_info", "session__translation__sample__key"]
    show_full_result_count = False  # a search would count the whole table a second time

    @admin.display(description="retracts step", ordering="retracts_id")
    def retracted_step(self, step: FixStep) -> int | None:
        return step.retracts_id  # the id, not the row: printing it would load each retracted step


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "status", "verdict", "user", "isolation", "duration_s", "created_at"]
    list_select_related = ["user"]
    list_only = ("kind", "status", "verdict", *via("user", ("username",)), "isolation", "duration_s", "created_at")
    list_filter = ["kind", "status", "verdict", "isolation"]
    search_fields = ["code_hash", "user__username", "exception_type"]


@admin.register(SessionEvent)
class SessionEventAdmin(ReadOnlyAdmin):
    list_display = ["session", "kind", "actor", "created_at"]
    list_select_related = ["session__translation__sample", "session__translation__system", "actor"]
    list_only = (*via("session", TRANSLATION_NAME), *via("actor", ("username",)), "kind", "created_at")
    list_filter = ["kind"]


@admin.register(Job)
class JobAdmin(ListAdmin):
    list_display = ["pk", "kind", "system", "subject", "status", "done", "failed", "total", "created_at"]
    list_select_related = ["system"]
    list_filter = ["kind", "status", "system"]
    # What a job did and said is its worker's record: only asking it to stop is left to edit (the Jobs page
    # cancels and retries).
    readonly_fields = [
        "kind", "system", "status", "total", "done", "failed", "message", "params", "task_id", "worker", "attempt",
        "created_by", "created_at", "updated_at",
    ]  # fmt: skip


@admin.register(ImportRecord)
class ImportRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "source", "format", "status", "actor"]
    list_select_related = ["actor"]
    list_filter = ["kind", "status", "format"]
    search_fields = ["source", "errors", "actor__username"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class WorkbenchUserAdmin(UserAdmin):
    """Users named by the append-only history cannot be deleted; the admin deactivates them instead."""

    actions = ["deactivate_users", "delete_selected"]

    def get_urls(self):
        deactivate = self.admin_site.admin_view(require_POST(self.deactivate_view))
        name = f"{self.opts.app_label}_{self.opts.model_name}_deactivate"
        return [path("<id>/deactivate/", deactivate, name=name), *super().get_urls()]

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        history = accounts.kept_history(user) if user is not None else {}
        if not history or not self.has_delete_permission(request, user):
            return super().delete_view(request, object_id, extra_context)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cannot delete {user.get_username()}",
            "subtitle": None,
            "opts": self.opts,
            "object": user,
            "history": accounts.describe_history(history),
            "can_deactivate": self.has_change_permission(request, user),
            "deactivate_url": self._url("deactivate", user),
        }
        return TemplateResponse(request, "admin/auth/user/delete_refused.html", context)

    def deactivate_view(self, request: HttpRequest, id: str) -> HttpResponse:  # noqa: A002 - UserAdmin's name
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404("No such user.")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        self._deactivate(request, [user])
        return HttpResponseRedirect(self._url("change", user))

    @admin.action(permissions=["change"], description="Deactivate selected users and release their open sessions")
    def deactivate_users(self, request: HttpRequest, queryset) -> None:
        self._deactivate(request, list(queryset))

    @admin.action(permissions=["delete"], description="Delete selected users")
    def delete_selected(self, request: HttpRequest, queryset):
        kept = {user.get_username(): accounts.kept_history(user) for user in queryset}
        kept = {name: history for name, history in kept.items() if history}
        if kept:
            listed = "; ".join(f"{name} ({accounts.describe_history(history)})" for name, history in kept.items())
            self.message_user(
                request,
                f"Nothing was deleted: the fix log and reviews name these users, and their history is kept: {listed}. "
                "Use “Deactivate selected users” instead: they can no longer log in and their open sessions go back "
                "to the queue.",
                messages.ERROR,
            )
            return None
        return admin_delete_selected(self, request, queryset)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            self._deactivate(request, [obj])  # unticking "active" releases their sessions too

    def _url(self, name: str, user) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[user.pk])

    def _deactivate(self, request: HttpRequest, users: list) -> None:
        for user in users:
            try:
                released = accounts.deactivate(user, request.user)
            except fixlog.WorkspaceError as error:
                self.message_user(request, f"{user.get_username()} was not deactivated: {error}", messages.ERROR)
                continue
            note = f"deactivated; {released} open session(s) released to the queue"
            self.log_change(request, user, note)
            self.message_user(
                request,
                f"{user.get_username()} is deactivated: they can no longer log in, and {released} open "
                "session(s) went back to the queue.",
                messages.SUCCESS,
            )
