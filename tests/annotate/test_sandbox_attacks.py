"""RELIABILITY.md sandbox cases 1-22, run against the real sandbox; each checks the host is unchanged."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from django.conf import settings

from annotate import runs, sandbox
from annotate.models import Run
from annotate.sandbox import cache
from tests.annotate.sandbox_support import cache_key, program

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db]

GRACE_S = 3.0  # start-up and teardown on top of a limit, on a loaded 2-core machine
SMALL = {"wall_s": 3}
U = cache_key("u")


def test_busy_loop_is_killed_at_the_wall_limit(host):
    result = sandbox.run("while True:\n    pass\n", "jax", U, limits={"wall_s": 1.5})
    assert result.status == "timeout"
    assert result.duration_s < 1.5 + GRACE_S


def test_cpu_limit_kills_a_busy_loop_as_timeout(host):
    result = sandbox.run("while True:\n    pass\n", "jax", U, limits={"cpu_s": 1, "wall_s": 20})
    assert result.status == "timeout"
    assert result.duration_s < 1 + GRACE_S + 2


def test_ignoring_sigxcpu_still_ends_as_a_timeout_at_the_cpu_limit(host):
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = sandbox.run(code, "jax", U, limits={"cpu_s": 1, "wall_s": 20})
    assert result.status == "timeout"
    assert result.duration_s < 1 + GRACE_S + 2


def test_the_cpu_limit_counts_the_whole_process_tree(host):
    # Each child stays under the per-process limit; together they exceed it.
    code = program("""
        import subprocess, sys
        burn = "import time\\nwhile time.process_time() < 0.8:\\n    pass\\n"
        for _ in range(4):
            subprocess.run([sys.executable, "-c", burn], check=True)
        print("all children finished")
    """)
    result = sandbox.run(code, "jax", U, limits={"cpu_s": 2, "wall_s": 20})
    assert result.status == "timeout"
    assert "all children finished" not in result.stdout


def test_sleeper_is_killed_by_the_wall_clock(host):
    result = sandbox.run("import time\ntime.sleep(3600)\n", "jax", U, limits={"wall_s": 1.5})
    assert result.status == "timeout"
    assert result.duration_s < 1.5 + GRACE_S


def test_memory_bomb_over_the_tree_bound_is_killed(host):
    limit = 300 * 1024**2
    code = f"b = b' ' * ({limit} + 1024**2)\nimport time\ntime.sleep(30)\n"
    result = sandbox.run(code, "jax", U, limits={"memory_bytes": limit, "wall_s": 10})
    assert result.status == "memory"
    assert result.duration_s < 10


def test_memory_bomb_over_the_address_space_gets_memory_error(host):
    limit = 1024**3
    result = sandbox.run(f"b = b' ' * {limit + 1024**2}\n", "jax", U, limits={"address_space_bytes": limit})
    assert result.status == "memory"
    assert result.exception_type == "MemoryError"


def test_split_memory_across_children_is_bounded_for_the_whole_tree(host):
    limit = 400 * 1024**2
    code = program(f"""
        import multiprocessing, time
        def hog():
            block = bytearray({int(limit * 0.6)})
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(60)
        if __name__ == "__main__":
            children = [multiprocessing.Process(target=hog) for _ in range(2)]
            for child in children:
                child.start()
            for child in children:
                child.join()
    """)
    result = sandbox.run(code, "jax", U, limits={"memory_bytes": limit, "wall_s": 15})
    assert result.status == "memory"
    assert result.peak_memory_bytes > limit


def test_fork_bomb_hits_the_process_limit(host):
    code = program("""
        import os
        while True:
            os.fork()
    """)
    result = sandbox.run(code, "jax", U, limits={"nproc": 32, "wall_s": 5})
    assert result.status in ("error", "timeout")
    assert "Resource temporarily unavailable" in result.stderr


def test_spawning_more_processes_than_allowed_fails_with_eagain(host):
    code = program("""
        import subprocess
        children = []
        try:
            for _ in range(40):
                children.append(subprocess.Popen(["sleep", "30"]))
        except OSError as exc:
            print("stopped after", len(children), exc)
    """)
    result = sandbox.run(code, "jax", U, limits={"nproc": 16, "wall_s": 5})
    assert "Resource temporarily unavailable" in result.stdout
    assert int(result.stdout.split()[2]) < 16


def test_thread_storm_is_capped(host):
    code = program("""
        import threading, time
        started = 0
        try:
            for _ in range(1000):
                threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
                started += 1
        except RuntimeError as exc:
            print("capped at", started, exc)
    """)
    result = sandbox.run(code, "jax", U, limits={"nproc": 64, "wall_s": 10})
    assert result.stdout.startswith("capped at")
    assert int(result.stdout.split()[2]) < 64


def test_thread_caps_are_set_for_blas_and_xla(host):
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    code = f"import os, json\nprint(json.dumps([os.environ.get(k) for k in {names!r}]))"
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert all(1 <= int(cap) <= 4 for cap in json.loads(result.stdout))


def test_output_flood_is_truncated_and_killed(host):
    cap = 64 * 1024
    result = runs.run("while True:\n    print('x' * 1000)\n", "jax", "u", limits={"output_bytes": cap, "wall_s": 10})
    assert result.status == "output-limit"
    assert result.stdout_truncated
    assert len(result.stdout.encode()) <= cap
    stored = Run.objects.get(pk=result.run_id)
    assert len(stored.stdout) <= cap and stored.stdout_truncated


def test_disk_fill_and_sparse_giant_fail_inside_the_box(host):
    code = program("""
        import os
        try:
            with open("fill", "wb") as handle:
                while True:
                    handle.write(b"x" * 1024 * 1024)
        except OSError as exc:
            print("fill:", exc.strerror)
        try:
            with open("sparse", "wb") as handle:
                os.truncate(handle.fileno(), 1 << 40)
        except OSError as exc:
            print("sparse:", exc.strerror)
    """)
    result = sandbox.run(code, "jax", U, limits={"disk_bytes": 16 * 1024**2, "wall_s": 10})
    assert "fill: No space left on device" in result.stdout
    assert "sparse: File too large" in result.stdout


def test_writes_outside_the_workdir_fail(host):
    targets = ["/x", "/etc/x", "/usr/x", str(settings.BASE_DIR / "x"), str(host.sentinel), str(settings.DATA_DIR / "x")]
    code = program(f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("pwned")
                print("WROTE", path)
            except OSError as exc:
                print("denied", path, type(exc).__name__)
    """)
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert "WROTE" not in result.stdout
    assert result.stdout.count("denied") == len(targets)
    assert not (settings.BASE_DIR / "x").exists()


