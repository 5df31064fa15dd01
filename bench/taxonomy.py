"""Error-category suggestions against what a person picks (issue 13).

    .venv/bin/python bench/taxonomy.py [--json] [--paper FILE]

Asks `annotate.taxonomy.suggest_category(error, code_before, code_after)` for
(a) the 276 fix steps of the T2J paper: the step's Error with its Error_Code / Fixed_Code, read at bench time
    from ../shared/t2j-paper/fix_bugs_dataset.json beside the repository (never copied into it) and joined
    with the hand labels of fixtures/taxonomy/paper_step_labels.json by (Example_id, position);
(b) the real exception texts of fixtures/taxonomy/sandbox_errors.json (error text only, no code).
Rules are tuned on the even positions (paper: the step's 1-based position in its example; sandbox: the text's
1-based position within its category) and measured on the odd ones, held out. Prints recall per category with
n for each half (and how the paper and the sandbox texts contribute), overall accuracy per half, the top ten
confusions (examples named from the tuning half only) and the goal.
Recall = correct / labelled in that category; accuracy = correct / all cases of the half.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAPER_FILE = REPO.parent / "shared" / "t2j-paper" / "fix_bugs_dataset.json"
LABELS_FILE = REPO / "fixtures" / "taxonomy" / "paper_step_labels.json"
SANDBOX_FILE = REPO / "fixtures" / "taxonomy" / "sandbox_errors.json"
HALVES = ("tuning", "held-out")
GOAL_OVERALL, GOAL_PER_CATEGORY = 0.90, 0.75
GOAL_TEXT = f"held-out: overall >= {GOAL_OVERALL:.0%} and no category below {GOAL_PER_CATEGORY:.0%}"


@dataclass(frozen=True)
class Case:
    source: str  # "paper" or "sandbox"
    name: str  # e.g. "e1#3" or the sandbox program's name
    position: int  # 1-based; its parity picks the half
    expected: str
    error: str
    code_before: str = ""
    code_after: str = ""

    @property
    def half(self) -> str:
        return "tuning" if self.position % 2 == 0 else "held-out"


class BenchInputError(Exception):
    """The paper's file or a fixture is missing or does not match."""


def paper_cases(paper_file: Path) -> list[Case]:
    """The paper's steps joined with their hand labels; every step must have exactly one label."""
    if not paper_file.is_file():
        raise BenchInputError(
            f"paper dataset not found at {paper_file}: this bench reads the T2J paper's fix_bugs_dataset.json "
            "from ../shared/t2j-paper/ beside the repository (pass --paper FILE to read it from elsewhere)"
        )
    examples = json.loads(paper_file.read_text(encoding="utf-8"))["Pytorch_to_JAX_Examples"]
    steps = {
        (example["Example_id"], position): step
        for example in examples
        for position, step in enumerate(example["Errors"], start=1)
    }
    labels = json.loads(LABELS_FILE.read_text(encoding="utf-8"))["labels"]
    labelled = Counter((label["Example_id"], label["position"]) for label in labels)
    unlabelled = sorted(steps.keys() - labelled.keys())
    unknown = sorted(labelled.keys() - steps.keys())
    repeated = sorted(key for key, count in labelled.items() if count > 1)
    if unlabelled or unknown or repeated:
        raise BenchInputError(
            f"{LABELS_FILE.name} does not match {paper_file}: unlabelled steps {unlabelled[:5]}, "
            f"labels of no step {unknown[:5]}, steps labelled twice {repeated[:5]}"
        )
    return [
        Case(
            source="paper",
            name=f"{label['Example_id']}#{label['position']}",
            position=label["position"],
            expected=label["category"],
            error=steps[label["Example_id"], label["position"]]["Error"],
            code_before=steps[label["Example_id"], label["position"]]["Error_Code"],
            code_after=steps[label["Example_id"], label["position"]]["Fixed_Code"],
        )
        for label in labels
    ]


