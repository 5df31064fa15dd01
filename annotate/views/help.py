"""The help page: for each of the user's roles, one screen saying what each page is for and its keys."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.roles import ADMIN, DEVELOPER, REVIEWER, role_required, user_roles


@require_GET
@role_required(DEVELOPER, REVIEWER, ADMIN)
def help_page(request: HttpRequest) -> HttpResponse:
    """Every page's "?" link opens this at the page's own section (#<view name>, see roles.role_context)."""
    roles = user_roles(request.user)
    # Admins may use every page, so they get every role's screen.
    shown = [role for role in (DEVELOPER, REVIEWER, ADMIN) if role in roles or ADMIN in roles]
    return render(request, "help.html", {"help_roles": shown})
