"""The production layout on several hosts (README "Production: several hosts", issue 19): PostgreSQL, the web
process (gunicorn, as Procfile.production runs it), a sandbox runner and two task workers, each in its own
network namespace (tests/multihost/lab.py), with the people and the LLM endpoint in the root namespace.

Over HTTP only, a developer claims a demo draft, runs it (on the runner: the web host has no sandbox), records
a fix step and verifies by contract; an admin starts a drafting job, its worker is killed mid-job (SIGKILL)
and the other worker's heartbeat takes it for lost after three heartbeats of 1 s, re-queues the job once and
resumes it to the end. The database is read (psycopg, through the bridge) only to check what happened.

Needs root, `ip netns`, PostgreSQL's server binaries and the sandbox; off CI it skips, loudly, without them.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.annotate.sandbox_support import require_sandbox
from tests.multihost.lab import Lab, LabError, netns_problem

pytestmark = [pytest.mark.multihost, pytest.mark.sandbox]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's python, gunicorn
HEARTBEAT_S = 1.0
LOST_AFTER_BEATS = 3  # annotate.models.Worker.LOST_AFTER_BEATS, restated: the lab's processes are the ones under test
RUNNER_PORT, WEB_PORT, DB_PORT = 8765, 8000, 5432
JAX_DRAFT = "import jax\nimport jax.numpy as jnp\n\nprint(jnp.ones(2).sum())\n"


def require_lab() -> None:
    """Skip loudly off CI without what the lab needs; under CI=true a missing piece fails the test."""
    require_sandbox()
    missing = [problem for problem in [netns_problem()] if problem]
    missing += [f"`{tool}`" for tool in ("initdb", "postgres", "setpriv") if not _postgres_tool(tool)]
    if missing:
        message = "MULTI-HOST TEST NOT RUN: " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _postgres_tool(name: str) -> str | None:
    # Debian keeps the server binaries out of PATH, in /usr/lib/postgresql/<version>/bin.
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


# --- the LLM endpoint: an OpenAI-compatible server in the test, reached by the workers through the bridge -----


@dataclass
class HeldLLM:
    """Answers every chat request with a JAX program, except that it holds the first one until `release`."""

    server: HTTPServer
    release: threading.Event = field(default_factory=threading.Event)
    first_called: threading.Event = field(default_factory=threading.Event)
    requests: list[str] = field(default_factory=list)  # the model of each request, in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self._lock:
            first = not self.requests
            self.requests.append(json.loads(request.get_data()).get("model", ""))
        if first:
            self.first_called.set()
            self.release.wait(90)
        content = f"Here is the JAX version:\n\n```python\n{JAX_DRAFT}```\n"
        body = {
            "id": "chatcmpl-lab", "object": "chat.completion", "created": 1, "model": "lab-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }  # fmt: skip
        return Response(json.dumps(body), content_type="application/json")


# --- the hosts ---------------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    lab: Lab
    folder: Path
    database_url: str
    llm: HeldLLM
    password: str  # the demo users' (dev, rev, boss)
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # worker id -> its process

    def address(self, host: str) -> str:
        return self.lab.hosts[host].address

    @property
    def web(self) -> str:
        return f"http://{self.address('web')}:{WEB_PORT}"

    def sql(self, query: str, *args) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return connection.execute(query, args).fetchall()

    def log(self, host: str) -> str:
        path = self.folder / f"{host}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def wait_for(condition: Callable[[], object], *, timeout_s: float, what: str, cluster: Cluster | None = None,
             hosts: tuple[str, ...] = ()):  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    logs = "".join(f"\n--- {host}.log ---\n{cluster.log(host)}" for host in hosts) if cluster else ""
    pytest.fail(f"not within {timeout_s:g} s: {what}{logs}")


def _env(cluster_folder: Path, host: str, settings: dict[str, str]) -> dict[str, str]:
    # Nothing of the test run's own configuration leaks into the hosts (its database, its settings module).
    own = ("T2J_", "DJANGO_", "OPENAI_", "DATABASE_URL", "PYTEST")
    env = {key: value for key, value in os.environ.items() if not key.startswith(own)}
    data = cluster_folder / f"{host}-data"
    data.mkdir(exist_ok=True)
    return {**env, "PYTHONUNBUFFERED": "1", "T2J_DATA_DIR": str(data), **settings}


def _start_postgres(lab: Lab, folder: Path) -> str:
    """A throw-away cluster owned by postgres, listening only on the db host's address; the app's DATABASE_URL."""
    password = secrets.token_urlsafe(16)
    pgdata, password_file = folder / "pgdata", folder / "pg-password"
    pgdata.mkdir()
    password_file.write_text(password)
    shutil.chown(pgdata, "postgres", "postgres")
    shutil.chown(password_file, "postgres", "postgres")
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    subprocess.run(
        [*as_postgres, _postgres_tool("initdb"), "-D", str(pgdata), "-U", "postgres", "-E", "UTF8", "--no-sync",
         "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    with open(pgdata / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {lab.subnet} scram-sha-256\n")
    address = lab.hosts["db"].address
    lab.spawn(
        "db",
        [*as_postgres, _postgres_tool("postgres"), "-D", str(pgdata), "-p", str(DB_PORT), "-c",
         f"listen_addresses={address}", "-c", f"unix_socket_directories={pgdata}", "-c", "fsync=off"],
        env=env, log=folder / "db.log", cwd=folder,
    )  # fmt: skip
    admin_url = f"postgresql://postgres:{password}@{address}:{DB_PORT}/postgres"

    def ready() -> bool:
        try:
            psycopg.connect(admin_url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    deadline = time.monotonic() + 60
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL did not start:\n{(folder / 'db.log').read_text()}")
        time.sleep(0.2)
    app_password = secrets.token_urlsafe(16)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE t2j LOGIN PASSWORD '{app_password}'")
        connection.execute("CREATE DATABASE t2j OWNER t2j")
    return f"postgres://t2j:{app_password}@{address}:{DB_PORT}/t2j"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_lab()
    folder = Path(tempfile.mkdtemp(prefix="t2j-multihost-"))
    folder.chmod(0o755)  # postgres reads its data folder inside
    try:
        with Lab() as lab:
            yield from _cluster(lab, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cluster(lab: Lab, folder: Path) -> Iterator[Cluster]:
    for host in ("db", "web", "runner", "worker-a", "worker-b"):
        lab.add_host(host)
    database_url = _start_postgres(lab, folder)
    llm = HeldLLM(HTTPServer(host=lab.gateway, port=0, threaded=True))
    llm.server.expect_request("/v1/chat/completions").respond_with_handler(llm.handle)
    llm.server.start()
    try:
        demo_password = secrets.token_urlsafe(12)
        token = secrets.token_urlsafe(24)
        shared = {
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "T2J_RUNNER_URLS": f"http://{lab.hosts['runner'].address}:{RUNNER_PORT}",
            "T2J_RUNNER_TOKEN": token,
            "T2J_TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "OPENAI_BASE_URL": f"http://{lab.gateway}:{llm.server.port}/v1",
            "OPENAI_API_KEY": "lab-key",
            "OPENAI_MODEL": "lab-model",
        }
        cluster = Cluster(lab, folder, database_url, llm, demo_password)
        # The runner first: its warm pools take longest. Only the pools this test uses (JAX runs, contracts).
        lab.spawn(
            "runner",
            [str(BIN / "python"), "manage.py", "sandbox_server", "--bind", lab.hosts["runner"].address,
             "--pool-size", "1", "--pytorch-pool-size", "0", "--contract-pool-size", "1"],
            env=_env(folder, "runner", {"T2J_RUNNER_TOKEN": token}), log=folder / "runner.log", cwd=REPO,
        )  # fmt: skip
        # The web host has no sandbox of its own (no bubblewrap): every run it stores came from the runner.
        web_env = _env(folder, "web", {
            **shared, "DJANGO_ALLOWED_HOSTS": lab.hosts["web"].address, "T2J_SANDBOX_BWRAP": "/nonexistent/bwrap",
            "T2J_DEMO_PASSWORD": demo_password, "HOST": lab.hosts["web"].address, "PORT": str(WEB_PORT),
            "WEB_CONCURRENCY": "1", "T2J_WEB_THREADS": "4",
        })  # fmt: skip
        lab.run("web", [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"], env=web_env, cwd=REPO)
        lab.run("web", [str(BIN / "python"), "manage.py", "load_demo"], env=web_env, cwd=REPO)
        lab.spawn("web", [str(BIN / "gunicorn"), "-c", "t2j_site/gunicorn.py", "t2j_site.wsgi"], env=web_env,
                  log=folder / "web.log", cwd=REPO)  # fmt: skip
        for host in ("worker-a", "worker-b"):
            worker_id = f"lab-{host}"
            worker_env = _env(folder, host, {
                **shared, "T2J_WORKER_HEARTBEAT_S": str(HEARTBEAT_S), "T2J_LLM_MAX_RETRIES": "0",
                "T2J_LLM_TIMEOUT_S": "120", "T2J_LLM_CONCURRENCY": "1",
            })  # fmt: skip
            cluster.workers[worker_id] = lab.spawn(
                host,
                [str(BIN / "python"), "manage.py", "run_worker", "--no-reload", "--no-startup-delay",
                 "--interval", "0.2", "--worker-id", worker_id],
                env=worker_env, log=folder / f"{host}.log", cwd=REPO,
            )  # fmt: skip
        hosts = ("web", "runner", "worker-a", "worker-b")
        wait_for(lambda: _answers(f"{cluster.web}/accounts/login/"), timeout_s=60, what="the web host answers",
                 cluster=cluster, hosts=hosts)  # fmt: skip
        wait_for(lambda: cluster.sql("SELECT count(*) FROM annotate_worker WHERE stopped_at IS NULL")[0][0] == 2,
                 timeout_s=60, what="both workers beat", cluster=cluster, hosts=hosts)  # fmt: skip
        wait_for(lambda: "sandbox runner on" in cluster.log("runner"), timeout_s=120, what="the runner serves",
                 cluster=cluster, hosts=hosts)  # fmt: skip
        yield cluster
    finally:
        llm.release.set()
        llm.server.clear()
        if llm.server.is_running():
            llm.server.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def logged_in(cluster: Cluster, username: str) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{cluster.web}/accounts/login/", timeout=10).raise_for_status()
    answer = browser.post(
        f"{cluster.web}/accounts/login/",
        data={"username": username, "password": cluster.password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 302, f"{username} could not log in ({answer.status_code})"
    return browser


def post(browser: requests.Session, url: str, data: dict, *, timeout_s: float = 30) -> requests.Response:
    """A form POST as the browser sends it (CSRF token from the cookie); redirects are not followed."""
    answer = browser.post(
        url, data={**data, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}, allow_redirects=False,
        timeout=timeout_s,
    )  # fmt: skip
    assert answer.status_code in (200, 302), f"POST {url}: {answer.status_code}\n{answer.text[:2000]}"
    return answer


# --- the tests -------------------------------------------------------------------------------------------------


def test_each_host_reaches_the_lab_only_and_postgres_listens_on_its_own_address(cluster):
    for host in cluster.lab.hosts:
        routes = cluster.lab.routes(host)
        assert not [route for route in routes if route.startswith("default")], (host, routes)
    listen = cluster.sql("SELECT setting FROM pg_settings WHERE name = 'listen_addresses'")[0][0]
    assert listen == cluster.address("db")
    # Not on the db host's loopback either: only its lab address.
    probe = f"import socket; socket.create_connection(('127.0.0.1', {DB_PORT}), timeout=2)"
    with pytest.raises(LabError, match="ConnectionRefusedError"):
        cluster.lab.run("db", [str(BIN / "python"), "-c", probe], env={"PATH": os.environ["PATH"]}, cwd=REPO)


def test_a_developer_claims_runs_records_a_step_and_verifies_across_hosts(cluster):
    (translation_id,) = cluster.sql(
        "SELECT t.id FROM annotate_translation t JOIN annotate_sample s ON s.id = t.sample_id "
        "JOIN annotate_system y ON y.id = t.system_id WHERE s.key = 'lstm' AND y.name = 'weak-llm'"
    )[0]
    browser = logged_in(cluster, "dev")
    queue = browser.get(f"{cluster.web}/work/", timeout=30)
    assert queue.status_code == 200 and f'id="translation-{translation_id}"' in queue.text

    claimed = post(browser, f"{cluster.web}/work/translations/{translation_id}/claim/", {})
    session_id = int(re.search(r"/work/sessions/(\d+)/", claimed.headers["Location"]).group(1))
    page = browser.get(f"{cluster.web}/work/sessions/{session_id}/", timeout=30).text
    draft = html.unescape(re.search(r'<textarea name="code" id="code"[^>]*>\n?(.*?)</textarea>', page, re.S).group(1))
    version = re.search(r'name="version" id="version" value="(\d+)"', page).group(1)

    post(browser, f"{cluster.web}/work/sessions/{session_id}/run/", {"code": draft, "version": version, "kind": "jax"},
         timeout_s=180)  # fmt: skip
    run_id, status, output, warm = cluster.sql(
        "SELECT id, status, stderr || exception_message, started_warm FROM annotate_run "
        "WHERE session_id = %s AND kind = 'jax'", session_id,
    )[0]  # fmt: skip
    # The web host cannot sandbox: this run crossed to the runner host, into one of its warm interpreters.
    assert warm, (status, output, cluster.log("web"))
    assert "unexpected PRNG key type" in output, (status, output)
    assert "unexpected PRNG key type" in html.unescape(browser.get(f"{cluster.web}/work/sessions/{session_id}/").text)

    fixed = (REPO / "fixtures/demo/lstm/fixed.py").read_text()
    post(browser, f"{cluster.web}/work/sessions/{session_id}/save/", {"code": fixed, "version": version})
    post(browser, f"{cluster.web}/work/sessions/{session_id}/steps/", {
        "run": run_id, "error": "TypeError: unexpected PRNG key type", "error_code": "key = 0",
        "fixed_code": "key = jax.random.PRNGKey(0)", "fix_info": "Split a real PRNG key.", "category": "",
    })  # fmt: skip
    steps = cluster.sql("SELECT run_id, code_after FROM annotate_fixstep WHERE session_id = %s", session_id)
    assert steps == [(run_id, fixed)]

    post(browser, f"{cluster.web}/work/sessions/{session_id}/verify/", {}, timeout_s=240)
    status, verification = cluster.sql(
        "SELECT status, verification FROM annotate_fixsession WHERE id = %s", session_id
    )[0]
    assert status == "verified", (verification, cluster.log("web"))
    assert verification["method"] == "contract"
    assert [stage["status"] for stage in verification["stages"]] == ["passed"] * 3
    assert "FixCost 1" in browser.get(f"{cluster.web}/work/sessions/{session_id}/", timeout=30).text


def test_a_drafting_job_whose_worker_is_killed_is_requeued_once_and_finished_by_the_other_worker(cluster):
    left = cluster.sql(
        "SELECT count(*) FROM annotate_sample s WHERE NOT EXISTS (SELECT 1 FROM annotate_translation t "
        "JOIN annotate_system y ON y.id = t.system_id WHERE t.sample_id = s.id AND y.name = 't2j-llm')"
    )[0][0]
    assert left > 1  # several samples: the job is killed on its first
    admin = logged_in(cluster, "boss")
    started = post(admin, f"{cluster.web}/drafting/systems/t2j-llm/draft/", {})
    assert started.status_code == 302
    (job_id,) = cluster.sql("SELECT id FROM annotate_job WHERE kind = 'draft'")[0]

    def running_on() -> str | None:
        rows = cluster.sql("SELECT status, worker_id FROM annotate_job WHERE id = %s", job_id)
        return rows[0][1] if rows[0][0] == "running" and cluster.llm.first_called.is_set() else None

    doomed = wait_for(running_on, timeout_s=60, what="a worker began the job and called the LLM", cluster=cluster,
                      hosts=("worker-a", "worker-b"))  # fmt: skip
    (survivor,) = set(cluster.workers) - {doomed}
    cluster.workers[doomed].send_signal(signal.SIGKILL)  # the worker process itself, mid-job
    cluster.workers[doomed].wait(timeout=10)
    killed_at = time.monotonic()
    cluster.llm.release.set()  # the held answer goes to a closed connection

    def requeued() -> tuple | None:
        rows = cluster.sql("SELECT attempt, params, worker_id, status FROM annotate_job WHERE id = %s", job_id)
        return rows[0] if rows[0][0] == 2 else None

    attempt, params, _, _ = wait_for(requeued, timeout_s=(LOST_AFTER_BEATS + 1) * HEARTBEAT_S + 5,
                                     what="the survivor's heartbeat re-queued the job", cluster=cluster,
                                     hosts=(survivor.removeprefix("lab-"),))  # fmt: skip
    # Three heartbeats of silence, less the part of one that had passed when it died.
    assert time.monotonic() - killed_at >= (LOST_AFTER_BEATS - 1) * HEARTBEAT_S
    assert params["worker_lost"][0].startswith(f"Worker lost: the worker {doomed} (")

    def finished() -> tuple | None:
        row = cluster.sql("SELECT status, worker_id, attempt, done, failed, total, message FROM annotate_job "
                          "WHERE id = %s", job_id)[0]  # fmt: skip
        return row if row[0] not in ("queued", "running") else None

    status, worker_id, attempt, done, failed, total, message = wait_for(
        finished, timeout_s=90, what="the job finished", cluster=cluster, hosts=(survivor.removeprefix("lab-"),)
    )
    assert (status, worker_id, attempt) == ("done", survivor, 2), message
    assert (done, failed, total) == (left, 0, left)
    drafts = cluster.sql(
        "SELECT t.draft_status, t.code FROM annotate_translation t JOIN annotate_system y ON y.id = t.system_id "
        "WHERE y.name = 't2j-llm' AND t.drafted_at IS NOT NULL AND t.raw_answer LIKE '%%JAX version%%'"
    )
    assert drafts == [("ok", JAX_DRAFT)] * left
    (claims,) = cluster.sql(
        "SELECT r.worker_ids FROM django_tasks_database_dbtaskresult r WHERE r.status = 'SUCCESSFUL' AND "
        "r.args_kwargs -> 'args' ->> 0 = %s", str(job_id),
    )[0]  # fmt: skip
    assert claims == [doomed, survivor]  # one queue row, claimed twice
    assert len(cluster.llm.requests) == left + 1  # the killed worker's one call, then one per sample
    page = admin.get(f"{cluster.web}/drafting/systems/t2j-llm/", timeout=30)
    assert page.status_code == 200 and "done" in page.text