def sandbox_cases() -> list[Case]:
    entries = json.loads(SANDBOX_FILE.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    cases = []
    for entry in entries:
        seen[entry["category"]] += 1
        cases.append(Case("sandbox", entry["program_name"], seen[entry["category"]], entry["category"], entry["error"]))
    return cases


def measure(cases: list[Case], suggest) -> dict:
    """Recall per category and accuracy per half, with the confusions; `suggest` is suggest_category."""
    tally = {half: defaultdict(lambda: {"paper": [0, 0], "sandbox": [0, 0]}) for half in HALVES}
    confusions = {half: Counter() for half in HALVES}
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)  # tuning half only: held-out stays unread
    for case in cases:
        got = suggest(case.error, case.code_before, case.code_after)
        counts = tally[case.half][case.expected][case.source]
        counts[0] += got == case.expected
        counts[1] += 1
        if got != case.expected:
            confusions[case.half][case.expected, got] += 1
            if case.half == "tuning":
                examples[case.expected, got].append(case.name)
    halves = {half: _half_summary(tally[half]) for half in HALVES}
    held_out = halves["held-out"]
    weakest = min(held_out["categories"].values(), key=lambda c: c["recall"])["recall"]
    return {
        "halves": halves,
        "confusions": [
            {
                "expected": e,
                "suggested": s,
                "count": n,
                **{half: confusions[half][e, s] for half in HALVES},
                "tuning_examples": examples[e, s][:4],
            }
            for (e, s), n in (confusions["tuning"] + confusions["held-out"]).most_common(10)
        ],
        "goal": {
            "text": GOAL_TEXT,
            "held_out_accuracy": held_out["accuracy"],
            "held_out_weakest_recall": weakest,
            "met": held_out["accuracy"] >= GOAL_OVERALL and weakest >= GOAL_PER_CATEGORY,
        },
    }


def _half_summary(per_category: dict) -> dict:
    categories = {}
    for category in sorted(per_category):
        by_source = per_category[category]
        correct = sum(counts[0] for counts in by_source.values())
        n = sum(counts[1] for counts in by_source.values())
        categories[category] = {
            "n": n,
            "correct": correct,
            "recall": correct / n,
            **{source: {"n": counts[1], "correct": counts[0]} for source, counts in by_source.items()},
        }
    n = sum(c["n"] for c in categories.values())
    correct = sum(c["correct"] for c in categories.values())
    return {"n": n, "correct": correct, "accuracy": correct / n if n else 0.0, "categories": categories}


def render(report: dict, paper_n: int, sandbox_n: int) -> str:
    lines = [
        f"suggest_category against {paper_n} hand-labelled paper steps + {sandbox_n} sandbox exception texts",
        "",
        f"{'':18}{'tuning (even positions)':<34}{'held-out (odd positions)'}",
        (f"{'category':18}" + f"{'n':>4} {'recall':>7}  {'paper':>9} {'sandbox':>9}   " * 2).rstrip(),
    ]
    categories = sorted(set().union(*(report["halves"][h]["categories"] for h in HALVES)))
    for category in categories:
        row = f"{category:18}"
        for half in HALVES:
            c = report["halves"][half]["categories"].get(category)
            if c is None:
                row += f"{0:>4} {'-':>7}  {'':>9} {'':>9}   "
                continue
            paper, sandbox = (f"{c[s]['correct']}/{c[s]['n']}" if c[s]["n"] else "-" for s in ("paper", "sandbox"))
            row += f"{c['n']:>4} {c['recall']:>7.1%}  {paper:>9} {sandbox:>9}   "
        lines.append(row.rstrip())
    overall = "".join(f"{report['halves'][h]['n']:>4} {report['halves'][h]['accuracy']:>7.1%}{'':25}" for h in HALVES)
    lines += [
        f"{'overall accuracy':18}{overall}".rstrip(),
        "",
        "top confusions (expected -> suggested: all = tuning + held-out; tuning examples)",
    ]
    for c in report["confusions"]:
        counts = f"{c['count']:>3} = {c['tuning']:>2} + {c['held-out']:>2}"
        lines.append(f"  {c['expected']:>16} -> {c['suggested']:<16} {counts}  {', '.join(c['tuning_examples'])}")
    goal = report["goal"]
    lines += [
        "",
        f"goal: {goal['text']}",
        f"      now {goal['held_out_accuracy']:.1%} overall, weakest category {goal['held_out_weakest_recall']:.1%}"
        f" -> {'MET' if goal['met'] else 'NOT MET'}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")
    parser.add_argument("--paper", type=Path, default=PAPER_FILE, help=f"the paper's dataset (default {PAPER_FILE})")
    args = parser.parse_args()
    try:
        paper = paper_cases(args.paper)
        sandbox = sandbox_cases()
    except BenchInputError as exc:
        print(f"bench/taxonomy.py: {exc}", file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")
    import django

    django.setup()
    from annotate.taxonomy import suggest_category

    report = measure(paper + sandbox, suggest_category)
    if args.as_json:
        print(json.dumps({"paper_steps": len(paper), "sandbox_texts": len(sandbox), **report}, indent=2))
    else:
        print(render(report, len(paper), len(sandbox)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
