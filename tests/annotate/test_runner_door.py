"""The runner's door (issue 17, kind 2): a token on every request, opaque cache keys, a global cache quota."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.urls import reverse

from annotate import runs, sandbox
from annotate.models import Run
from annotate.sandbox import cache, client
from annotate.sandbox.inputs import InvalidRunInput
from annotate.sandbox.pool import WarmPool
from annotate.sandbox.result import RunResult
from annotate.sandbox.runner_token import RunnerTokenError, runner_token
from annotate.sandbox.server import RunnerServer
from tests.annotate.factories import UserFactory
from tests.annotate.fix_sessions import open_session
from tests.annotate.sandbox_support import cache_key, program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host


@pytest.fixture
def token_file(settings, tmp_path):
    """No T2J_RUNNER_TOKEN: the runner and the web side share a token file, not made yet."""
    settings.T2J_RUNNER_TOKEN = ""
    settings.T2J_RUNNER_TOKEN_FILE = tmp_path / "data" / "runner_token"
    return settings.T2J_RUNNER_TOKEN_FILE


@pytest.fixture
def caches(settings, tmp_path):
    """A private compile-cache folder with a 3,000-byte quota."""
    settings.T2J_COMPILE_CACHE_DIR = tmp_path / "compile-cache"
    settings.T2J_COMPILE_CACHE_MAX_BYTES = 3000
    return settings.T2J_COMPILE_CACHE_DIR


def _serve(server: ThreadingHTTPServer):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def runner(token_file, caches):
    """A runner without warm pools (a run that got past the door would start a cold box)."""
    server = RunnerServer(("127.0.0.1", 0), None)
    yield _serve(server)
    server.shutdown()
    server.server_close()


def _post(url: str, payload: dict, headers: dict[str, str]) -> tuple[int, dict, dict]:
    """(status, JSON body, response headers) of a POST."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def _entry(size: int) -> dict[str, str]:
    return {"jit_step-cache": base64.b64encode(os.urandom(size)).decode()}


# --- the token -------------------------------------------------------------------------------------------


def test_the_token_file_is_created_private_once_and_reused(token_file):
    token = runner_token()

    assert len(token) >= 32
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert token_file.read_text().strip() == token
    assert runner_token() == token  # the other side (or a restart) reads the same file
    assert [p.name for p in token_file.parent.iterdir()] == ["runner_token"]  # no temporary file left


def test_sides_starting_at_once_agree_on_one_token(token_file):
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(runner_token())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 16 and set(seen) == {token_file.read_text().strip()}


def test_the_web_side_sends_the_token_of_the_runner_on_this_host(token_file):
    server = RunnerServer(("127.0.0.1", 0), None)  # the runner starts first and makes the file
    try:
        assert client.token_for("http://127.0.0.1:8765") == server.token == token_file.read_text().strip()
        assert client.token_for("http://localhost:8765") == server.token
    finally:
        server.server_close()


def test_t2j_runner_token_wins_over_the_file(token_file, settings):
    settings.T2J_RUNNER_TOKEN = "x" * 40

    assert runner_token() == "x" * 40
    assert RunnerServer(("127.0.0.1", 0), None).token == "x" * 40
    assert not token_file.exists()


def test_a_runner_on_another_host_needs_t2j_runner_token_and_never_gets_the_file(token_file, settings):
    with pytest.raises(RunnerTokenError, match="T2J_RUNNER_TOKEN is required for a runner on another host"):
        client.token_for("http://10.1.2.3:8765")
    result, failures = client.run_remote(["http://10.1.2.3:8765"], {"code": "print(1)"}, 1.0)
    assert result is None and failures == [
        "http://10.1.2.3:8765: T2J_RUNNER_TOKEN is required for a runner on another host"
    ]
    assert not token_file.exists()
    settings.T2J_RUNNER_TOKEN = "y" * 40
    assert client.token_for("http://10.1.2.3:8765") == "y" * 40


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_token_file_others_can_read_is_refused(token_file, mode):
    runner_token()
    token_file.chmod(mode)

    with pytest.raises(RunnerTokenError, match=f"has mode {mode:o}.*chmod 600"):
        runner_token()


def test_a_token_file_that_is_a_link_or_empty_is_refused(token_file, tmp_path):
    token_file.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("z" * 40)
    token_file.symlink_to(elsewhere)
    with pytest.raises(RunnerTokenError, match="cannot use the runner token file"):
        runner_token()
    token_file.unlink()
    os.close(os.open(token_file, os.O_CREAT | os.O_WRONLY, 0o600))
    with pytest.raises(RunnerTokenError, match="holds no usable token"):
        runner_token()


