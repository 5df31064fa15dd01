"""The demo's blind comparisons (the "comparisons" of fixtures/demo/demo.json), and loading the whole demo.

annotate never imports evaluate, so the demo is loaded in two parts: annotate.demo writes the samples,
systems, drafts, demo users and verified sessions; this module checks and writes the comparisons, matched on
(sample, left, right, judge) so that a second run creates nothing. load_demo() checks every file of both
parts before writing anything, then writes both in one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.db import transaction

from annotate import demo as annotate_demo
from annotate.demo import DEMO_USERS, DemoDataError
from annotate.models import Sample, Translation
from evaluate import dashboard
from evaluate.models import Comparison, Verdict


def load_demo(stdout: TextIO | None = None, directory: Path | None = None) -> dict[str, Any]:
    """Create whatever of the demo is missing, in one transaction; return how many rows of each were made.

    Returns annotate.demo.write_demo's counts plus "comparisons"; "new_users" lists the demo users created
    now, with their passwords. Raises DemoDataError, writing nothing, when the files contradict each other.
    """
    data = annotate_demo.read_demo(directory)
    check_comparisons(data, directory)
    with transaction.atomic():
        result = annotate_demo.write_demo(data, stdout)
        result["comparisons"] = sum(_ensure_comparison(spec) for spec in data.get("comparisons", []))
        if any(count for kind, count in result.items() if kind not in ("users", "new_users")):
            dashboard.mark_stale()  # the stored dashboard does not show what was just added
    return result


def check_comparisons(data: dict[str, Any], directory: Path | None = None) -> None:
    """Raise DemoDataError unless every comparison names a known verdict, two drafts of its sample, a demo judge."""
    try:
        _check_comparisons(data)
    except (KeyError, TypeError) as exc:
        path = (directory or annotate_demo.DEMO_DIR) / "demo.json"
        raise DemoDataError(f"{path} lacks or mistypes an entry: {exc!r}") from exc


def _check_comparisons(data: dict[str, Any]) -> None:
    drafts = {sample["key"]: sample["drafts"] for sample in data["samples"]}
    for spec in data.get("comparisons", []):
        where = f"comparison on {spec['sample']}"
        if spec["verdict"] not in Verdict.values:
            raise DemoDataError(f"{where}: unknown verdict {spec['verdict']!r}")
        if spec["left"] not in drafts.get(spec["sample"], {}) or spec["right"] not in drafts[spec["sample"]]:
            raise DemoDataError(f"{where}: both sides must be drafts of that sample")
        if spec["left"] == spec["right"] or spec["judge"] not in DEMO_USERS:
            raise DemoDataError(f"{where}: needs two different drafts and a demo user as judge")


def _ensure_comparison(spec: dict[str, Any]) -> int:
    """1 when the comparison was created now, 0 when it was there already."""
    sample = Sample.objects.get(key=spec["sample"])
    left = Translation.objects.get(sample=sample, system__name=spec["left"])
    right = Translation.objects.get(sample=sample, system__name=spec["right"])
    judge = get_user_model().objects.get(username=spec["judge"])
    if Comparison.objects.filter(sample=sample, left=left, right=right, judge_user=judge).exists():
        return 0
    Comparison.objects.create(
        sample=sample,
        left=left,
        right=right,
        judge_user=judge,
        verdict=spec["verdict"],
        reason=spec["reason"],
        time_spent_s=spec.get("time_spent_s"),
    )
    return 1
