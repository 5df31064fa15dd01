"""A JSON field that keeps object key order on every database.

PostgreSQL's jsonb (Django's JSONField there) reorders keys; the dataset's unknown keys must come back
verbatim and in order, so they are stored as JSON text instead.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models


class OrderedJSONField(models.TextField):
    description = "JSON stored as text, key order preserved"

    def from_db_value(self, value: str | None, expression, connection) -> Any:
        if value is None:
            return value
        return json.loads(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""