def test_a_runner_without_a_token_cannot_be_made(token_file):
    with pytest.raises(ValueError, match="a runner needs a token"):
        RunnerServer(("127.0.0.1", 0), None, token="")


def test_a_short_t2j_runner_token_stops_the_app_at_start(tmp_path):
    env = os.environ | {"T2J_RUNNER_TOKEN": "s3cret", "T2J_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "T2J_RUNNER_TOKEN must be at least 32 characters" in done.stderr


# --- the door ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer {token}x", "Bearer {short}", "{token}", "Basic {token}"],
)
def test_a_request_without_the_valid_token_is_401(runner, authorization):
    token = runner_token()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=token, short=token[:-1])
    payload = {"code": "print(1)", "kind": "jax", "cache_key": cache_key("x")}

    status, body, answer_headers = _post(runner + "/run", payload, headers)

    assert (status, body) == (401, {"error": "a valid runner token is required"})
    assert answer_headers["WWW-Authenticate"] == "Bearer"
    assert cache.folders() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cache_key", "alice"),
        ("cache_key", "../../etc"),
        ("cache_key", hashlib.sha256(b"alice").hexdigest()[:40]),  # a folder name the old keys hashed to
        ("cache_key", "A" * 64),
        ("cache_key", "0" * 63),
        ("cache_key", 7),
        ("user_key", "alice"),  # an older web side naming the cache by the user
    ],
)
def test_a_cache_key_that_is_not_opaque_cannot_be_addressed(runner, field, value):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {runner_token()}"}

    status, body, _ = _post(runner + "/run", {"code": "print(1)", "kind": "jax", field: value}, headers)

    assert status == 400
    assert "cache_key" in body["error"]
    assert cache.folders() == []


def test_the_sandbox_refuses_a_user_name_for_a_cache(caches):
    with pytest.raises(InvalidRunInput, match="not a name"):
        sandbox.run("print(1)", "jax", "alice")
    with pytest.raises(InvalidRunInput):
        cache.load("alice")
    assert not caches.exists()


def test_health_names_no_key_and_no_token(runner):
    key = cache_key("someone")
    cache.store(key, _entry(100))

    with urllib.request.urlopen(runner + "/health", timeout=10) as answer:
        text = answer.read().decode()

    assert key not in text and runner_token() not in text
    assert set(json.loads(text)) == {
        "ok", "ready", "starting", "running", "size", "last_error", "pools", "skipped_uids",
    }  # fmt: skip


# --- the keys the web side derives ---------------------------------------------------------------------


@pytest.mark.django_db
def test_cache_keys_are_keyed_hashes_of_the_user_id_never_of_names():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    key = runs.cache_key(user=alice)

    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert key == runs.cache_key(user=alice) != runs.cache_key(user=bob)
    assert runs.cache_key(purpose="alice") not in (key, runs.cache_key(user=bob))  # a purpose is never a user
    assert key not in (hashlib.sha256(s.encode()).hexdigest() for s in ("alice", f"user:{alice.pk}"))
    with override_settings(SECRET_KEY="another-secret-key-" * 4):
        assert runs.cache_key(user=alice) != key  # nobody computes it without SECRET_KEY
    assert runs.cache_key() == ""