def test_host_secrets_are_not_readable(host):
    targets = ["/etc/passwd", "/etc/shadow", str(settings.BASE_DIR / "t2j_site" / "settings.py"),
               str(host.sentinel), "/root/.ssh/id_rsa", "/proc/1/environ"]  # fmt: skip
    code = program(f"""
        for path in {targets!r}:
            try:
                data = open(path, "rb").read()
                print("READ", path, len(data))
            except OSError as exc:
                print("denied", path, type(exc).__name__)
    """)
    result = sandbox.run(code, "jax", U, limits=SMALL)
    # /proc/1 is the box's own init: readable is fine only if it is not the host's.
    assert [line for line in result.stdout.splitlines() if line.startswith("READ") and "/proc/1/" not in line] == []


def test_environment_secrets_do_not_leak(host, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "sentinel-secret-4711")
    monkeypatch.setenv("DATABASE_URL", "postgres://sentinel-4711@db/x")
    result = sandbox.run("import os\nprint(dict(os.environ))\nprint(open('/proc/1/environ','rb').read())", "jax", U)
    assert "4711" not in result.stdout + result.stderr


def test_network_egress_fails_fast(host):
    code = program("""
        import socket, urllib.request
        for url in ["http://1.1.1.1/", "http://127.0.0.1:8000/", "http://169.254.169.254/latest/meta-data/"]:
            try:
                urllib.request.urlopen(url, timeout=5)
                print("REACHED", url)
            except OSError as exc:
                print("blocked", url)
        try:
            socket.create_connection(("8.8.8.8", 53), timeout=5)
            print("REACHED raw")
        except OSError:
            print("blocked raw")
    """)
    result = sandbox.run(code, "jax", U, limits={"wall_s": 10})
    assert "REACHED" not in result.stdout
    assert result.stdout.count("blocked") == 4
    assert result.duration_s < 3


