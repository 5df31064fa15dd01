"""Sandbox latency: warm pools vs cold starts, and the per-user compile cache (see issues 4 and 14, the README).

    .venv/bin/python bench/sandbox_latency.py [--runs 20] [--heavy-runs 5] [--json]

Starts its own runner (a warm pool per run kind behind the local HTTP API) and measures, with the same
isolation: (a) a trivial jax.numpy program and (b) a 100-step jitted linear-regression training loop, each
through the warm pool (waiting for the refill between runs, and back-to-back) and through a cold sandboxed
start; (c) the same user re-running (b) unchanged (compile cache copied in) against a first run; (d) a
small PyTorch training loop (kind pytorch: warm boxes have torch imported) and (e) a contract run of the
demo's linreg sample (kind contract: torch, jax and flax imported), warm vs cold, `--heavy-runs` each.
`ratio` = warm median / cold median; `inprocess_median_s` = the program's own exec time inside a warm box.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
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

from annotate.contracts import DRIVER  # noqa: E402
from annotate.demo import DEMO_DIR  # noqa: E402
from annotate.sandbox import inputs  # noqa: E402
from annotate.sandbox.client import run_remote  # noqa: E402
from annotate.sandbox.executor import execute  # noqa: E402
from annotate.sandbox.limits import Limits  # noqa: E402
from annotate.sandbox.pool import pools_from_settings  # noqa: E402
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
PYTORCH = """
import torch, torch.nn as nn
torch.manual_seed(0)
x = torch.randn(256, 8)
y = x @ torch.arange(8.0) + 0.5
model = nn.Linear(8, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
for _ in range(100):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x).squeeze(-1), y)
    loss.backward()
    optimizer.step()
print(float(loss))
"""


def contract_files() -> dict[str, str]:
    """The demo's linreg sample checked against its fixed translation: a contract run's files (annotate.contracts)."""
    config = {"nonce": uuid.uuid4().hex, "mode": "check", "stage_budget_s": 15.0}
    return {
        "torch_program.py": (DEMO_DIR / "linreg" / "pytorch.py").read_text(),
        "jax_program.py": (DEMO_DIR / "linreg" / "fixed.py").read_text(),
        "contract.py": (DEMO_DIR / "linreg" / "contract.py").read_text(),
        "t2j_run.json": json.dumps(config),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _fresh_key() -> str:
    """A compile-cache key nobody used yet (the shape annotate.runs.cache_key gives)."""
    return secrets.token_hex(32)


class Bench:
    def __init__(self, runs: int, heavy_runs: int) -> None:
        self.runs = runs
        self.heavy_runs = heavy_runs
        self.limits = Limits.from_settings()
        self.pools = pools_from_settings(
            {
                "jax": max(2, settings.T2J_RUNNER_POOL_SIZE),
                "pytorch": max(1, settings.T2J_RUNNER_POOL_SIZE_PYTORCH),
                "contract": max(1, settings.T2J_RUNNER_POOL_SIZE_CONTRACT),
            }
        )
        self.server = RunnerServer(("127.0.0.1", 0), self.pools)  # the token the web side sends too
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for pool in self.pools.values():
            pool.stop()

    def settle(self) -> None:
        """Every pool full: no box is importing while a run is measured."""
        for kind, pool in self.pools.items():
            if not pool.wait_until_full(240):
                raise SystemExit(f"warm {kind} pool did not fill: {pool.last_error}")

    def warm(self, code: str, kind: str, cache_key: str, wait: bool, files=None) -> tuple[float, float | None]:
        if wait:
            self.settle()
        job = inputs.make_job(code, kind, cache_key, files=inputs.encode_files(files), limits=self.limits)
        started = time.perf_counter()
        result, failures = run_remote([self.url], job.as_payload(), self.limits.wall_s)
        elapsed = time.perf_counter() - started
        if result is None or result.status != "ok" or not result.started_warm:
            raise SystemExit(f"warm run failed: {failures or result}")
        return elapsed, result.inprocess_s

    def cold(self, code: str, kind: str = "jax", files=None) -> float:
        job = inputs.make_job(code, kind, _fresh_key(), files=inputs.encode_files(files), limits=self.limits)
        started = time.perf_counter()
        result = execute(job)
        elapsed = time.perf_counter() - started
        if result.status != "ok":
            raise SystemExit(f"cold run failed: {result}")
        return elapsed

    def program(self, code: str) -> dict[str, float]:
        # A new cache key per run: no cache effects in (a)/(b).
        warm = [self.warm(code, "jax", _fresh_key(), wait=True) for _ in range(self.runs)]
        self.settle()
        b2b = [self.warm(code, "jax", _fresh_key(), wait=False)[0] for _ in range(self.runs)]
        self.settle()  # no refill competes with the cold starts
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

    def heavy(self, code: str, kind: str, files=None) -> dict[str, float]:
        """(d)/(e): warm (pool refilled before each run) against cold, `heavy_runs` each, alternating."""
        warm, cold = [], []
        for _ in range(self.heavy_runs):
            warm.append(self.warm(code, kind, _fresh_key(), wait=True, files=files)[0])
            self.settle()
            cold.append(self.cold(code, kind, files=files))
        return {
            "warm_median_s": statistics.median(warm),
            "cold_median_s": statistics.median(cold),
            "ratio": statistics.median(warm) / statistics.median(cold),
        }

    def rerun(self, code: str) -> dict[str, float]:
        first, again = [], []
        for _ in range(self.runs):
            user = _fresh_key()  # one user's key, as annotate.runs.cache_key derives it
            first.append(self.warm(code, "jax", user, wait=True)[0])
            again.append(self.warm(code, "jax", user, wait=True)[0])
        return {
            "first_median_s": statistics.median(first),
            "rerun_median_s": statistics.median(again),
            "ratio": statistics.median(again) / statistics.median(first),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--heavy-runs", type=int, default=5, help="runs of (d) and (e), each side")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t2j-bench-cache-") as folder:
        settings.T2J_COMPILE_CACHE_DIR = Path(folder)
        bench = Bench(args.runs, args.heavy_runs)
        try:
            report = {"trivial": bench.program(TRIVIAL), "training": bench.program(TRAINING)}
            report["training_rerun"] = bench.rerun(TRAINING)
            report["pytorch"] = bench.heavy(PYTORCH, "pytorch")
            report["contract"] = bench.heavy(DRIVER, "contract", files=contract_files())
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
        heavy = (rounded["pytorch"]["ratio"], rounded["contract"]["ratio"])
        print(f"goal (d), (e): warm/cold pytorch {heavy[0]}, contract {heavy[1]} <= 0.3")
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
