"""Stopping a run on request (issue 18): the cancel key of a job, the in-process registry, the runner's /cancel door,
and a real box stopped in the middle of a busy loop."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from annotate import runs, sandbox
from annotate.sandbox import cancel, inputs
from annotate.sandbox.server import RunnerServer
from tests.annotate.fix_sessions import open_session
from tests.annotate.sandbox_support import program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

KEY = "ab" * 32


def test_a_cancel_key_is_opaque_or_empty():
    assert inputs.check_cancel_key("") == "" and inputs.check_cancel_key(KEY) == KEY
    for bad in ("dev", KEY.upper(), KEY[:-1], None, 7):
        with pytest.raises(inputs.InvalidRunInput, match="cancel_key"):
            inputs.check_cancel_key(bad)
    payload = inputs.make_job("print(1)", "jax", "", cancel_key=KEY).as_payload()
    assert inputs.job_from_payload(payload).cancel_key == KEY


def test_stop_sets_the_flag_of_each_run_of_its_key_only():
    with cancel.watching(KEY) as first, cancel.watching(KEY) as second, cancel.watching("cd" * 32) as other:
        assert cancel.stop(KEY) == 2
        assert first.is_set() and second.is_set() and not other.is_set()
    # Once the runs ended, their key stops nothing (and leaves nothing behind).
    assert cancel.stop(KEY) == 0 and KEY not in cancel._flags


def test_a_run_without_a_key_cannot_be_stopped():
    with cancel.watching("") as flag:
        assert cancel.stop("") == 0 and not flag.is_set()


@pytest.mark.django_db
def test_the_key_is_per_session_and_user(developer, admin_user, settings):
    settings.T2J_RUNNER_URLS = []
    session = open_session(developer)
    mine, admins = runs.cancel_key(session, developer), runs.cancel_key(session, admin_user)
    assert inputs.check_cancel_key(mine) == mine and mine != admins  # opaque: 64 hex digits, per user
    assert runs.cancel_key(None, developer) == "" and runs.cancel_key(session, None) == ""
    with cancel.watching(mine) as flag:
        assert runs.stop(session, admin_user) == 0 and not flag.is_set()
        assert runs.stop(session, developer) == 1 and flag.is_set()


@pytest.fixture
def runner(settings, tmp_path):
    settings.T2J_RUNNER_TOKEN = "runner-token-for-cancel-tests"
    server = RunnerServer(("127.0.0.1", 0), None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(url: str, body: object, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + "/cancel", data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_runners_cancel_door_needs_the_token_and_a_key(runner, settings):
    token = settings.T2J_RUNNER_TOKEN
    with cancel.watching(KEY) as flag:
        assert _post(runner, {"cancel_key": KEY}, None)[0] == 401
        assert _post(runner, {"cancel_key": KEY}, "wrong")[0] == 401
        assert not flag.is_set()
        status, answer = _post(runner, {"cancel_key": "dev"}, token)
        assert status == 400 and "cancel_key" in answer["error"]
        assert _post(runner, {}, token)[0] == 400
        assert _post(runner, {"cancel_key": KEY}, token) == (200, {"stopped": 1})
        assert flag.is_set()


def test_sandbox_stop_reaches_the_runners(runner, settings):
    settings.T2J_RUNNER_URLS = [runner, "http://127.0.0.1:9"]  # the second answers nothing: counted as 0
    with cancel.watching(KEY) as flag:
        # Here (the registry of this process, which the test runner shares) and through the runner's door.
        assert sandbox.stop(KEY) == 2 and flag.is_set()


@pytest.mark.sandbox
def test_a_busy_loop_is_stopped_on_request_and_reported_as_stopped(host):
    code = program(
        """
        print("started", flush=True)
        while True:
            pass
        """
    )
    results = []
    thread = threading.Thread(target=lambda: results.append(sandbox.run(code, "pytorch", "", cancel_key=KEY)))
    thread.start()
    deadline = time.monotonic() + 90
    while not cancel.stop(KEY):  # asked again until the run is in flight, as the page's Stop button does
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.2)
    stopped_at = time.monotonic()
    thread.join(60)

    (result,) = results
    assert (result.status, result.exception_message) == ("killed", sandbox.STOPPED_MESSAGE)
    assert time.monotonic() - stopped_at < 15  # killed at once, far from its wall limit
    assert result.duration_s < result.limits["wall_s"]