def test_proc_shows_only_the_box(host):
    code = program("""
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids)
        print(open("/proc/1/cmdline", "rb").read())
    """)
    result = sandbox.run(code, "jax", U, limits=SMALL)
    pids = json.loads(result.stdout.splitlines()[0])
    assert max(pids) < 10
    assert b"process_api" not in result.stdout.encode() and "manage.py" not in result.stdout


@pytest.mark.parametrize(
    "code",
    ["import os\nos.kill(os.getppid(), 9)\nos.killpg(0, 9)\n", "import os\nos.killpg(0, 9)\n"],
    ids=["parent-then-group", "own-group"],
)
def test_killing_the_parent_only_ends_the_run(host, code):
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert result.status == "killed" and result.duration_s < 3
    # The test process (standing in for Django and the runner) is still here and can run again.
    assert sandbox.run("print('alive')", "jax", U).stdout == "alive\n"


def test_kill_minus_one_reaches_only_the_box(host):
    code = "import os, subprocess\nchild = subprocess.Popen(['sleep', '30'])\nos.kill(-1, 9)\nprint(child.wait())\n"
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert result.stdout == "-9\n"
    assert sandbox.run("print('alive')", "jax", U).stdout == "alive\n"


def test_orphan_daemon_does_not_outlive_the_run(host):
    code = program("""
        import os, signal, time
        if os.fork() == 0:
            os.setsid()
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        time.sleep(0.3)
        print("parent done")
    """)
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert result.status == "ok"
    assert result.duration_s < 3
    # `host` asserts no process of any sandbox uid is left, zombies included.


def test_ignoring_signals_does_not_escape_the_timeout(host):
    code = program("""
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """)
    result = sandbox.run(code, "jax", U, limits={"wall_s": 1.5})
    assert result.status == "timeout"
    assert result.duration_s < 1.5 + GRACE_S


def test_guard_bypass_is_harmless_because_isolation_is_in_the_os(host):
    marker = settings.BASE_DIR / "var" / "sandbox-pwned"
    code = program(f"""
        import posix
        posix.system("id -u > /box/uid.txt; touch {marker}")
        wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"][0]
        wrap.__init__.__globals__["system"]("touch {marker}")
        print(open("/box/uid.txt").read().strip())
    """)
    result = sandbox.run(code, "jax", U, limits=SMALL)
    assert result.stdout.strip() == str(int(result.stdout.strip()))  # ran, as some uid
    assert int(result.stdout.strip()) >= settings.T2J_SANDBOX_UID_BASE
    assert not marker.exists()


def test_planted_symlinks_are_never_followed_by_the_cache_collector(host, sandbox_settings):
    code = program(f"""
        import os
        os.symlink("{host.sentinel}", "out.txt")
        os.makedirs("/tmp/jax-cache", exist_ok=True)
        os.symlink("/box/main.py", "/tmp/jax-cache/jit_planted-cache")
        os.symlink("/proc/self/environ", "/tmp/jax-cache/jit_env-cache")
        os.mkdir("/tmp/jax-cache/jit_dir-cache")
        open("/tmp/jax-cache/jit_real-cache", "wb").write(b"compiled")
    """)
    result = sandbox.run(code, "jax", cache_key("planter"), limits=SMALL)
    assert result.status == "ok"
    folder = cache.folder_for(cache_key("planter"))
    assert sorted(os.listdir(folder)) == ["jit_real-cache"]
    assert not any(path.is_symlink() for path in folder.iterdir())


def test_host_cache_loader_skips_links_planted_in_the_cache_folder(sandbox_settings, tmp_path):
    folder = cache.folder_for(cache_key("someone"))
    folder.mkdir(parents=True)
    (folder / "jit_ok-cache").write_bytes(b"fine")
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    (folder / "jit_link-cache").symlink_to(secret)
    assert list(cache.load(cache_key("someone"))) == ["jit_ok-cache"]


@pytest.mark.parametrize("name", ["../../x", "/abs", "a/../../b", "a/./b", "", "x\x00y", "main.py"])
def test_path_traversal_in_file_names_is_rejected_before_anything_runs(host, name):
    with pytest.raises(sandbox.InvalidRunInput):
        runs.run("print(1)", "jax", "u", files={name: "data"})
    assert Run.objects.count() == 0


