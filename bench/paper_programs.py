"""The paper's 40 programs through the sandbox: does each get past its imports and data loading?

    .venv/bin/python bench/paper_programs.py [--only e2 m4 ...] [--wall 180] [--lock /tmp/t2j-heavy.lock] [--json]

Runs the 20 TorchLeet PyTorch programs (`Input_Code`, kind pytorch) and their 20 human-fixed JAX versions
(`LLM_fix_output`, kind jax) of `../shared/t2j-paper/fix_bugs_dataset.json` one by one, cold, through the
sandbox of this checkout's settings (T2J_SANDBOX_VENV names the runtime venv), with the per-run limits
raised to the paper's 180 s (CPU: twice the wall time, address space 16 GiB). Prints one line per
program (status, seconds, stand-ins used, first exception) and a count by status; `blocked` counts the
runs that still stop at a missing module or a download, which the runtime is meant to make zero.
`--lock FILE` holds an flock on FILE around each run, for a machine whose sandbox is shared.
Not run in CI (minutes).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from annotate import sandbox  # noqa: E402
from annotate.sandbox.box import wait_for_teardowns  # noqa: E402

DATASET = ROOT.parent / "shared" / "t2j-paper" / "fix_bugs_dataset.json"
SIDES = (("Input_Code", "pytorch"), ("LLM_fix_output", "jax"))
BLOCKING = ("ModuleNotFoundError", "ImportError", "URLError", "NoNetwork")


def programs(only: list[str]) -> list[tuple[str, str, str]]:
    """(example id, kind, code) for every side of every example, in the file's order."""
    examples = json.loads(DATASET.read_text(encoding="utf-8"))["Pytorch_to_JAX_Examples"]
    found = []
    for example in examples:
        if only and example["Example_id"] not in only:
            continue
        for field, kind in SIDES:
            found.append((example["Example_id"], kind, example[field]))
    return found


def blocked(result) -> bool:
    """True when the run stopped at a missing module or at a download (the runtime's gaps, not the code's)."""
    text = f"{result.exception_type}: {result.exception_message}"
    return result.exception_type in BLOCKING or "no network" in text or "download" in text.lower()


@contextlib.contextmanager
def held(lock_path: str | None):
    if not lock_path:
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_one(example_id: str, kind: str, code: str, lock_path: str | None) -> dict:
    with held(lock_path):
        result = sandbox.run(code, kind, "")
        wait_for_teardowns()
    standins = [line for line in result.stderr.splitlines() if line.startswith("[t2j] stand-in:")]
    return {
        "example": example_id,
        "kind": kind,
        "status": result.status,
        "seconds": result.duration_s,
        "blocked": result.status != "ok" and blocked(result),
        "standins": len(standins),
        "exception": f"{result.exception_type}: {result.exception_message}"[:160] if result.exception_type else "",
        "peak_memory_gb": round((result.peak_memory_bytes or 0) / 1024**3, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="example ids (e1, m4, h10, ...)")
    parser.add_argument("--wall", type=float, default=180.0, help="wall-time limit per run, seconds")
    parser.add_argument("--lock", help="flock this file around each run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    settings.T2J_RUNNER_URLS = []  # cold starts only: every program in a fresh box
    settings.T2J_RUN_WALL_S = args.wall
    settings.T2J_RUN_CPU_S = int(2 * args.wall)
    settings.T2J_RUN_ADDRESS_SPACE_BYTES = 16 * 1024**3
    rows = []
    for example_id, kind, code in programs(args.only):
        row = run_one(example_id, kind, code, args.lock)
        rows.append(row)
        if not args.json:
            flag = "BLOCKED" if row["blocked"] else ""
            print(
                f"{row['example']:>4} {row['kind']:<8} {row['status']:<8} {row['seconds'] or 0:7.1f}s "
                f"stand-ins={row['standins']} {flag:<7} {row['exception']}",
                flush=True,
            )
    counts = collections.Counter(row["status"] for row in rows)
    summary = {
        "runtime_venv": settings.T2J_SANDBOX_VENV,
        "runs": len(rows),
        "by_status": dict(counts),
        "blocked": sum(row["blocked"] for row in rows),
    }
    if args.json:
        print(json.dumps({"rows": rows, **summary}, indent=1))
    else:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
