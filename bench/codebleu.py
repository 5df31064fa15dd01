"""CodeBLEU over every core: the same pairs scored by 1 worker process and by N, in one run (issue 19).

    .venv/bin/python bench/codebleu.py [--pairs 577] [--processes 2] [--json]

Pairs come from the T2J paper's intrinsic.json (../shared/t2j-paper): each sample's baseline and T2J
translations against its ground truth, repeated until there are `--pairs`. Prints the wall time of each and
`speedup` = 1-process time / N-process time (goal: ≥ 1.7 on 2 cores), the CPU the workers got and how long they
worked side by side (a machine busy with other work lends fewer cores than it has). The scores must be
identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

import django  # noqa: E402

django.setup()
LOAD_BEFORE = ", ".join(f"{x:.1f}" for x in os.getloadavg())

from evaluate.metrics import codebleu  # noqa: E402

INTRINSIC = Path("shared") / "t2j-paper" / "intrinsic.json"
COLUMNS = ("baseline_before_fix", "t2j_before_fix")
SPEEDUP_GOAL = 1.7


def paper_pairs(count: int) -> list[tuple[str, str]]:
    folder = next(p for p in Path(__file__).resolve().parents if (p / INTRINSIC).exists())
    samples = json.loads((folder / INTRINSIC).read_text())["samples"].values()
    base = [
        (s[column], s["groundtruth_before_fix"])
        for s in samples
        for column in COLUMNS
        if s.get(column) and s.get("groundtruth_before_fix")
    ]
    return [base[i % len(base)] for i in range(count)]


def timed(pairs, processes: int) -> tuple[float, float, float, list]:
    """(wall seconds, CPU seconds of the worker processes, overlap of the workers' spans, results).

    The overlap (0-1) is how much of the run every worker was being fed or read at once: 1 when the workers
    work side by side, 0 when one waits for the other (as when their input was written one after the other).
    """
    spans: list[tuple[float, float]] = []
    collect = codebleu._collect

    def recorded(*args):
        begun = time.perf_counter()
        try:
            return collect(*args)
        finally:
            spans.append((begun, time.perf_counter()))

    codebleu._collect = recorded
    cpu_before = _children_cpu()
    start = time.perf_counter()
    try:
        results = codebleu.score_pairs(pairs, processes=processes)
    finally:
        codebleu._collect = collect
    wall = time.perf_counter() - start
    together = min(end for _, end in spans) - max(begun for begun, _ in spans)
    return wall, _children_cpu() - cpu_before, max(0.0, together) / wall, results


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


BUSY_LOOP = "n = 0\nfor i in range(10_000_000):\n    n += i\n"


def cores_lent(processes: int) -> float:
    """How many cores the machine lends right now: `processes` busy loops at once against one alone."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUSY_LOOP], check=True)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    for loop in [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(processes)]:
        loop.wait()
    return processes * alone / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=577)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pairs = paper_pairs(args.pairs)
    lent = cores_lent(args.processes)
    one_s, one_cpu, _, one = timed(pairs, 1)
    many_s, many_cpu, overlap, many = timed(pairs, args.processes)
    assert one == many, "scores differ between worker counts"
    speedup = one_s / many_s
    goal = "ok" if speedup >= SPEEDUP_GOAL else "MISSED"
    print(f"CodeBLEU on {len(pairs)} pairs ({codebleu.available_cores()} cores available)")
    # CPU / wall shows how many cores the workers kept busy (a loaded machine lends fewer than it has).
    print(f"1 process:  {one_s:.1f} s wall, {one_cpu:.1f} s CPU ({one_cpu / one_s:.2f} cores busy)")
    print(f"{args.processes} processes: {many_s:.1f} s wall, {many_cpu:.1f} s CPU ({many_cpu / many_s:.2f} cores busy)")
    print(f"workers working side by side for {overlap:.0%} of the {args.processes}-process run")
    print(f"load average before the run: {LOAD_BEFORE}; {args.processes} busy loops got {lent:.2f} cores")
    print(f"speedup: {speedup:.2f}x (goal >= {SPEEDUP_GOAL}x on 2 cores: {goal})")
    if args.json:
        figures = {"pairs": len(pairs), "processes": args.processes, "one_s": one_s, "many_s": many_s}
        figures |= {"speedup": speedup, "one_cpu_s": one_cpu, "many_cpu_s": many_cpu, "overlap": overlap}
        figures["cores_lent"] = lent
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