def test_output_tree_bomb_is_capped_by_the_collector(host, sandbox_settings):
    code = program("""
        import os
        os.makedirs("/tmp/jax-cache", exist_ok=True)
        os.chdir("/tmp/jax-cache")
        for i in range(1000):
            os.mkdir("jit_d-cache")
            os.chdir("jit_d-cache")
        os.chdir("/box")
        for i in range(20000):
            open(f"/tmp/jax-cache/jit_f{i}-cache", "wb").close()
        print("planted")
    """)
    result = sandbox.run(code, "jax", cache_key("bomber"), limits={"wall_s": 20})
    assert result.status == "ok"
    kept = os.listdir(cache.folder_for(cache_key("bomber")))
    assert 0 < len(kept) <= sandbox.box.CACHE_CAPS["max_entries"]


@pytest.fixture
def never_ran(tmp_path):
    """A program that leaves a mark on the host if it ever ran unsandboxed."""
    mark = tmp_path / "ran-unsandboxed"
    return mark, f"open({str(mark)!r}, 'w').write('x')\n"


def test_missing_bubblewrap_refuses(host, settings, never_ran):
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    mark, code = never_ran
    result = runs.run(code, "jax", "u")
    assert result.status == "refused" and "bubblewrap" in result.exception_message
    assert Run.objects.get(pk=result.run_id).status == "refused"
    assert not mark.exists()


def test_disabled_user_namespaces_refuse(host, settings, never_ran, tmp_path):
    # Stands in for a kernel without unprivileged user namespaces: bwrap fails the way it does there.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    tmp_path.chmod(0o755)
    settings.T2J_SANDBOX_BWRAP = str(fake)
    mark, code = never_ran
    result = sandbox.run(code, "jax", U)
    assert result.status == "refused" and "namespace" in result.exception_message
    assert not mark.exists()


def test_unreadable_runtime_venv_refuses(host, settings, never_ran, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(settings.T2J_SANDBOX_PYTHON)
    venv.chmod(0o700)
    settings.T2J_SANDBOX_VENV = str(venv)
    mark, code = never_ran
    result = sandbox.run(code, "jax", U)
    assert result.status == "refused"
    assert not mark.exists()


def test_without_root_there_is_no_uid_switch_so_runs_are_refused(host, monkeypatch, never_ran):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    mark, code = never_ran
    result = sandbox.run(code, "jax", U)
    assert result.status == "refused" and "unprivileged uid" in result.exception_message
    assert not mark.exists()


def test_parallel_runs_do_not_see_each_other(host):
    code = program("""
        import os, sys, time
        me = open("/box/me.txt").read()
        open("/tmp/x", "w").write(me)
        time.sleep(0.5)
        print(me, open("/tmp/x").read(), sorted(os.listdir("/tmp")), os.getuid())
    """)
    results: dict[int, sandbox.RunResult] = {}

    def one(index: int) -> None:
        results[index] = sandbox.run(code, "jax", cache_key(f"user{index}"), files={"me.txt": str(index)},
                                     limits={"wall_s": 20})  # fmt: skip

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen_uids = set()
    for index, result in results.items():
        me, x, listing, uid = result.stdout.split(" ", 3)
        assert me == x == str(index), result.stdout + result.stderr
        assert "x" in listing
        seen_uids.add(uid.strip())
    assert len(results) == 8 and len(seen_uids) == 8


def test_reduced_isolation_is_only_used_when_the_operator_chose_it_and_is_reported(host, settings):
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    settings.T2J_SANDBOX_ISOLATION = "reduced"
    code = "import os\nprint(os.getuid(), os.getcwd(), 'SECRET_KEY' in os.environ)\n"
    result = runs.run(code, "jax", "u", limits=SMALL)
    uid, workdir, leaked = result.stdout.split()
    assert (result.status, result.isolation) == ("ok", "reduced")
    assert Run.objects.get(pk=result.run_id).isolation == "reduced"
    assert int(uid) >= settings.T2J_SANDBOX_UID_BASE and leaked == "False"
    deadline = time.monotonic() + 5
    while os.path.exists(workdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(workdir), "the private work folder is removed after the run"


def test_reduced_isolation_still_never_runs_as_root(host, settings, monkeypatch, never_ran):
    settings.T2J_SANDBOX_BWRAP = "/nonexistent/bwrap"
    settings.T2J_SANDBOX_ISOLATION = "reduced"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    mark, code = never_ran
    result = sandbox.run(code, "jax", U)
    assert result.status == "refused"
    assert not mark.exists()
