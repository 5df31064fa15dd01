"""`{{ delta|duration }}`: a timedelta in words ("15 minutes", "1 hour 30 minutes"), e.g. how long a lockout lasts."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def duration(delta: timedelta | None) -> str:
    if not isinstance(delta, timedelta):
        return ""
    minutes = max(1, round(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    parts = [ngettext("%d hour", "%d hours", hours) % hours] if hours else []
    if minutes:
        parts.append(ngettext("%d minute", "%d minutes", minutes) % minutes)
    return " ".join(parts)
