"""The bug-fix dataset in and out (issue 3): T2J JSON and JSONL import/export, samples and drafts from any tool.

- reading: bytes to checked text/JSON (size cap, NUL bytes, UTF-8, JSON errors with their place)
- records: both session formats validated into SessionRecord; the key-order convention for unknown keys
- importing: plan (the preview) and the all-or-nothing write
- exporting: T2J (byte-identical to the paper's file after an import) and JSONL
- drafts: samples and translations from folders of KEY.py or JSONL, and translations back to KEY.py files
Everything raises DatasetError (a list of problems with places) and writes nothing on bad input.
"""

from __future__ import annotations

import logging
from pathlib import Path

from annotate.dataset.errors import DatasetError
from annotate.dataset.exporting import export_jsonl, export_t2j
from annotate.dataset.importing import ImportPlan, import_records, plan_import
from annotate.dataset.reading import decode, read_path
from annotate.dataset.records import parse_dataset

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetError",
    "ImportPlan",
    "export_jsonl",
    "export_t2j",
    "import_dataset",
    "import_dataset_file",
    "preview_dataset",
]


def import_dataset(
    data: bytes,
    *,
    name: str,
    system: str | None = None,
    replace: bool = False,
    fmt: str = "auto",
    dry_run: bool = False,
    actor=None,
) -> ImportPlan:
    """Check, parse and import a T2J or JSONL file's bytes; dry_run only plans (the upload preview)."""
    try:
        text = decode(data, name)
        parsed = parse_dataset(text, name, system=system, fmt=fmt)
        plan = import_records(parsed, source=name, replace=replace, dry_run=dry_run, actor=actor)
    except DatasetError as exc:
        # The audit trail of failed imports (RELIABILITY.md case 32): who, which file, the first problems.
        logger.warning("dataset import of %s failed (actor %s): %s", name, actor, exc.message[:2000])
        raise
    if not dry_run:
        logger.info("dataset import of %s by %s: %s", name, actor, plan.counts())
    return plan


def import_dataset_file(path: Path, **options) -> ImportPlan:
    return import_dataset(read_path(path), name=path.name, **options)


def preview_dataset(data: bytes, *, name: str, system: str | None = None, replace: bool = False, fmt: str = "auto"):
    """What importing would change, conflicts included (they do not raise here): the upload preview."""
    text = decode(data, name)
    parsed = parse_dataset(text, name, system=system, fmt=fmt)
    return plan_import(parsed, source=name, replace=replace)
