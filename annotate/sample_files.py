"""A sample's data files: attached by admins (or imports), read-only in the working folder of its runs.

Names are relative paths checked like every file handed to the sandbox (no '..', no absolute path) and
may not take a name the runs themselves use. T2J_SAMPLE_FILES_MAX_COUNT and T2J_SAMPLE_FILES_MAX_BYTES
bound what one sample carries, since every run of it sends them all.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import transaction

from annotate.models import Sample, SampleFile
from annotate.sandbox import inputs

# main.py and the files of a contract run (annotate.contracts) sit in the same working folder.
RESERVED_NAMES = frozenset({"main.py", "torch_program.py", "jax_program.py", "contract.py", "t2j_run.json"})


class SampleFileProblem(ValueError):
    """The file cannot be attached (bad name, over a cap, the name is taken); nothing changed."""


def check_name(name: str) -> str:
    """The name as stored (surrounding spaces dropped), or SampleFileProblem saying what is wrong with it."""
    name = name.strip() if isinstance(name, str) else name
    try:
        inputs.check_file_name(name)
    except inputs.InvalidRunInput as error:
        raise SampleFileProblem(str(error)) from error
    if name in RESERVED_NAMES or name.split("/")[0] in RESERVED_NAMES:
        raise SampleFileProblem(f"{name!r} is a name the runs use themselves ({', '.join(sorted(RESERVED_NAMES))})")
    return name


def check_set(files: dict[str, bytes]) -> None:
    """A sample's whole set of files within the caps and laid out as one folder; raises SampleFileProblem."""
    if len(files) > settings.T2J_SAMPLE_FILES_MAX_COUNT:
        raise SampleFileProblem(f"a sample may carry at most {settings.T2J_SAMPLE_FILES_MAX_COUNT} files")
    total = sum(len(content) for content in files.values())
    if total > settings.T2J_SAMPLE_FILES_MAX_BYTES:
        raise SampleFileProblem(
            f"a sample's files may hold at most {settings.T2J_SAMPLE_FILES_MAX_BYTES} bytes together ({total} given)"
        )
    try:
        inputs.check_layout(dict.fromkeys(files, ""))
    except inputs.InvalidRunInput as error:
        raise SampleFileProblem(str(error)) from error


def attach(sample: Sample, name: str, content: bytes, *, user: Any = None) -> SampleFile:
    """Attach one file (a new name) to the sample; raises SampleFileProblem."""
    name = check_name(name)
    with transaction.atomic():
        current = contents(Sample.objects.select_for_update().get(pk=sample.pk))
        if name in current:
            raise SampleFileProblem(f"{sample.key} already has a file {name!r}; remove it first")
        check_set({**current, name: content})
        return SampleFile.objects.create(sample=sample, name=name, added_by=user, **_fields(content))


def replace_all(sample: Sample, files: dict[str, bytes]) -> None:
    """Make the sample's files exactly `files` (imports); the caller checked them with check_name/check_set."""
    SampleFile.objects.filter(sample=sample).exclude(name__in=list(files)).delete()
    stored = {f.name: f.sha256 for f in SampleFile.objects.filter(sample=sample).only("name", "sha256")}
    for name, content in files.items():
        fields = _fields(content)
        if stored.get(name) != fields["sha256"]:
            SampleFile.objects.update_or_create(sample=sample, name=name, defaults=fields)


def remove(sample: Sample, name: str) -> bool:
    """Detach the file of that name; False when there was none."""
    deleted, _ = SampleFile.objects.filter(sample=sample, name=name).delete()
    return bool(deleted)


def contents(sample: Sample) -> dict[str, bytes]:
    """{name: content} of the sample's files: what its runs get read-only."""
    return {f.name: bytes(f.content) for f in SampleFile.objects.filter(sample=sample)}


def digests(sample: Sample) -> dict[str, str]:
    """{name: sha256} of the sample's files (to compare with an import without reading the contents)."""
    return dict(SampleFile.objects.filter(sample=sample).values_list("name", "sha256"))


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _fields(content: bytes) -> dict[str, Any]:
    return {"content": content, "size": len(content), "sha256": sha256(content)}
