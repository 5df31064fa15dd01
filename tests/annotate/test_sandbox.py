"""Normal programs through the real sandbox: output, errors, line numbers, libraries, CLI, runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from annotate import fixlog, runs, sandbox
from annotate.models import Run
from annotate.sandbox import cache
from annotate.sandbox import pool as pool_module
from annotate.sandbox.pool import WarmPool
from annotate.sandbox.runner_token import runner_token
from annotate.sandbox.server import RunnerServer
from tests.annotate.factories import TranslationFactory, UserFactory
from tests.annotate.sandbox_support import cache_key, program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]
U = cache_key("u")

TRAIN_JAX = program("""
    import jax, jax.numpy as jnp
    @jax.jit
    def step(w, x, y):
        loss = lambda w: jnp.mean((x @ w - y) ** 2)
        return w - 0.1 * jax.grad(loss)(w)
    x = jnp.ones((8, 3)); y = jnp.ones(8); w = jnp.zeros(3)
    for _ in range(20):
        w = step(w, x, y)
    print(round(float(jnp.mean((x @ w - y) ** 2)), 4) < 0.5)
""")


def test_stdout_stderr_and_unicode_come_back(host):
    result = sandbox.run("import sys\nprint('héllo ✓ 日本')\nprint('warn', file=sys.stderr)\n", "jax", U)
    assert result.status == "ok" and result.exit_code == 0
    assert result.stdout == "héllo ✓ 日本\n"
    assert result.stderr == "warn\n"
    assert result.isolation == "full"


def test_output_written_just_before_the_end_comes_back_whole(host):
    # Several pipe buffers on each stream, the last bytes written right before the program ends.
    code = "import sys\nsys.stdout.write('o' * 300_000 + 'END')\nsys.stderr.write('e' * 300_000 + 'END')\n"
    result = sandbox.run(code, "jax", U)
    assert result.status == "ok" and not result.truncated
    assert result.stdout == "o" * 300_000 + "END"
    assert result.stderr == "e" * 300_000 + "END"


def test_exception_reports_type_message_and_user_line_numbers(host):
    code = program("""
        def inner(x):
            return x / 0

        def outer():
            return inner(1)

        outer()
    """)
    result = sandbox.run(code, "jax", U)
    assert result.status == "error" and result.exit_code == 1
    assert result.exception_type == "ZeroDivisionError"
    assert result.exception_message == "division by zero"
    assert result.traceback == [
        {"file": "main.py", "line": 7, "function": "<module>"},
        {"file": "main.py", "line": 5, "function": "outer"},
        {"file": "main.py", "line": 2, "function": "inner"},
    ]
    assert 'File "main.py", line 2, in inner' in result.stderr
    assert "boot" not in result.stderr and "<string>" not in result.stderr


def test_syntax_error_points_at_its_line(host):
    result = sandbox.run("x = 1\ny = (\n", "jax", U)
    assert result.exception_type == "SyntaxError"
    assert result.traceback[0]["file"] == "main.py" and result.traceback[0]["line"] == 2


def test_sys_exit_code_is_kept(host):
    result = sandbox.run("import sys\nsys.exit(3)\n", "jax", U)
    assert result.status == "error" and result.exit_code == 3


def test_other_modules_are_reported_as_not_installed_with_what_is(host):
    result = sandbox.run("import jaxopt\n", "jax", U)
    assert result.exception_type == "ModuleNotFoundError"
    # The runtime's own message, as it is (sandbox_runtime/t2j_runtime/imports.py).
    assert result.exception_message.startswith("jaxopt is not installed in the sandbox (installed: torch ")
    assert result.stderr.splitlines()[-1] == "ModuleNotFoundError: " + result.exception_message


def test_helper_files_are_importable_with_their_own_line_numbers(host):
    files = {"helpers/util.py": "def boom():\n    raise KeyError('k')\n", "helpers/__init__.py": ""}
    result = sandbox.run("from helpers.util import boom\nboom()\n", "jax", U, files=files)
    assert result.exception_type == "KeyError"
    assert result.traceback[-1] == {"file": "helpers/util.py", "line": 2, "function": "boom"}


def test_a_jax_training_loop_runs(host):
    result = sandbox.run(TRAIN_JAX, "jax", U, limits={"wall_s": 60})
    assert (result.status, result.stdout) == ("ok", "True\n"), result.stderr


def test_a_torch_program_runs(host):
    code = program("""
        import torch
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.ones(8, 3), torch.ones(8, 1)
        for _ in range(20):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        print(loss.item() < 0.5, torch.get_num_threads() <= 4)
    """)
    result = sandbox.run(code, "pytorch", U, limits={"wall_s": 60})
    assert (result.status, result.stdout) == ("ok", "True True\n"), result.stderr


def test_a_flax_optax_program_runs(host):
    code = program("""
        import jax, jax.numpy as jnp, optax
        from flax import linen as nn
        model = nn.Dense(1)
        params = model.init(jax.random.PRNGKey(0), jnp.ones((1, 3)))
        tx = optax.adam(0.1)
        state = tx.init(params)
        x, y = jnp.ones((8, 3)), jnp.ones((8, 1))
        loss = lambda p: jnp.mean((model.apply(p, x) - y) ** 2)
        before = float(loss(params))
        for _ in range(30):
            grads = jax.grad(loss)(params)
            updates, state = tx.update(grads, state)
            params = optax.apply_updates(params, updates)
        print(float(loss(params)) < before / 2)
    """)
    result = sandbox.run(code, "jax", U, limits={"wall_s": 60})
    assert (result.status, result.stdout) == ("ok", "True\n"), result.stderr


def test_contract_helper_package_is_importable(host):
    result = sandbox.run("import t2j_contract\nprint(t2j_contract.__version__)\n", "contract", U)
    assert result.status == "ok" and result.stdout.strip()


def test_compile_cache_is_kept_per_user_and_never_shared(host):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    peek_code = "import os\nprint(sorted(os.listdir('/tmp/jax-cache')))"
    first = runs.run(TRAIN_JAX, "jax", "alice", limits={"wall_s": 60}, user=alice)
    assert first.status == "ok", first.stderr
    # The cache is named by the key derived from Alice's id, never by her name.
    cached = sorted(p.name for p in cache.folder_for(runs.cache_key(user=alice)).iterdir())
    assert cached, "the run's compiled programs were copied out"
    assert [f.path.name for f in cache.folders()] == [runs.cache_key(user=alice)]
    # Bob's box starts with an empty cache folder: none of Alice's entries are copied in.
    assert runs.run(peek_code, "jax", "bob", user=bob).stdout == "[]\n"
    again = runs.run(peek_code, "jax", "alice", user=alice)
    assert json.loads(again.stdout.replace("'", '"')) == cached


def test_cli_json_prints_exactly_one_object(host, tmp_path, capsys):
    path = tmp_path / "prog.py"
    path.write_text("print('cli')\nraise ValueError('x')\n")
    call_command("sandbox_run", str(path), "--json")
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "status", "exit_code", "stdout", "stderr", "truncated", "stdout_truncated", "stderr_truncated",
        "exception_type", "exception_message", "traceback", "duration_s", "peak_memory_bytes", "isolation", "run_id",
    }  # fmt: skip
    assert (data["status"], data["stdout"], data["exception_type"]) == ("error", "cli\n", "ValueError")
    assert Run.objects.get(pk=data["run_id"]).user_key == "sandbox-run-cli"  # its cache: a purpose, never a user


def test_cli_json_reports_refusal_as_a_result(host, tmp_path, capsys, settings):
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    path = tmp_path / "prog.py"
    path.write_text("print(1)\n")
    call_command("sandbox_run", str(path), "--json")  # exits normally: a refusal is a result
    assert json.loads(capsys.readouterr().out)["status"] == "refused"


@pytest.fixture
def runner(sandbox_settings):
    """A runner on a free port with one warm interpreter, wired into T2J_RUNNER_URLS."""
    pool = WarmPool(1, ["jax", "jax.numpy"]).start()
    server = RunnerServer(("127.0.0.1", 0), pool)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox_settings.T2J_RUNNER_URLS = [f"http://127.0.0.1:{server.server_address[1]}"]
    assert pool.wait_until_full(90), pool.last_error
    yield pool
    server.shutdown()
    server.server_close()
    pool.stop()


def test_runner_serves_runs_from_pre_warmed_interpreters(host, runner):
    result = runs.run("import sys\nprint('jax' in sys.modules)", "jax", "u")
    assert (result.status, result.stdout, result.started_warm) == ("ok", "True\n", True)
    assert result.note.startswith("runner http://127.0.0.1:")
    assert Run.objects.get(pk=result.run_id).started_warm
    # Single use: the next run gets a fresh interpreter (its own /box), refilled in the background.
    assert runner.wait_until_full(90)
    first = sandbox.run("open('left.txt', 'w').write('x')", "jax", U)
    second = sandbox.run("import os\nprint(os.listdir('.'))", "jax", U)
    assert first.started_warm and second.started_warm and "left.txt" not in second.stdout


def _eventually(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def full_pool(host, monkeypatch):
    """A full pool of two boxes without jax (they start fast); call it with the refill grace period."""
    pools = []

    def make(grace_s: float) -> WarmPool:
        monkeypatch.setattr(pool_module, "REFILL_GRACE_S", grace_s)
        pools.append(WarmPool(2, []).start())
        assert pools[-1].wait_until_full(60), pools[-1].last_error
        return pools[-1]

    yield make
    for pool in pools:
        pool.stop()


def test_a_replacement_waits_for_the_run_it_replaces_while_another_box_is_ready(full_pool):
    pool = full_pool(grace_s=1.5)
    with pool.lend() as first:
        time.sleep(0.5)
        # One box is still ready: the running program keeps the CPU to itself.
        assert (pool.ready_count, pool.starting_count, pool.running_count) == (1, 0, 1)
        with pool.lend() as second:
            # Nothing is ready any more: the replacement starts at once.
            assert _eventually(lambda: pool.starting_count + pool.ready_count == 1)
            second.destroy()
        # A long run gets its replacement after the grace period.
        assert _eventually(lambda: pool.starting_count + pool.ready_count == 2, timeout=10)
        first.destroy()
    assert pool.running_count == 0
    assert pool.wait_until_full(60)


def test_a_replacement_starts_as_soon_as_the_run_ends(full_pool):
    pool = full_pool(grace_s=600)
    with pool.lend() as box:
        time.sleep(0.3)
        assert pool.starting_count == 0
        box.destroy()
    assert pool.wait_until_full(30)


def test_warm_runs_report_errors_like_cold_ones(host, runner):
    result = sandbox.run("x = 1\nraise RuntimeError('warm')\n", "jax", U)
    assert result.started_warm
    assert result.traceback == [{"file": "main.py", "line": 2, "function": "<module>"}]


def test_without_a_runner_it_falls_back_to_a_cold_start_and_says_so(host, sandbox_settings):
    sandbox_settings.T2J_RUNNER_URLS = ["http://127.0.0.1:9"]
    result = sandbox.run("print('cold')", "jax", U)
    assert (result.status, result.stdout, result.started_warm) == ("ok", "cold\n", False)
    assert result.note.startswith("cold start: no runner answered") and "127.0.0.1:9" in result.note


def test_runner_rejects_bad_requests_with_400_and_runs_nothing(host, runner, sandbox_settings):
    import urllib.error
    import urllib.request

    url = sandbox_settings.T2J_RUNNER_URLS[0] + "/run"
    body = json.dumps({"code": "print(1)", "kind": "jax", "files": {"../../etc/x": "eA=="}}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {runner_token()}"}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert "file name" in json.loads(caught.value.read())["error"]
    assert runner.ready_count == 1  # the warm interpreter was not used


def test_the_runner_will_not_listen_beyond_loopback_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "T2J_RUNNER_TOKEN"} | {"T2J_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "manage.py", "sandbox_server", "--bind", "0.0.0.0", "--pool-size", "0"]
    done = subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0 without T2J_RUNNER_TOKEN" in done.stderr


def test_short_runs_still_report_peak_memory(host):
    result = sandbox.run("print(1)", "jax", U)
    assert result.peak_memory_bytes > 1024**2


# --- text Python accepts but a database or a page may not (../shared/cases) ---

# ../shared/cases/bom_source.py: the file starts with a UTF-8 byte-order mark; Python runs it.
BOM_SOURCE = b"\xef\xbb\xbfimport jax.numpy as jnp\nprint(jnp.arange(3).sum())\n"
# ../shared/cases/surrogate_exception.py: an exception message holding a lone surrogate.
SURROGATE_EXCEPTION = (
    "# A program whose exception message holds a lone surrogate (Python allows it in str).\n"
    '# Expected: the run is stored and shown with status "error"; the bad character is replaced; no crash, no 500.\n'
    "import jax.numpy as jnp\n"
    "\n"
    "print(jnp.ones(2))\n"
    'raise ValueError("bad value \\ud800 in input")\n'
)


def test_the_cli_runs_a_source_with_a_byte_order_mark_as_python_does(host, tmp_path, capsys):
    path = tmp_path / "bom_source.py"
    path.write_bytes(BOM_SOURCE)

    call_command("sandbox_run", str(path), "--json")

    data = json.loads(capsys.readouterr().out)
    assert (data["status"], data["stdout"], data["exception_message"]) == ("ok", "3\n", "")


def test_the_cli_stores_and_prints_a_lone_surrogate_replaced(host, tmp_path, capsys):
    path = tmp_path / "surrogate_exception.py"
    path.write_text(SURROGATE_EXCEPTION, encoding="utf-8")

    with pytest.raises(SystemExit):  # a failed run's exit status
        call_command("sandbox_run", str(path))
    printed = capsys.readouterr()
    call_command("sandbox_run", str(path), "--json")
    data = json.loads(capsys.readouterr().out)

    assert "ValueError: bad value \\ud800 in input" in printed.err  # the program's own stderr, as Python prints it
    assert (data["status"], data["stdout"]) == ("error", "[1. 1.]\n")
    assert data["exception_message"] == "bad value \ufffd in input"
    assert Run.objects.get(pk=data["run_id"]).exception_message == "bad value \ufffd in input"
    assert data["traceback"] == [{"file": "main.py", "line": 6, "function": "<module>"}]


def test_a_surrogate_in_a_traceback_file_name_is_replaced(host):
    code = program("""
        import os, sys
        name = os.fsdecode(b"mod_\\xff.py")
        open(name, "w").write("raise KeyError('x')\\n")
        sys.path.insert(0, ".")
        __import__(name[:-3])
    """)
    result = runs.run(code, "pytorch", "u")
    run = Run.objects.get(pk=result.run_id)
    assert run.traceback[-1]["file"] == "mod_\ufffd.py"


@pytest.mark.parametrize(("source", "status", "shown"), [
    (BOM_SOURCE.decode("utf-8"), "ok", "3"),
    (SURROGATE_EXCEPTION, "error", "bad value \ufffd in input"),
])  # fmt: skip
def test_the_workspace_runs_both_cases_and_shows_them(host, developer_client, developer, source, status, shown):
    session = fixlog.claim(TranslationFactory(code="print(0)\n"), developer)
    url = reverse("workspace:run_create", args=[session.pk])

    response = developer_client.post(url, {"code": source, "version": 1, "kind": "jax"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert Run.objects.get().status == status
    assert shown in response.content.decode()
    page = developer_client.get(reverse("workspace:session_detail", args=[session.pk]))
    assert page.status_code == 200 and shown in page.content.decode()
