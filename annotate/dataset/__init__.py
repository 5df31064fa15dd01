"""The bug-fix dataset in and out (issue 3): T2J JSON and JSONL import/export, samples and drafts from any tool.

- reading: bytes to checked text/JSON (size cap, NUL bytes, UTF-8, JSON errors with their place)
- records: both session formats validated into SessionRecord; the key-order convention for unknown keys
- importing: plan (the preview) and the all-or-nothing write
- exporting: T2J (byte-identical to the paper's file after an import) and JSONL
- drafts: samples and translations from folders of KEY.py or JSONL, and translations back to KEY.py files
- audit: an ImportRecord for every import attempt, ok or failed
Everything raises DatasetError (a list of problems with places) and writes nothing on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from annotate.dataset.audit import audited
from annotate.dataset.errors import DatasetError
from annotate.dataset.exporting import export_jsonl, export_t2j, write_export
from annotate.dataset.importing import NO_PROVENANCE, ImportPlan, Provenance, import_records, plan_import
from annotate.dataset.reading import decode
from annotate.dataset.records import ParsedDataset, parse_dataset, parse_dataset_file
from annotate.models import ImportKind

__all__ = [
    "DatasetError",
    "ImportPlan",
    "Provenance",
    "export_jsonl",
    "export_t2j",
    "import_dataset",
    "import_dataset_file",
    "preview_dataset",
    "write_export",
]


def import_dataset(data: bytes, *, name: str, system: str | None = None, fmt: str = "auto", **options) -> ImportPlan:
    """Check, parse and import a T2J or JSONL file's bytes; dry_run only plans. Every real attempt is audited."""
    return _import(lambda: parse_dataset(decode(data, name), name, system=system, fmt=fmt), name, fmt, **options)


def import_dataset_file(path: Path, *, system: str | None = None, fmt: str = "auto", **options) -> ImportPlan:
    """import_dataset for a file: JSONL is read, checked and written a record at a time (one transaction),
    so its size is not capped, only each record's (T2J_IMPORT_MAX_BYTES); a T2J file is read whole."""
    # Reading is inside the audit too: a missing or oversized file is a failed attempt worth a record.
    return _import(lambda: parse_dataset_file(path, path.name, system=system, fmt=fmt), path.name, fmt, **options)


def _import(
    parse: Callable[[], ParsedDataset],
    name: str,
    fmt: str,
    *,
    replace: bool = False,
    dry_run: bool = False,
    actor=None,
    provenance: Provenance = NO_PROVENANCE,
    model_confirmed: bool = False,
) -> ImportPlan:
    known_format = "" if fmt == "auto" else fmt
    with audited(ImportKind.DATASET, name, actor=actor, dry_run=dry_run, fmt=known_format) as attempt:
        parsed = parse()
        attempt.format = parsed.format
        plan = import_records(
            parsed, source=name, replace=replace, dry_run=dry_run, actor=actor, provenance=provenance,
            model_confirmed=model_confirmed,
        )  # fmt: skip
        attempt.summary = plan.counts()
    return plan


def preview_dataset(
    data: bytes,
    *,
    name: str,
    system: str | None = None,
    replace: bool = False,
    fmt: str = "auto",
    provenance: Provenance = NO_PROVENANCE,
):
    """What importing would change, conflicts and model differences included (they do not raise here): the
    upload preview."""
    text = decode(data, name)
    parsed = parse_dataset(text, name, system=system, fmt=fmt)
    return plan_import(parsed, source=name, replace=replace, provenance=provenance)
