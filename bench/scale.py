"""Pages and commands at S (the demo) and L (2,000 samples, ~107k steps), with the goals of issue 19.

    .venv/bin/python bench/scale.py [--sizes S,L] [--runs 5] [--database sqlite|postgres] [--json]
                                    [--keep DIR] [--pages WORD,...]

Builds each size itself (bench/datasets.py) in a throw-away database: a SQLite file in a temporary folder,
or with `--database postgres` (or DATABASE_URL naming PostgreSQL) databases `t2j_bench_*` created on that
server (`scripts/start_postgres.sh` starts a local one) and dropped at the end. Then, each part in a fresh
process so memory figures are its own:
- pages: every GET of the role matrix (tests/test_role_matrix.py's URL list, each opened by a role allowed
  to) and every Django admin change list, with the Django test client: median of `--runs` requests after
  one warm-up, and the queries one request runs;
- downloads (dataset exports, metric tables): time and the web process's RSS growth while it serves one;
- commands: export_dataset jsonl and t2j, import_dataset of each export into an empty database,
  compute_metrics --metric fixcost, export_metrics; time and peak RSS (ru_maxrss of the subprocess).
Prints one table per kind with L/S ratios and a goal column; `--json` ends with one JSON line.

`--keep DIR` keeps the built databases in DIR (SQLite files, or the PostgreSQL databases `t2j_bench_*` with a
note in DIR) and, when DIR already holds them, reuses them instead of building again (migrations still run, so
a new one is applied to the kept data). `--pages WORD,...` measures only the pages whose label holds one of the
words, and no downloads or commands. Each page's first request (in the measuring process, the caches cleared just
before: cold) is shown beside the median of the others. Beside the role matrix: the T2J prompt preview of a T2J
system, and the record-step form of an open session with a failing run and an edit (its similar fixes), at every size.

Goals: a page ≤ 300 ms median and ≤ 3× its S time (a page within 20 ms at L passes the ratio: S pages take
3-10 ms, where noise alone makes a ratio of 3), the same queries at S and L; exports and imports of the L
dataset ≤ 300 MB peak RSS (downloads: RSS growth); FixCost compute at L ≤ 60 s. The metrics table download in
the role matrix is judged with the downloads.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PAGE_GOAL_MS = 300
PAGE_GOAL_RATIO = 3.0
RSS_GOAL_MB = 300
FIXCOST_GOAL_S = 60
SLOW_PAGE_S = 2.0
# Below this a page passes the L/S ratio too: at S pages take 3-10 ms, where a few ms of noise is a ratio of 3.
RATIO_FLOOR_MS = 20
# Matrix URLs that are downloads of a whole table (the metrics table, one row per translation).
DOWNLOAD_PAGES = {"evaluate:metrics_export"}
BUSY_REVIEWER = "busy reviewer"
POSTGRES_DEFAULT = "postgres://t2j:t2j@127.0.0.1:5432/t2j"


# --- the parent: databases, subprocesses, the table ------------------------------------------------------


class Databases:
    """Throw-away databases for one bench run: `url(name)` for a new one, `copy(src, dst)` of a migrated one.
    With `keep`, the built ones stay in that folder (or on the server) for the next run."""

    def __init__(self, backend: str, keep: Path | None = None) -> None:
        self.backend = backend
        self.keep = keep
        self.folder = keep or Path(tempfile.mkdtemp(prefix="t2j-bench-scale-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.created: list[str] = []
        atexit.register(self.drop_all)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # atexit runs on a kill too
        if backend == "postgres":
            base = os.environ.get("DATABASE_URL", "")
            self.base = base if base.startswith("postgres") else POSTGRES_DEFAULT

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.folder / name}.sqlite3"
        parsed = urlparse(self.base)
        return parsed._replace(path=f"/t2j_bench_{name}").geturl()

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(sql)

    def fresh(self, name: str) -> str:
        if self.backend == "postgres":
            self._admin(f"DROP DATABASE IF EXISTS t2j_bench_{name} WITH (FORCE)")
            self._admin(f"CREATE DATABASE t2j_bench_{name}")
            self.created.append(name)
        return self.url(name)

    def copy(self, source: str, target: str) -> str:
        """A copy of database `source` (migrated, nothing else written) named `target`."""
        if self.backend == "sqlite":
            dst = self.folder / f"{target}.sqlite3"
            dst.unlink(missing_ok=True)
            with sqlite3.connect(self.folder / f"{source}.sqlite3") as src, sqlite3.connect(dst) as out:
                src.backup(out)
            return self.url(target)
        self._admin(f"DROP DATABASE IF EXISTS t2j_bench_{target} WITH (FORCE)")
        self._admin(f"CREATE DATABASE t2j_bench_{target} TEMPLATE t2j_bench_{source}")
        self.created.append(target)
        return self.url(target)

    def built(self, name: str) -> dict | None:
        """What `mark_built` stored for a kept database of this backend, if it is there."""
        marker = self.folder / f"{self.backend}-{name}.json"
        return json.loads(marker.read_text()) if self.keep and marker.exists() else None

    def mark_built(self, name: str, built: dict) -> None:
        if self.keep:
            (self.folder / f"{self.backend}-{name}.json").write_text(json.dumps(built))

    def drop_all(self) -> None:
        if self.keep:  # only the copies made for imports go; the built databases stay
            self.created = [name for name in self.created if name.endswith("_import")]
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
        for name in self.created:
            try:
                self._admin(f"DROP DATABASE IF EXISTS t2j_bench_{name} WITH (FORCE)")
            except Exception as error:  # noqa: BLE001 - leave the rest dropped, say which stayed
                print(f"could not drop t2j_bench_{name}: {error}", file=sys.stderr)


def _env(url: str, data_dir: Path) -> dict:
    # Forced, not defaulted: the bench writes 100k rows and must never write them into a real database.
    return {**os.environ, "DATABASE_URL": url, "T2J_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "t2j_site.settings"}  # fmt: skip


class _Popen(subprocess.Popen):
    """Popen that reaps with os.wait4, keeping the child's own peak RSS (ru_maxrss, KB on Linux)."""

    peak_rss_mb = 0.0

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid:
            self.peak_rss_mb = usage.ru_maxrss / 1024
        return pid, status