class _StandInRunner(BaseHTTPRequestHandler):
    """Records what the web side sends and answers like a runner."""

    requests: list[tuple[dict[str, str], dict]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append((dict(self.headers), body))
        data = json.dumps(RunResult(status="ok", exit_code=0, stdout="ran\n").as_dict()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in_runner(settings, token_file):
    _StandInRunner.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandInRunner)
    settings.T2J_RUNNER_URLS = [_serve(server)]
    yield _StandInRunner.requests
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_a_workspace_run_sends_the_token_and_the_users_opaque_key(stand_in_runner, developer, developer_client):
    session = open_session(developer)

    response = developer_client.post(
        reverse("workspace:run_create", args=[session.pk]),
        {"code": session.current_code, "version": session.version, "kind": "jax"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200 and Run.objects.get().stdout == "ran\n"
    [(headers, payload)] = stand_in_runner
    assert headers["Authorization"] == f"Bearer {runner_token()}"
    assert payload["cache_key"] == runs.cache_key(user=developer)
    assert "user_key" not in payload


@pytest.mark.django_db
def test_runs_without_a_user_use_a_purposes_key_apart_from_every_user(stand_in_runner, developer):
    runs.run("print(1)", "jax", "dev")  # a CLI or batch purpose that happens to be the user's name
    runs.run("print(1)", "jax", "dev", user=developer)

    keys = [payload["cache_key"] for _, payload in stand_in_runner]
    assert keys == [runs.cache_key(purpose="dev"), runs.cache_key(user=developer)]
    assert keys[0] != keys[1]


# --- the global quota ---------------------------------------------------------------------------------------


def test_two_keys_never_see_each_others_entries(caches):
    alice, bob = cache_key("alice"), cache_key("bob")

    assert cache.store(alice, _entry(100)) == 1

    assert list(cache.load(alice)) == ["jit_step-cache"]
    assert cache.load(bob) == {}
    assert [f.path.name for f in cache.folders()] == [alice]


def test_the_quota_deletes_the_least_recently_used_cache(caches):
    first, second, third = cache_key("first"), cache_key("second"), cache_key("third")
    cache.store(first, _entry(1000))
    cache.store(second, _entry(1000))
    cache.load(first)  # used again: now the second is the least recently used

    cache.store(third, _entry(1500))  # 3,500 bytes > 3,000

    assert [f.path.name for f in cache.folders()] == [first, third]
    assert sum(f.size_bytes for f in cache.folders()) <= 3000
    assert cache.load(second) == {}


def test_caches_named_after_user_names_are_never_read_and_go_when_room_is_needed(caches):
    old = caches / hashlib.sha256(b"alice").hexdigest()[:40]  # how caches were named before opaque keys
    old.mkdir(parents=True)
    (old / "jit_old-cache").write_bytes(b"o" * 1000)
    os.utime(old, (1e9, 1e9))  # last written long ago: nothing reads or writes it any more
    (caches / "notes").mkdir()  # not a cache: never counted, never deleted
    (caches / "notes" / "big").write_bytes(b"n" * 5000)
    key, newer = cache_key("new"), cache_key("newer")
    cache.store(key, _entry(1000))

    cache.store(newer, _entry(1500))  # 3,500 bytes > 3,000

    assert not old.exists()
    assert [f.path.name for f in cache.folders()] == [key, newer]
    assert (caches / "notes" / "big").exists()


def test_one_cache_alone_is_kept_within_the_quota(caches, settings):
    settings.T2J_COMPILE_CACHE_MAX_BYTES = 1500
    key = cache_key("big")
    entries = {f"jit_{n}-cache": base64.b64encode(b"e" * 600).decode() for n in range(4)}

    assert cache.store(key, entries) == 2

    assert [f.size_bytes for f in cache.folders()] == [1200]


def test_writers_at_once_stay_within_the_quota(caches):
    keys = [cache_key(f"writer{n}") for n in range(8)]
    threads = [threading.Thread(target=cache.store, args=(key, _entry(1000))) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [f.size_bytes for f in cache.folders()] == [1000, 1000, 1000]


# --- through the real sandbox ----------------------------------------------------------------------------

PLANT = program("""
    import os
    os.makedirs("/tmp/jax-cache", exist_ok=True)
    open("/tmp/jax-cache/jit_planted-cache", "wb").write(b"compiled")
    print("planted")
""")


@pytest.mark.sandbox
def test_a_request_without_the_token_runs_nothing(host, sandbox_settings):
    pool = WarmPool(1, ["json"]).start()  # a warm box that starts fast (no jax)
    server = RunnerServer(("127.0.0.1", 0), pool)
    url = _serve(server) + "/run"
    try:
        assert pool.wait_until_full(60), pool.last_error
        token, key = runner_token(), cache_key("intruder")
        payload = {"code": PLANT, "kind": "jax", "cache_key": key}

        for authorization in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token[:-1]}"}):
            assert _post(url, payload, authorization)[0] == 401
        assert (pool.ready_count, pool.running_count) == (1, 0)
        assert not cache.folder_for(key).exists()

        # The same request with the token runs and plants its entry: the 401s were the token's doing.
        status, body, _ = _post(url, payload, {"Authorization": f"Bearer {token}"})
        assert (status, body["stdout"], body["started_warm"]) == (200, "planted\n", True)
        assert os.listdir(cache.folder_for(key)) == ["jit_planted-cache"]
    finally:
        server.shutdown()
        server.server_close()
        pool.stop()


@pytest.mark.sandbox
@pytest.mark.django_db
def test_a_cold_start_uses_the_same_derived_key(host, sandbox_settings):
    sandbox_settings.T2J_RUNNER_URLS = ["http://127.0.0.1:9"]  # no runner answers
    alice = UserFactory(username="alice")

    result = runs.run(PLANT, "jax", "alice", user=alice)

    assert result.stdout == "planted\n" and result.note.startswith("cold start: no runner answered")
    assert [f.path.name for f in cache.folders()] == [runs.cache_key(user=alice)]
