"""The import audit trail (RELIABILITY.md case 32): one ImportRecord per import attempt, ok or failed.

`audited(...)` runs an import in a transaction that also writes its ok row; when the import raises, that
transaction has rolled back by the time the failure row is written, so the failure row survives.
Dry runs and previews are checks, not imports, and leave no record. A real import sends
annotate.signals.data_imported inside its transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from annotate.dataset.errors import DatasetError
from annotate.models import ImportRecord, ImportStatus
from annotate.signals import data_imported

logger = logging.getLogger(__name__)

SOURCE_MAX = ImportRecord._meta.get_field("source").max_length


@dataclass
class Attempt:
    """What the import learns as it goes; the caller fills in the format and the counts."""

    format: str = ""
    summary: dict = field(default_factory=dict)


@contextmanager
def audited(kind: str, source: str, *, actor=None, dry_run: bool = False, fmt: str = "") -> Iterator[Attempt]:
    attempt = Attempt(format=fmt)
    try:
        # The ok row commits with the data it describes, or not at all.
        with transaction.atomic():
            yield attempt
            if not dry_run:
                _record(kind, source, actor, attempt, ImportStatus.OK, "")
                data_imported.send(sender=kind, source=source)
    except DatasetError as exc:
        logger.warning("%s import of %s failed (actor %s): %s", kind, source, actor, exc.message[:2000])
        if not dry_run:
            _record_failure(kind, source, actor, attempt, exc.message)
        raise
    except Exception as exc:
        # A bug or a database error is a failed import too; the row says so and the error still propagates.
        if not dry_run:
            _record_failure(kind, source, actor, attempt, f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    if not dry_run:
        logger.info("%s import of %s by %s: %s", kind, source, actor, attempt.summary)


def _record_failure(kind: str, source: str, actor, attempt: Attempt, errors: str) -> None:
    """Written after the import's transaction rolled back, so the row survives it."""
    try:
        _record(kind, source, actor, attempt, ImportStatus.FAILED, errors)
    except DatabaseError as exc:
        # Never hide the import's own error behind a failure to audit it (e.g. an unmigrated database): log it.
        logger.error("could not write the audit row for the failed %s import of %s: %s", kind, source, exc)


def _record(kind: str, source: str, actor, attempt: Attempt, status: str, errors: str) -> None:
    ImportRecord.objects.create(
        kind=kind,
        source=source[:SOURCE_MAX],
        format=attempt.format,
        status=status,
        actor=actor if getattr(actor, "pk", None) else None,
        summary=attempt.summary,
        errors=errors,
    )
