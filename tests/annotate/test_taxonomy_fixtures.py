"""The taxonomy bench's fixtures: hand labels covering the paper's steps, real sandbox texts per category."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter

from django.conf import settings

from annotate.models import StepCategory
from tests.paper import PAPER_DATASET, needs_paper_data

FIXTURES = settings.BASE_DIR / "fixtures" / "taxonomy"


def paper_examples() -> list[dict]:
    """The paper's examples, read from ../shared (never copied into the repository)."""
    return json.loads(PAPER_DATASET.read_text(encoding="utf-8"))["Pytorch_to_JAX_Examples"]


def labels() -> list[dict]:
    return json.loads((FIXTURES / "paper_step_labels.json").read_text(encoding="utf-8"))["labels"]


def sandbox_errors() -> list[dict]:
    return json.loads((FIXTURES / "sandbox_errors.json").read_text(encoding="utf-8"))


@needs_paper_data
def test_labels_cover_every_paper_step_exactly_once():
    steps = [(ex["Example_id"], position) for ex in paper_examples() for position in range(1, len(ex["Errors"]) + 1)]
    labelled = Counter((label["Example_id"], label["position"]) for label in labels())

    assert len(steps) == 276
    assert set(labelled) == set(steps)
    assert max(labelled.values()) == 1


def test_labels_hold_a_category_and_a_short_tag_only():
    """No text of the paper may be copied into the repository: a row is ids, a category and our own tag."""
    for label in labels():
        assert set(label) == {"Example_id", "position", "category", "reason"}, label
        assert label["category"] in StepCategory.values, label
        assert re.fullmatch(r"[a-z0-9-]{1,32}", label["reason"]), label


@needs_paper_data
def test_repeated_paper_steps_carry_the_same_label():
    """m3's steps 14-23 repeat 4-13 word for word; one text cannot be two categories."""
    by_text = {}
    examples = {ex["Example_id"]: ex["Errors"] for ex in paper_examples()}
    for label in labels():
        step = examples[label["Example_id"]][label["position"] - 1]
        key = (step["Error"], step["Fix_info"], step["Error_Code"], step["Fixed_Code"])
        assert by_text.setdefault(key, label["category"]) == label["category"], label


def test_sandbox_texts_give_every_category_at_least_ten_real_exceptions():
    entries = sandbox_errors()
    per_category = Counter(entry["category"] for entry in entries)

    assert {category: per_category[category] for category in StepCategory.values if per_category[category] < 10} == {}
    assert set(per_category) <= set(StepCategory.values)
    for entry in entries:
        assert set(entry) == {"program_name", "category", "error"}, entry
        assert re.match(r"[A-Za-z_][\w.]*: ", entry["error"]), entry  # "ExceptionType: message" as the Run holds it


def test_sandbox_texts_are_those_of_the_collecting_script(monkeypatch):
    """Editing a program without regenerating the file would leave texts no program produces."""
    path = settings.BASE_DIR / "scripts" / "collect_taxonomy_errors.py"
    spec = importlib.util.spec_from_file_location("collect_taxonomy_errors", path)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclass looks its module up there
    spec.loader.exec_module(script)

    declared = [(p.name, p.category, p.raises) for p in script.PROGRAMS]
    recorded = [(e["program_name"], e["category"], e["error"].split(":", 1)[0]) for e in sandbox_errors()]

    assert recorded == declared
