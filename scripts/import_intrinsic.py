"""Import the T2J paper's intrinsic set (intrinsic.json) as samples and one system per draft field, in one go.

    .venv/bin/python scripts/import_intrinsic.py ../shared/t2j-paper/intrinsic.json [--replace | --key-prefix P]
        [--sample KEY ...] [--dry-run]

intrinsic.json holds {"about": ..., "samples": {KEY: {"pytorch": CODE, FIELD: CODE, ...}}}. Each sample becomes a
Sample (origin TorchLeet, difficulty from the key's first letter: e/m/h), and every other field a translation of
the system named like the field: baseline_before_fix, baseline_after_fix, t2j_before_fix, t2j_after_fix,
groundtruth_before_fix, groundtruth_after_fix (systems are created with mode "imported"). The paper's CodeBLEU
reference is `groundtruth_before_fix`: `manage.py compute_metrics --metric codebleu --reference-system
groundtruth_before_fix`. Its figures (results.json) cover 20 of the 22 samples: h9 and m2 are not in them.

A stored sample of the same key (from the bug-fix dataset, fix_bugs_dataset.json) whose PyTorch program differs
stops the import, naming every such sample (for the paper's files: e1, h1, h6, h10, m1, m3, m4, m8); nothing is
written. --replace overwrites those programs; --key-prefix imports the whole set under other keys (e.g.
"paper-e1"), leaving the stored samples alone. Differences only in whitespace (trailing spaces, blank lines at
the ends, line endings) are not conflicts: the stored program is kept. Drafts conflict the way
`import_translations` says (a stored draft of the same sample and system with other code; --replace overwrites).

It converts the file into the JSONL that `import_samples` and `import_translations` read and runs them in one
transaction: all or nothing. Exit status 0 done, 1 refused (the reasons on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIFFICULTY = {"e": "easy", "m": "medium", "h": "hard"}
ORIGIN = "TorchLeet"
REFERENCE_SYSTEM = "groundtruth_before_fix"


@dataclass
class Intrinsic:
    """The file's samples as {key: pytorch program} and drafts as {system: {key: code}}, in the file's order."""

    programs: dict[str, str] = field(default_factory=dict)
    drafts: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Outcome:
    samples: dict[str, int]  # new / unchanged / replaced
    systems: dict[str, dict[str, int]]

    def summary(self) -> str:
        lines = [_counts("samples", self.samples)]
        lines += [_counts(f"translations of {system}", counts) for system, counts in self.systems.items()]
        return "\n".join(lines)


def read_intrinsic(path: Path, *, key_prefix: str = "", only: tuple[str, ...] = ()) -> Intrinsic:
    """Parse and check intrinsic.json; DatasetError naming every problem."""
    from annotate.dataset.errors import DatasetError, Problems
    from annotate.dataset.reading import decode, key_problem, parse_json, read_path, text_problem

    data = parse_json(decode(read_path(path), path.name), path.name)
    samples = data.get("samples") if isinstance(data, dict) else None
    if not isinstance(samples, dict) or not samples:
        raise DatasetError(f"{path.name} must hold {{'samples': {{KEY: {{'pytorch': CODE, SYSTEM: CODE}}}}}}")
    unknown = [key for key in only if key not in samples]
    if unknown:
        raise DatasetError(f"{path.name} has no sample {', '.join(map(repr, unknown))}")
    problems = Problems()
    parsed = Intrinsic()
    for key, fields in samples.items():
        if only and key not in only:
            continue
        place = f"{path.name}.samples.{key}"
        if problem := key_problem(key_prefix + key):
            problems.add(f"{place}: the key {key_prefix + key!r} {problem}")
        if not isinstance(fields, dict) or not isinstance(fields.get("pytorch"), str):
            problems.add(f"{place} must be an object with a 'pytorch' program")
            continue
        for name, code in fields.items():
            if not isinstance(code, str) or (problem := text_problem(code)):
                problems.add(f"{place}.{name} must be text" + (f": it {problem}" if isinstance(code, str) else ""))
            elif name != "pytorch" and (problem := key_problem(name)):
                problems.add(f"{place}.{name}: the system name {problem}")
            elif name == "pytorch":
                parsed.programs[key_prefix + key] = code
            else:
                parsed.drafts.setdefault(name, {})[key_prefix + key] = code
    problems.raise_if_any()
    return parsed


def same_program(a: str, b: str) -> bool:
    """Equal but for whitespace at line ends, blank lines at the start and end, and line endings."""

    def lines(code: str) -> str:
        return "\n".join(line.rstrip() for line in code.replace("\r\n", "\n").split("\n")).strip("\n")

    return lines(a) == lines(b)


def conflicts(intrinsic: Intrinsic) -> list[str]:
    """Keys of stored samples whose PyTorch program differs from the file's (beyond whitespace)."""
    from annotate.models import Sample

    stored = Sample.objects.filter(key__in=intrinsic.programs).values_list("key", "pytorch_code")
    return sorted(key for key, code in stored if not same_program(code, intrinsic.programs[key]))


