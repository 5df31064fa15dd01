"""Batch runs: runs per minute through the runner's warm pools against one `sandbox_run` process per file.

    .venv/bin/python bench/batch_runs.py [--copies 2] [--json]

Same programs, same run, in a throw-away SQLite database (never yours): the demo's samples
(fixtures/demo/<key>/pytorch.py) and their fixed JAX translations (fixed.py), `--copies` systems of them.
- pool: `batch_runs.run_all` (what `manage.py run_translations` and the system page's job do) for kind jax
  and then kind pytorch, T2J_BATCH_CONCURRENCY at a time, through a runner started here with warm pools
  per kind (pool sizes from settings, at least 1);
- per file: every program written to a file and run by its own `manage.py sandbox_run FILE --kind K --json`
  process, one after the other, without a runner (each process starts Django and a cold box).
Prints runs per minute of each and `ratio` = pool / per file; the statuses must match.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_WORKDIR = tempfile.mkdtemp(prefix="t2j-bench-batch-")
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
# Forced, not defaulted: the bench writes Runs and must never write them into a real database.
os.environ["T2J_DATA_DIR"] = _WORKDIR
os.environ["DATABASE_URL"] = f"sqlite:///{_WORKDIR}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from annotate import batch_runs  # noqa: E402
from annotate.demo import DEMO_DIR  # noqa: E402
from annotate.models import Sample, System, Translation  # noqa: E402
from annotate.sandbox.box import wait_for_teardowns  # noqa: E402
from annotate.sandbox.pool import pools_from_settings  # noqa: E402
from annotate.sandbox.server import RunnerServer  # noqa: E402

KEYS = sorted(path.parent.name for path in DEMO_DIR.glob("*/fixed.py"))


def build(copies: int) -> list[str]:
    """`copies` systems, each with a translation (the fixed program) of every demo sample; their names."""
    call_command("migrate", verbosity=0)
    names = []
    for key in KEYS:
        Sample.objects.create(key=key, pytorch_code=(DEMO_DIR / key / "pytorch.py").read_text())
    for copy in range(copies):
        system = System.objects.create(name=f"bench-{copy}")
        for sample in Sample.objects.all():
            Translation.objects.create(
                sample=sample, system=system, code=(DEMO_DIR / sample.key / "fixed.py").read_text()
            )
        names.append(system.name)
    return names


def through_the_pool(systems: list[str]) -> tuple[float, collections.Counter]:
    pools = pools_from_settings({
        "jax": max(1, settings.T2J_RUNNER_POOL_SIZE),
        "pytorch": max(1, settings.T2J_RUNNER_POOL_SIZE_PYTORCH),
        "contract": 0,
    })  # fmt: skip
    server = RunnerServer(("127.0.0.1", 0), pools)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.T2J_RUNNER_URLS = [f"http://127.0.0.1:{server.server_address[1]}"]
    try:
        for kind, pool in pools.items():
            if not pool.wait_until_full(240):
                raise SystemExit(f"warm {kind} pool did not fill: {pool.last_error}")
        statuses: collections.Counter = collections.Counter()
        started = time.perf_counter()
        for kind in batch_runs.KINDS:
            for name in systems:
                for _, result in batch_runs.run_all(batch_runs.plan(name, kind=kind), kind):
                    statuses[(kind, result.status)] += 1
        return time.perf_counter() - started, statuses
    finally:
        server.shutdown()
        server.server_close()
        for pool in pools.values():
            pool.stop()
        settings.T2J_RUNNER_URLS = []


def one_process_per_file(systems: list[str]) -> tuple[float, collections.Counter]:
    folder = Path(_WORKDIR) / "programs"
    folder.mkdir()
    files = []
    for kind in batch_runs.KINDS:
        for name in systems:
            for translation in batch_runs.plan(name, kind=kind):
                path = folder / f"{name}-{kind}-{translation.sample.key}.py"
                path.write_text(batch_runs.code_of(translation, kind), encoding="utf-8")
                files.append((kind, path))
    env = {**os.environ, "T2J_RUNNER_URLS": ""}
    statuses: collections.Counter = collections.Counter()
    started = time.perf_counter()
    for kind, path in files:
        command = [sys.executable, "manage.py", "sandbox_run", str(path), "--kind", kind, "--json"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        statuses[(kind, json.loads(done.stdout.splitlines()[-1])["status"])] += 1
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=2, help="systems with a translation of every demo sample")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    systems = build(args.copies)
    pool_s, pool_statuses = through_the_pool(systems)
    wait_for_teardowns()
    file_s, file_statuses = one_process_per_file(systems)
    runs = sum(pool_statuses.values())
    report = {
        "runs": runs,
        "pool_s": round(pool_s, 2),
        "per_file_s": round(file_s, 2),
        "pool_runs_per_min": round(60 * runs / pool_s, 1),
        "per_file_runs_per_min": round(60 * runs / file_s, 1),
        "ratio": round(file_s / pool_s, 2),
        "concurrency": settings.T2J_BATCH_CONCURRENCY,
        "statuses": {f"{kind} {status}": count for (kind, status), count in sorted(pool_statuses.items())},
        "same_statuses": pool_statuses == file_statuses,
    }
    if not args.json:
        print(
            f"{runs} runs ({len(KEYS)} demo samples x {args.copies} systems x jax, pytorch): "
            f"pool {report['pool_runs_per_min']}/min ({report['pool_s']} s, concurrency {report['concurrency']}), "
            f"one sandbox_run per file {report['per_file_runs_per_min']}/min ({report['per_file_s']} s); "
            f"pool {report['ratio']}x faster; {report['statuses']}, same both ways: {report['same_statuses']}"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