def _run(argv: list[str], env: dict, *, quiet: bool = True) -> tuple[float, float, str]:
    """Run a subprocess; (seconds, its peak RSS in MB, stdout). Raises on a non-zero exit."""
    start = time.perf_counter()
    process = _Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode}):\n{err[-3000:]}")
    if not quiet and err.strip():
        print(err.strip(), file=sys.stderr)
    return seconds, process.peak_rss_mb, out


def _self(role: str, env: dict, *args: str) -> dict:
    _, _, out = _run([sys.executable, str(Path(__file__).resolve()), "--_role", role, *args], env, quiet=False)
    return json.loads(out.strip().splitlines()[-1])


def _manage(env: dict, *args: str) -> tuple[float, float]:
    seconds, rss, _ = _run([sys.executable, "manage.py", *args], env)
    return seconds, rss


def measure_size(size: str, dbs: Databases, runs: int, only: list[str]) -> dict:
    name = size.lower()
    data_dir = dbs.folder / f"data-{name}"
    (data_dir / "staticfiles").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
    data_dir.chmod(0o700)
    empty = f"{name}_empty"
    built = dbs.built(name)
    if built:
        env = _env(dbs.url(name), data_dir)
        start = time.perf_counter()
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(_env(dbs.url(empty), data_dir), "migrate", "--noinput", "-v", "0")  # the imports' target, kept too
        print(f"{size}: reused (migrated in {time.perf_counter() - start:.0f} s): {built['counts']}", file=sys.stderr)
    else:
        env = _env(dbs.fresh(name), data_dir)
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "createcachetable")
        dbs.copy(name, empty)
        start = time.perf_counter()
        built = _self("build", env, "--_size", size)
        print(f"{size}: built in {time.perf_counter() - start:.0f} s: {built['counts']}", file=sys.stderr)
        dbs.mark_built(name, built)
    pages = _self("pages", env, "--runs", str(runs), *(["--pages", ",".join(only)] if only else []))
    page_downloads = pages.pop("_downloads")
    if only:
        return {"counts": built["counts"], "pages": pages, "downloads": {}, "commands": {}}
    downloads = {label: _failing_softly(_self, "download", env, "--_url", url_)
                 for label, url_ in page_downloads.items()}  # fmt: skip
    commands = _commands(env, dbs, name, empty, built["t2j_system"], data_dir)
    return {"counts": built["counts"], "pages": pages, "downloads": downloads, "commands": commands}


