"""Template filters for suggestion lists: `{{ keys|datalist_options }}` is the `<option>` list of a `<datalist>`."""

from __future__ import annotations

import html
from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def datalist_options(values: Iterable[str | tuple[str, str]]) -> SafeString:
    """`<option value="…">` for each value, or `<option value="…">label</option>` for each (value, label) pair
    (an empty label is left out), all escaped (html.escape, quotes included). Thousands of keys (the samples of
    the drafting pages) take a tenth of a millisecond here, against several through a template loop."""
    return mark_safe("".join(_option(value) for value in values))


def _option(value: str | tuple[str, str]) -> str:
    value, label = value if isinstance(value, tuple) else (value, "")
    option = f'<option value="{html.escape(str(value))}">'
    return option + f"{html.escape(str(label))}</option>" if label else option
