"""manage.py set_contract --sample KEY FILE: make FILE the sample's contract (staged or pytest-style, detected).

A file that is neither kind (or not Python, or not UTF-8 text) is refused with the reason and nothing
changes. Setting a different contract bumps its version and marks sessions verified under the old one stale.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.contract_interface import PYTEST
from annotate.contracts import ContractProblem, change_contract, kind_of
from annotate.models import Sample

KIND_NAMES = {PYTEST: "pytest-style test module"}


class Command(BaseCommand):
    help = "Set a sample's equivalence contract from a file: a staged contract or a pytest-style test module."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sample", required=True, help="Sample key, e.g. linreg")
        parser.add_argument("file", help="The contract module (.py)")

    def handle(self, *args, sample: str, file: str, **options) -> None:
        target = Sample.objects.filter(key=sample).first()
        if target is None:
            raise CommandError(f"no sample with the key {sample!r}")
        text = _read(Path(file))
        if not text.strip():
            raise CommandError(f"{file} is empty: a contract needs stage functions or tests; nothing changed")
        before = target.contract_version
        try:
            stale = change_contract(target, text, based_on=None)
        except ContractProblem as problem:
            raise CommandError(f"{file} was refused, nothing changed: {problem}") from None
        kind = KIND_NAMES.get(kind_of(text), "staged contract")
        if target.contract_version == before:
            self.stdout.write(f"{sample}: unchanged, {file} is its contract already (version {before})")
            return
        self.stdout.write(
            f"{sample}: contract set from {file} ({kind}), version {target.contract_version}"
            + (f"; {stale} verified session(s) marked stale" if stale else "")
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file; nothing changed") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a folder, not a contract file; nothing changed") from None
    except UnicodeDecodeError as error:
        raise CommandError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); nothing changed"
        ) from None
    except OSError as error:
        raise CommandError(f"{path} cannot be read: {error.strerror}; nothing changed") from None