def _commands(env: dict, dbs: Databases, name: str, empty: str, t2j_system: str, data_dir: Path) -> dict:
    jsonl, t2j, csv = data_dir / "export.jsonl", data_dir / "export.json", data_dir / "metrics.csv"
    results = {}

    def timed(label: str, command_env: dict, *args: str) -> None:
        try:
            seconds, rss = _manage(command_env, *args)
        except RuntimeError as error:
            results[label] = {"s": float("nan"), "rss_mb": float("nan"), "error": str(error)[-300:]}
            print(f"  {label}: FAILED {error}", file=sys.stderr)
            return
        results[label] = {"s": seconds, "rss_mb": rss}
        print(f"  {label}: {seconds:.1f} s, {rss:.0f} MB", file=sys.stderr)

    timed("export_dataset jsonl", env, "export_dataset", "--format", "jsonl", "--output", str(jsonl))
    timed("export_dataset t2j", env, "export_dataset", "--format", "t2j", "--system", t2j_system, "--output", str(t2j))
    for label, path in (("import_dataset jsonl", jsonl), ("import_dataset t2j", t2j)):
        target = dbs.copy(empty, f"{name}_import")
        timed(label, _env(target, data_dir), "import_dataset", str(path))
    timed("compute_metrics fixcost", env, "compute_metrics", "--metric", "fixcost")
    timed("export_metrics csv", env, "export_metrics", "--format", "csv", "--output", str(csv))
    for label, path in (("export_dataset jsonl", jsonl), ("export_dataset t2j", t2j)):
        results[label]["mb"] = path.stat().st_size / 2**20 if path.exists() else 0.0
    return results


def _failing_softly(measure, *args) -> dict:
    """A download that fails (a 500, a crash) is a row saying so, not the end of the bench."""
    try:
        return measure(*args)
    except RuntimeError as error:
        print(f"  FAILED {args[-1]}: {str(error)[-400:]}", file=sys.stderr)
        return {"s": float("nan"), "mb": 0.0, "rss_growth_mb": float("nan"), "status": "error"}


def _ratio(large: float, small: float) -> float | None:
    return large / small if small else None


