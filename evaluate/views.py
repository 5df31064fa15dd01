"""Pages of the evaluate app."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.roles import ADMIN, role_required
from evaluate.contexts import DashboardContext


@require_GET
@role_required(ADMIN)  # names systems
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "evaluate/dashboard.html", asdict(DashboardContext.from_database()))
