"""Roles are Django groups: developer, reviewer, admin. Every view checks them first.

Superusers count as admins. A user may hold several roles; a view names the roles it allows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

DEVELOPER = "developer"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES = (DEVELOPER, REVIEWER, ADMIN)


def user_roles(user) -> frozenset[str]:
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_t2j_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            cached |= {ADMIN}
        user._t2j_roles = cached
    return cached


def is_admin(user) -> bool:
    return ADMIN in user_roles(user)


def role_required(*roles: str) -> Callable:
    """Let in logged-in users holding any of `roles`; send anonymous users to log in; 403 the rest."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_roles(request.user) & set(roles):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)
        return wrapped

    return decorator


def role_context(request: HttpRequest) -> dict:
    roles = user_roles(request.user) if hasattr(request, "user") else frozenset()
    match = getattr(request, "resolver_match", None)
    return {
        "user_roles": sorted(roles),
        "is_developer": DEVELOPER in roles,
        "is_reviewer": REVIEWER in roles,
        "is_admin_role": ADMIN in roles,
        # The help page's section about this page: its view name, "drafting:system_list" -> "drafting-system_list".
        "help_anchor": match.view_name.replace(":", "-") if match else "",
    }