def report(results: dict, sizes: list[str]) -> list[str]:
    """The three tables as text lines, with the goals judged at the largest size."""
    lines = []
    big, small = sizes[-1], sizes[0]
    compare = len(sizes) > 1
    failures = []

    def header(title: str, columns: list[str]) -> None:
        lines.append("")
        lines.append(title)
        lines.append(" | ".join(columns))

    cols = ["page", *(f"{s} q" for s in sizes), *(f"{s} first ms" for s in sizes), *(f"{s} ms" for s in sizes)]
    header("Pages (median of the runs; q = queries per request)", cols + (["L/S", "goal"] if compare else ["goal"]))
    for page in results[big]["pages"]:
        row = [page]
        cells = {s: results[s]["pages"].get(page) for s in sizes}
        row += [str(cells[s]["queries"]) if cells[s] else "-" for s in sizes]
        row += [f"{cells[s].get('first_ms', float('nan')):.0f}" if cells[s] else "-" for s in sizes]
        row += [f"{cells[s]['ms']:.0f}" if cells[s] else "-" for s in sizes]
        big_ms = cells[big]["ms"]
        if page in DOWNLOAD_PAGES:  # its output grows with the data: judged in the downloads table
            row += [f"{_ratio(big_ms, cells[small]['ms']):.1f}" if compare and cells[small] else "-"] if compare else []
            row.append("download")
            lines.append(" | ".join(row))
            continue
        ok = big_ms <= PAGE_GOAL_MS
        if compare and cells[small]:
            ratio = _ratio(big_ms, cells[small]["ms"])
            row.append(f"{ratio:.1f}")
            ok = (
                ok
                and (ratio <= PAGE_GOAL_RATIO or big_ms <= RATIO_FLOOR_MS)
                and cells[small]["queries"] == cells[big]["queries"]
            )
        elif compare:
            row.append("-")
        row.append("ok" if ok else "MISSED")
        if not ok:
            failures.append(f"page {page}")
        lines.append(" | ".join(row))

    if not results[big]["downloads"] and not results[big]["commands"]:
        lines.append("")
        lines.append("goals met" if not failures else f"goals missed: {', '.join(failures)}")
        for s in sizes:
            lines.insert(0, f"{s}: " + ", ".join(f"{n:,} {kind}" for kind, n in results[s]["counts"].items()))
        return lines
    header("Downloads (one request each, in a fresh web process)",
           ["download", *(f"{s} s" for s in sizes), *(f"{s} MB out" for s in sizes), *(f"{s} RSS+ MB" for s in sizes),
            "goal"])  # fmt: skip
    for label in results[big]["downloads"]:
        cells = {s: results[s]["downloads"].get(label) for s in sizes}
        row = [label, *(f"{cells[s]['s']:.2f}" if cells[s] else "-" for s in sizes)]
        row += [f"{cells[s]['mb']:.1f}" if cells[s] else "-" for s in sizes]
        row += [f"{cells[s]['rss_growth_mb']:.0f}" if cells[s] else "-" for s in sizes]
        ok = cells[big]["status"] == 200 and cells[big]["rss_growth_mb"] <= RSS_GOAL_MB
        row.append("ok" if ok else "MISSED")
        if not ok:
            failures.append(f"download {label}")
        lines.append(" | ".join(row))

    header("Commands (a subprocess each; peak RSS = its ru_maxrss)",
           ["command", *(f"{s} s" for s in sizes), *(f"{s} MB peak" for s in sizes)]
           + (["L/S time"] if compare else []) + ["goal"])  # fmt: skip
    for label in results[big]["commands"]:
        cells = {s: results[s]["commands"].get(label) for s in sizes}
        row = [label, *(f"{cells[s]['s']:.1f}" if cells[s] else "-" for s in sizes)]
        row += [f"{cells[s]['rss_mb']:.0f}" if cells[s] else "-" for s in sizes]
        if compare:
            ratio = _ratio(cells[big]["s"], cells[small]["s"]) if cells[small] else None
            row.append(f"{ratio:.1f}" if ratio else "-")
        if "error" in cells[big]:
            ok, goal = False, "failed"
        elif label.startswith(("export_dataset", "import_dataset")):
            ok, goal = cells[big]["rss_mb"] <= RSS_GOAL_MB, f"≤ {RSS_GOAL_MB} MB"
        elif label.startswith("compute_metrics"):
            ok, goal = cells[big]["s"] <= FIXCOST_GOAL_S, f"≤ {FIXCOST_GOAL_S} s"
        else:
            ok, goal = True, ""
        row.append(("ok " if ok else "MISSED ") + goal)
        if not ok:
            failures.append(f"command {label}")
        lines.append(" | ".join(row))
    for s in sizes:
        sizes_line = ", ".join(f"{n:,} {kind}" for kind, n in results[s]["counts"].items())
        lines.insert(0, f"{s}: {sizes_line}")
    lines.append("")
    lines.append("goals met" if not failures else f"goals missed: {', '.join(failures)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,L", help="comma-separated, from S and L (default S,L)")
    parser.add_argument("--runs", type=int, default=5, help="requests per page after one warm-up")
    parser.add_argument("--database", choices=["sqlite", "postgres"])
    parser.add_argument("--json", action="store_true", help="end with the results as one JSON line")
    parser.add_argument("--keep", type=Path, help="keep the built databases in this folder; reuse them if there")
    parser.add_argument("--pages", default="", help="only the pages whose label holds one of these words")
    parser.add_argument("--_role", help=argparse.SUPPRESS)
    parser.add_argument("--_size", help=argparse.SUPPRESS)
    parser.add_argument("--_url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._role:
        return child(args)
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    if not sizes or set(sizes) - {"S", "L"}:
        parser.error("--sizes takes S, L or S,L")
    backend = args.database or ("postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite")
    dbs = Databases(backend, args.keep.resolve() if args.keep else None)
    only = [word.strip() for word in args.pages.split(",") if word.strip()]
    results = {size: measure_size(size, dbs, args.runs, only) for size in sizes}
    print(f"bench/scale.py on {backend}, {args.runs} runs per page")
    print("\n".join(report(results, sizes)))
    if args.json:
        print(json.dumps({"database": backend, "results": results}))


# --- the children: build, pages, one download -----------------------------------------------------------


def child(args) -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    result = {"build": _child_build, "pages": _child_pages, "download": _child_download}[args._role](args)
    print(json.dumps(result))


def _child_build(args) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import datasets

    counts = datasets.build_small() if args._size == "S" else datasets.build_large()
    from django.db.models import Count

    from annotate.models import FixSession

    # T2J holds one system per sample: export the one with the most verified sessions.
    top = (
        FixSession.objects.verified().values("translation__system__name").annotate(n=Count("pk")).order_by("-n").first()
    )
    return {"counts": counts, "t2j_system": top["translation__system__name"]}


def _example_args() -> dict:
    """A URL value for each parameter, taken from the built data: a typical verified session and its pieces."""
    from django.db.models import Count

    from annotate.models import FixSession, Job, JobStatus, Translation

    sessions = FixSession.objects.verified().annotate(n=Count("steps")).order_by("-n", "pk")
    counts = list(sessions.values_list("n", flat=True))
    median = counts[len(counts) // 2]
    session = sessions.filter(n=median).select_related("translation__sample", "translation__system").first()
    translation = Translation.objects.filter(fix_sessions__isnull=True).first() or session.translation
    return {
        "key": session.translation.sample.key,
        "name": session.translation.system.name,
        "pk": Job.objects.filter(kind="metrics", status=JobStatus.DONE).order_by("-pk").first().pk,  # _finish's
        "translation_id": translation.pk,
        "session_id": session.pk,
        "step_id": session.steps.order_by("index").first().pk,
    }


def _child_pages(args) -> dict:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from annotate.roles import ADMIN, DEVELOPER, REVIEWER
    from tests.test_role_matrix import MATRIX, NOT_ROLE_CHECKED, _named_patterns

    users = {role: get_user_model().objects.get(username=name) for role, name in
             ((DEVELOPER, "dev"), (REVIEWER, "rev-new"), (ADMIN, "boss"))}  # fmt: skip
    values = _example_args()
    drafting_system = _t2j_system().name
    clients = {}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    urls: dict[str, tuple[str, str]] = {}
    for name, params in _named_patterns():
        if name in NOT_ROLE_CHECKED or MATRIX[name][0] != "get":
            continue
        allowed = MATRIX[name][1]
        role = next(r for r in (DEVELOPER, REVIEWER, ADMIN) if r in allowed)
        if set(params) - set(values):  # a page whose parameters the built data does not provide yet
            print(f"  {name}: skipped, no value for {sorted(set(params) - set(values))}", file=sys.stderr)
            continue
        # The drafting pages depend on the system's mode: the same mode (T2J) at every size, not the typical
        # session's system, which is a standard one in the demo and a T2J one at L.
        given = values | {"name": drafting_system} if name.startswith("drafting:") else values
        urls[name] = (role, reverse(name, kwargs={p: given[p] for p in params}))
    for model in admin.site._registry:
        opts = model._meta
        urls[f"admin {opts.model_name} list"] = (ADMIN, reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    urls |= _index_pages(values, users[DEVELOPER])
    # The reviewer pages again for the reviewer with the most votes (the matrix's reviewer has none): their own
    # votes are part of what the queue reads.
    busiest = _busiest_reviewer()
    if busiest is not None:
        clients[BUSY_REVIEWER] = Client()
        clients[BUSY_REVIEWER].force_login(busiest)
        for name in ("evaluate:review_compare", "evaluate:score_translation"):
            urls[f"{name} (the reviewer with the most votes)"] = (BUSY_REVIEWER, reverse(name))
    only = [word for word in args.pages.split(",") if word]
    urls = {label: target for label, target in urls.items() if not only or any(word in label for word in only)}
    results = {}
    for label, (role, url) in urls.items():
        client = clients[role]
        for cache in caches.all():  # database caches outlive a process and serve other pages: the first GET is cold
            cache.clear()
        start = time.perf_counter()
        first = client.get(url)
        _consume(first)
        # A page that takes seconds is measured once more, not `runs` times: its figure is clear enough.
        first_ms = (time.perf_counter() - start) * 1000
        runs = args.runs if first_ms < SLOW_PAGE_S * 1000 else 1
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url)
                _consume(response)
                times.append(time.perf_counter() - start)
        results[label] = {"ms": statistics.median(times) * 1000, "first_ms": first_ms, "queries": len(queries),
                          "role": role, "status": response.status_code, "first_status": first.status_code}  # fmt: skip
        print(f"  {label}: {results[label]['ms']:.0f} ms, {len(queries)} queries", file=sys.stderr)
    system = values["name"]
    results["_downloads"] = {
        "dataset jsonl": reverse("dataset:export_download") + "?format=jsonl",
        "dataset t2j": reverse("dataset:export_download") + f"?format=t2j&system={system}",
        **{
            f"{table} {fmt}": reverse("evaluate:metrics_export") + f"?table={table}&format={fmt}"
            for table in ("metrics", "comparisons", "judgements", "ranking")
            for fmt in ("csv", "json")
        },
    }
    return results


def _busiest_reviewer():
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    voters = get_user_model().objects.annotate(votes=Count("comparisons")).filter(votes__gt=0)
    return voters.order_by("-votes", "pk").first()


def _t2j_system():
    """The first T2J system (made when the data has none): the drafting pages' system at every size."""
    from annotate.models import System, SystemMode

    found = System.objects.filter(mode=SystemMode.T2J).order_by("pk").first()
    return found or System.objects.get_or_create(name="bench-t2j", defaults={"mode": SystemMode.T2J})[0]


def _index_pages(values: dict, developer) -> dict[str, tuple[str, str]]:
    """The two pages the similar-fix index serves, with work to do at every size: the T2J prompt preview of a
    T2J system for the typical session's sample, and the record-step form of the developer's open session whose
    draft failed with a real JAX error and has been edited since (its similar fixes)."""
    from django.urls import reverse

    from annotate import fixlog, runs
    from annotate.models import FixSession, Run, RunKind, RunStatus, Sample, System, SystemMode, Translation
    from annotate.roles import ADMIN, DEVELOPER

    t2j = _t2j_system()
    editing = System.objects.get_or_create(name="bench-step-form", defaults={"mode": SystemMode.STANDARD})[0]
    sample = Sample.objects.get(key=values["key"])
    draft = sample.translations.exclude(system=editing).order_by("pk").first().code
    translation = Translation.objects.get_or_create(sample=sample, system=editing, defaults={"code": draft})[0]
    session = FixSession.objects.filter(translation=translation, status="open").first()
    if session is None:
        session = fixlog.claim(translation, developer)
        Run.objects.create(
            kind=RunKind.JAX, session=session, user=developer, user_key=developer.username, code=draft,
            code_hash=runs.code_hash(draft), status=RunStatus.ERROR, exit_code=1, exception_type="TypeError",
            exception_message="dot_general requires contracting dimensions to have the same shape, got (10,) and (5,).",
            isolation="full",
        )  # fmt: skip
        edited = draft.replace("\n", "\nw = jnp.zeros((5, 1))\n", 1)
        FixSession.objects.filter(pk=session.pk).update(current_code=edited)
    preview = reverse("drafting:prompt_preview", args=[t2j.name]) + f"?sample={sample.key}"
    return {
        "index: T2J prompt preview": (ADMIN, preview),
        "index: step form similar fixes": (DEVELOPER, reverse("workspace:fix_step_new", args=[session.pk])),
    }


def _consume(response) -> int:
    """Read a response body to its end, streamed or not, keeping nothing; returns its size in bytes."""
    if response.streaming:
        size = 0
        for chunk in response.streaming_content:
            size += len(chunk)
        response.close()
        return size
    return len(response.content)


def _child_download(args) -> dict:
    import resource

    import psutil
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="boss"))
    client.get("/")  # imports and templates warm, as in a web worker that served pages before
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    response = client.get(args._url)
    size = _consume(response)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"s": seconds, "mb": size / 2**20, "rss_growth_mb": max(0, peak - before) / 2**20,
            "status": response.status_code}  # fmt: skip


if __name__ == "__main__":
    main()