def import_intrinsic(
    path: Path,
    *,
    replace: bool = False,
    key_prefix: str = "",
    only: tuple[str, ...] = (),
    dry_run: bool = False,
) -> Outcome:
    """Import the samples and every system's drafts of intrinsic.json, all or nothing (see the module docstring).

    Raises DatasetError naming the conflicting samples (unless `replace`) or any other problem.
    """
    from django.db import transaction

    from annotate.dataset.drafts import import_samples, import_translations
    from annotate.dataset.errors import DatasetError
    from annotate.models import Sample

    intrinsic = read_intrinsic(path, key_prefix=key_prefix, only=only)
    clashing = conflicts(intrinsic)
    if clashing and not replace:
        raise DatasetError(
            [f"sample {key!r}: the PyTorch program differs from the stored sample's" for key in clashing]
            + [
                f"nothing was imported: {len(clashing)} stored samples hold other programs under these keys; use "
                "--replace to overwrite them, or --key-prefix (e.g. paper-) to import the set under other keys"
            ]
        )
    stored = set(Sample.objects.filter(key__in=intrinsic.programs).values_list("key", flat=True))
    records = [_sample_record(key, code, key_prefix) for key, code in intrinsic.programs.items() if key not in stored]
    # A stored sample is only rewritten when its program conflicts and --replace was given, and then only its
    # program: its title, origin and difficulty stay as they are.
    records += [{"key": key, "pytorch_code": intrinsic.programs[key]} for key in clashing]
    with tempfile.TemporaryDirectory(prefix="t2j-intrinsic-") as folder, transaction.atomic():
        outcome = Outcome({"new": 0, "unchanged": len(stored) - len(clashing), "replaced": 0}, {})
        if records:
            counts = import_samples(_jsonl(Path(folder, "samples.jsonl"), records), replace=replace).counts()
            outcome.samples.update(new=counts["new"], replaced=counts["replaced"])
        for system, drafts in intrinsic.drafts.items():
            rows = [{"sample": key, "code": code} for key, code in drafts.items()]
            translations = import_translations(
                _jsonl(Path(folder, f"{system}.jsonl"), rows), system=system, replace=replace
            )
            outcome.systems[system] = translations.counts()
        if dry_run:
            transaction.set_rollback(True)
    return outcome


def _sample_record(key: str, code: str, key_prefix: str) -> dict:
    return {
        "key": key,
        "pytorch_code": code,
        "origin": ORIGIN,
        "difficulty": DIFFICULTY.get(key.removeprefix(key_prefix)[:1], ""),
    }


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _counts(what: str, counts: dict[str, int]) -> str:
    return f"{what}: {counts['new']} new, {counts['unchanged']} unchanged, {counts['replaced']} replaced"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="intrinsic.json")
    parser.add_argument("--replace", action="store_true", help="Overwrite stored programs and drafts that differ")
    parser.add_argument("--key-prefix", default="", help="Import every sample under PREFIX + its key")
    parser.add_argument("--sample", action="append", default=[], help="Only this sample (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="Check everything, write nothing")
    args = parser.parse_args(argv)
    if args.replace and args.key_prefix:
        parser.error("--replace and --key-prefix exclude each other")
    from annotate.dataset.errors import DatasetError

    try:
        outcome = import_intrinsic(
            args.path, replace=args.replace, key_prefix=args.key_prefix, only=tuple(args.sample), dry_run=args.dry_run
        )
    except DatasetError as error:
        print(f"{args.path}: {error.message}", file=sys.stderr)
        return 1
    print(("Would import:\n" if args.dry_run else "Imported:\n") + outcome.summary())
    print(f"The paper's CodeBLEU: manage.py compute_metrics --metric codebleu --reference-system {REFERENCE_SYSTEM}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")
    import django

    django.setup()
    sys.exit(main())
