"""Sandbox latency: warm pool vs cold start, and the per-user compile cache (see issue 4 and the README).

    .venv/bin/python bench/sandbox_latency.py [--runs 20] [--json]

Starts its own runner (warm pool behind the local HTTP API) and measures, with the same isolation:
(a) a trivial jax.numpy program and (b) a 100-step jitted linear-regression training loop, each through the
warm pool (waiting for the refill between runs, and back-to-back) and through a cold sandboxed start;
(c) the same user re-running (b) unchanged (compile cache copied in) against a first run.
`ratio` = warm median / cold median; `inprocess_median_s` = the program's own exec time inside a warm box.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from annotate.sandbox.client import run_remote  # noqa: E402
from annotate.sandbox.executor import execute  # noqa: E402
from annotate.sandbox.limits import Limits  # noqa: E402
from annotate.sandbox.pool import WarmPool  # noqa: E402
from annotate.sandbox.server import RunnerServer  # noqa: E402

TRIVIAL = "import jax.numpy as jnp\nprint(jnp.arange(10).sum())\n"
TRAINING = """
import jax, jax.numpy as jnp
key = jax.random.PRNGKey(0)
x = jax.random.normal(key, (256, 8))
true_w = jnp.arange(8.0)
y = x @ true_w + 0.5

@jax.jit
def step(params, x, y):
    def loss(params):
        w, b = params
        return jnp.mean((x @ w + b - y) ** 2)
    value, grads = jax.value_and_grad(loss)(params)
    return jax.tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads), value

params = (jnp.zeros(8), jnp.zeros(()))
for _ in range(100):
    params, value = step(params, x, y)
print(float(value))
"""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Bench:
    def __init__(self, runs: int) -> None:
        self.runs = runs
        self.limits = Limits.from_settings()
        self.pool = WarmPool(max(2, settings.T2J_RUNNER_POOL_SIZE), list(settings.T2J_RUNNER_PRELOAD)).start()
        self.server = RunnerServer(("127.0.0.1", 0), self.pool, token=settings.T2J_RUNNER_TOKEN)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.pool.stop()

    def warm(self, code: str, user_key: str, wait: bool) -> tuple[float, float | None]:
        if wait and not self.pool.wait_until_full(120):
            raise SystemExit(f"warm pool did not fill: {self.pool.last_error}")
        payload = {"code": code, "kind": "jax", "user_key": user_key, "files": {}, "limits": self.limits.as_dict()}
        started = time.perf_counter()
        result, failures = run_remote([self.url], payload, self.limits.wall_s)
        elapsed = time.perf_counter() - started
        if result is None or result.status != "ok":
            raise SystemExit(f"warm run failed: {failures or result}")
        return elapsed, result.inprocess_s

    def cold(self, code: str) -> float:
        started = time.perf_counter()
        result = execute(code, "jax", f"bench-{uuid.uuid4()}", {}, self.limits)
        elapsed = time.perf_counter() - started
        if result.status != "ok":
            raise SystemExit(f"cold run failed: {result}")
        return elapsed

    def program(self, code: str) -> dict[str, float]:
        fresh = lambda: f"bench-{uuid.uuid4()}"  # noqa: E731 - no cache effects in (a)/(b)
        warm = [self.warm(code, fresh(), wait=True) for _ in range(self.runs)]
        self.pool.wait_until_full(120)
        b2b = [self.warm(code, fresh(), wait=False)[0] for _ in range(self.runs)]
        self.pool.wait_until_full(120)  # no refill competes with the cold starts
        cold = [self.cold(code) for _ in range(self.runs)]
        warm_times = [t for t, _ in warm]
        return {
            "warm_median_s": statistics.median(warm_times),
            "warm_p95_s": _p95(warm_times),
            "warm_b2b_median_s": statistics.median(b2b),
            "cold_median_s": statistics.median(cold),
            "cold_p95_s": _p95(cold),
            "ratio": statistics.median(warm_times) / statistics.median(cold),
            "inprocess_median_s": statistics.median(t for _, t in warm if t is not None),
        }

    def rerun(self, code: str) -> dict[str, float]:
        first, again = [], []
        for _ in range(self.runs):
            user = f"bench-{uuid.uuid4()}"
            first.append(self.warm(code, user, wait=True)[0])
            again.append(self.warm(code, user, wait=True)[0])
        return {
            "first_median_s": statistics.median(first),
            "rerun_median_s": statistics.median(again),
            "ratio": statistics.median(again) / statistics.median(first),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t2j-bench-cache-") as folder:
        settings.T2J_COMPILE_CACHE_DIR = Path(folder)
        bench = Bench(args.runs)
        try:
            report = {"trivial": bench.program(TRIVIAL), "training": bench.program(TRAINING)}
            report["training_rerun"] = bench.rerun(TRAINING)
        finally:
            bench.close()
    rounded = {name: {k: round(v, 4) for k, v in part.items()} for name, part in report.items()}
    if not args.json:
        for name, part in rounded.items():
            print(name, " ".join(f"{k}={v}" for k, v in part.items()))
        trivial = rounded["trivial"]
        print(
            f"goal (a): ratio {trivial['ratio']} <= 0.12; warm - in-process "
            f"{round(trivial['warm_median_s'] - trivial['inprocess_median_s'], 4)} s <= 0.05 s"
        )
        print(f"goal (c): rerun/first {rounded['training_rerun']['ratio']} <= 0.35")
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
