"""Template filters for background jobs: `{{ job.kind|job_label }}` is what the Jobs page calls the kind."""

from __future__ import annotations

from django import template

from annotate import job_kinds

register = template.Library()


@register.filter
def job_label(kind: str) -> str:
    return job_kinds.label(kind)
