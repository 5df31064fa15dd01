"""Load test: 20 simulated developers and reviewers against gunicorn on loopback, at S and L (issue 19).

    .venv/bin/python bench/load.py [--sizes S,L] [--users 20] [--seconds 60] [--database sqlite|postgres] [--json]

For each size: builds the data set in a throw-away database (as bench/scale.py does), gives each simulated
developer an open fix session, runs `collectstatic` and starts the production web server (gunicorn with
t2j_site/gunicorn.py, DEBUG off) on a free 127.0.0.1 port, then runs Locust headless (bench/locustfile.py:
users wait 1-3 s between actions; page views, autosaves, fix steps, votes and scores) for `--seconds`.
Prints per request kind: count, failures, median and p95 ms, and the totals with throughput, cold
(first GET after a change) and warm GETs apart. Goal at L on PostgreSQL: 0 errors, p95 <= 500 ms.
Sandbox runs are not in the mix: bench/sandbox_latency.py measures them.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402  (bench/scale.py: throw-away databases and the build)

ROOT = scale.ROOT
P95_GOAL_MS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError(f"the web server did not answer {url} (its log is in the data folder)")


def measure_size(size: str, dbs: scale.Databases, args) -> dict:
    name = f"load_{size.lower()}"
    data_dir = dbs.folder / f"data-{name}"
    (data_dir / "staticfiles").mkdir(parents=True)
    data_dir.chmod(0o700)
    env = scale._env(dbs.fresh(name), data_dir)
    scale._manage(env, "migrate", "--noinput", "-v", "0")
    scale._manage(env, "createcachetable")
    built = scale._self("build", env, "--_size", size)
    prepared = json.loads(_run_child(env, "--_prepare", str(args.users)))
    scale._manage(env, "collectstatic", "--noinput", "-v", "0")
    port = _free_port()
    web_env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "T2J_WEB_ACCESS_LOG": ""}
    log = open(data_dir / "gunicorn.log", "w")  # noqa: SIM115 - closed after the server stops
    web = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "t2j_site/gunicorn.py", "t2j_site.wsgi"],
        cwd=ROOT, env=web_env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    try:
        host = f"http://127.0.0.1:{port}"
        _wait_until_up(host + "/accounts/login/", web)
        stats = _locust(host, prepared, args, data_dir / "locust")
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
        log.close()
        problems = [line for line in (data_dir / "gunicorn.log").read_text().splitlines()
                    if any(word in line for word in ("ERROR", "CRITICAL", "Traceback", "Error"))]  # fmt: skip
        for line in problems[:20]:
            print(f"  web server: {line}", file=sys.stderr)
    return {"counts": built["counts"], "stats": stats}


def _run_child(env: dict, *args: str) -> str:
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if process.returncode != 0:
        raise RuntimeError(process.stderr[-3000:])
    return process.stdout.strip().splitlines()[-1]


def _locust(host: str, prepared: dict, args, prefix: Path) -> list[dict]:
    env = {**os.environ, "T2J_LOAD_PEOPLE": json.dumps(prepared)}
    command = [
        str(ROOT / ".venv" / "bin" / "locust"), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.users), "--run-time", f"{args.seconds}s",
        "--host", host, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    process = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 120)
    if process.returncode not in (0, 1):  # 1: some requests failed, which the table reports
        raise RuntimeError(f"locust failed ({process.returncode}):\n{process.stderr[-3000:]}")
    with open(f"{prefix}_failures.csv", newline="") as file:
        for row in csv.DictReader(file):
            print(f"  failed {row['Occurrences']}x {row['Name']}: {row['Error'][:300]}", file=sys.stderr)
    with open(f"{prefix}_stats.csv", newline="") as file:
        return [
            {
                "name": row["Name"] if row["Name"] != "Aggregated" else "all requests",
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "median_ms": float(row["Median Response Time"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "rps": float(row["Requests/s"] or 0),
            }
            for row in csv.DictReader(file)
        ]


def _prepare(users: int) -> dict:
    """For each simulated person: a logged-in session cookie (logging in is not what is measured: 20 Argon2
    hashes at once would be), and for developers (dev, dev1, ...) an open fix session of their own."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from annotate.models import FixSession, Sample, SessionStatus, System, SystemMode, Translation

    sample = Sample.objects.order_by("pk").first()

    def open_session(user, n: int) -> int:
        system = System.objects.get_or_create(name=f"load-{n}", defaults={"mode": SystemMode.IMPORTED})[0]
        translation, _ = Translation.objects.get_or_create(sample=sample, system=system, defaults={"code": "x = 1\n"})
        now = timezone.now()
        return FixSession.objects.create(
            translation=translation, owner=user, status=SessionStatus.OPEN, claimed_at=now, last_activity_at=now,
            current_code=translation.code,
        ).pk  # fmt: skip

    people = {"developers": [], "reviewers": []}
    for kind, prefix in (("developers", "dev"), ("reviewers", "rev")):
        for n in range(users):
            user = get_user_model().objects.filter(username=prefix if n == 0 else f"{prefix}{n}").first()
            if user is None:
                break
            client = Client()
            client.force_login(user)
            person = {"username": user.username, "cookie": client.cookies["sessionid"].value}
            if kind == "developers":
                person["session"] = open_session(user, n)
            people[kind].append(person)
    return people


def report(results: dict) -> list[str]:
    lines = []
    for size, result in results.items():
        counts = ", ".join(f"{n:,} {kind}" for kind, n in result["counts"].items())
        lines += ["", f"{size}: {counts}", "request | count | failures | median ms | p95 ms | req/s"]
        for row in result["stats"]:
            lines.append(
                f"{row['name']} | {row['requests']} | {row['failures']} | {row['median_ms']:.0f} | "
                f"{row['p95_ms']:.0f} | {row['rps']:.1f}"
            )
        total = next(row for row in result["stats"] if row["name"] == "all requests")
        ok = total["failures"] == 0 and total["p95_ms"] <= P95_GOAL_MS
        goal = "ok" if ok else "MISSED"
        lines.append(f"{size} goal (0 errors, p95 <= {P95_GOAL_MS} ms): {goal}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,L")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database", choices=["sqlite", "postgres"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--_prepare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._prepare:
        print(json.dumps(_prepare(int(args._prepare))))
        return
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    if not sizes or set(sizes) - {"S", "L"}:
        parser.error("--sizes takes S, L or S,L")
    backend = args.database or ("postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite")
    dbs = scale.Databases(backend)
    results = {size: measure_size(size, dbs, args) for size in sizes}
    print(f"bench/load.py on {backend}: {args.users} users, {args.seconds} s, gunicorn on loopback")
    print("\n".join(report(results)))
    if args.json:
        print(json.dumps({"database": backend, "results": results}))


if __name__ == "__main__":
    main()
