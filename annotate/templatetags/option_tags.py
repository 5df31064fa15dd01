"""Template filters for suggestion lists: `{{ keys|datalist_options }}` is the `<option>` list of a `<datalist>`."""

from __future__ import annotations

import html
from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def datalist_options(values: Iterable[str]) -> SafeString:
    """`<option value="…">` for each value, each escaped (html.escape, quotes included). Thousands of keys (the
    prompt preview's samples) take a tenth of a millisecond here, against several through a template loop."""
    return mark_safe("".join(f'<option value="{html.escape(str(value))}">' for value in values))
