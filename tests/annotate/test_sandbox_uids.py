"""Uid leases are machine-wide: two installations never kill each other's runs (issue 17, kind 9).

The tests that start processes under sandbox uids use a private uid range (UID_RANGE_BASE), away from the
default one other checkouts on this machine use, and need root (they are marked `sandbox`).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from annotate.sandbox import uids
from annotate.sandbox.server import RunnerServer
from tests.annotate.sandbox_support import program, require_sandbox

UID_RANGE_BASE = 63900


@pytest.fixture
def private_range(settings, tmp_path):
    """Three uids of a private range; leases in a lock folder of this test."""
    settings.T2J_SANDBOX_UID_BASE = UID_RANGE_BASE
    settings.T2J_SANDBOX_UID_COUNT = 3
    settings.T2J_SANDBOX_UID_LOCK_DIR = str(tmp_path / "uid-locks")
    uids._skipped.clear()
    yield settings
    uids._skipped.clear()


def test_the_lock_folder_is_machine_wide_not_inside_the_data_folder(settings, tmp_path):
    settings.T2J_SANDBOX_UID_LOCK_DIR = ""
    folders = set()
    for name in ("one", "two"):
        settings.DATA_DIR = tmp_path / name
        folders.add(uids.lock_folder())
    (folder,) = folders
    assert not folder.is_relative_to(tmp_path) and not folder.is_relative_to(settings.BASE_DIR)


def test_without_a_writable_run_folder_it_falls_back_to_a_folder_of_this_user_in_tmp(settings, monkeypatch):
    settings.T2J_SANDBOX_UID_LOCK_DIR = ""
    monkeypatch.setattr(uids.os, "access", lambda path, mode: False)
    assert uids.lock_folder() == Path(f"/tmp/t2j-sandbox-uids-{os.geteuid()}")


def test_a_new_lock_folder_and_its_lease_files_are_private(private_range, tmp_path):
    lease = uids.lease()
    try:
        folder = tmp_path / "uid-locks"
        assert lease.uid == UID_RANGE_BASE
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.geteuid()
        assert stat.S_IMODE((folder / f"{lease.uid}.lock").stat().st_mode) == 0o600
    finally:
        lease.release()


def test_leases_are_exclusive_and_a_released_uid_can_be_leased_again(private_range):
    first = uids.lease()
    second = uids.lease()
    assert (first.uid, second.uid) == (UID_RANGE_BASE, UID_RANGE_BASE + 1)
    first.release()
    again = uids.lease()
    assert again.uid == UID_RANGE_BASE
    again.release()
    second.release()


def test_a_symlinked_lock_folder_is_refused_and_nothing_is_written_through_it(private_range, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "uid-locks").symlink_to(target)
    with pytest.raises(uids.UnsafeLockFolder, match="not a plain folder"):
        uids.lease()
    assert list(target.iterdir()) == []


def test_a_lock_folder_others_can_write_is_refused(private_range, tmp_path):
    folder = tmp_path / "uid-locks"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(uids.UnsafeLockFolder, match="writable by nobody else"):
        uids.lease()


def test_a_lock_folder_owned_by_another_user_is_refused(private_range, tmp_path, monkeypatch):
    (tmp_path / "uid-locks").mkdir(mode=0o700)
    monkeypatch.setattr(uids.os, "geteuid", lambda: os.getuid() + 1)
    with pytest.raises(uids.UnsafeLockFolder, match=f"owned by uid {os.getuid()}"):
        uids.lease()


def test_a_lock_folder_in_a_shared_parent_needs_the_sticky_bit(private_range, tmp_path):
    tmp_path.chmod(0o777)
    try:
        with pytest.raises(uids.UnsafeLockFolder, match="without the sticky bit"):
            uids.lease()
        tmp_path.chmod(0o1777)
        uids.lease().release()
    finally:
        tmp_path.chmod(0o700)


def test_a_link_planted_as_a_lease_file_is_not_followed(private_range, tmp_path):
    folder = tmp_path / "uid-locks"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (folder / f"{UID_RANGE_BASE}.lock").symlink_to(victim)
    with pytest.raises(uids.UnsafeLockFolder, match=f"uid {UID_RANGE_BASE}"):
        uids.lease()
    assert victim.read_text() == "keep"


# --- with processes under sandbox uids (root) ---------------------------------------------------


@pytest.fixture
def unleased_sleeper(private_range):
    """A process under the range's first uid that no lease holds, like a box of an installation that locks
    its leases somewhere else."""
    require_sandbox()
    sleeper = subprocess.Popen(["sleep", "60"], user=UID_RANGE_BASE, group=UID_RANGE_BASE, extra_groups=[])
    yield sleeper
    sleeper.kill()
    sleeper.wait()


def _health(server: RunnerServer) -> dict:
    host, port = server.server_address[:2]
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5) as answer:
        return json.load(answer)


@pytest.mark.sandbox
def test_a_uid_running_processes_no_lease_holds_is_skipped_reported_and_left_alone(unleased_sleeper, caplog):
    lease = uids.lease()
    try:
        assert lease.uid == UID_RANGE_BASE + 1
    finally:
        lease.release()
    assert unleased_sleeper.poll() is None  # never killed, not by the lease nor by its release
    assert uids.skipped_uids() == {UID_RANGE_BASE: [unleased_sleeper.pid]}
    assert f"sandbox uid {UID_RANGE_BASE} skipped" in caplog.text
    server = RunnerServer(("127.0.0.1", 0), None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _health(server)["skipped_uids"] == [{"uid": UID_RANGE_BASE, "pids": [unleased_sleeper.pid]}]
    finally:
        server.shutdown()
        server.server_close()
    unleased_sleeper.kill()
    unleased_sleeper.wait()
    lease = uids.lease()
    lease.release()
    assert lease.uid == UID_RANGE_BASE and uids.skipped_uids() == {}


@pytest.mark.sandbox
def test_when_every_uid_runs_unleased_processes_the_run_is_refused_naming_them(unleased_sleeper, settings):
    settings.T2J_SANDBOX_UID_COUNT = 1
    settings.T2J_RUNNER_URLS = []
    from annotate import sandbox

    result = sandbox.run("print('hi')\n", "pytorch", "")
    assert result.status == "refused"
    assert f"{UID_RANGE_BASE} (pids {unleased_sleeper.pid})" in result.exception_message
    assert unleased_sleeper.poll() is None


# --- two installations ----------------------------------------------------------------------------

INSTALLATION_SCRIPT = """
import json, os, sys
import django
django.setup()
from annotate import sandbox
from annotate.sandbox.box import wait_for_teardowns
result = sandbox.run(sys.argv[1], "pytorch", "")
wait_for_teardowns()
print(json.dumps(result.as_dict()))
"""


def _start_installation(data_dir: Path, code: str) -> subprocess.Popen:
    """A second checkout's process: its own data folder and settings, the default (machine-wide) lock folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("T2J_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="t2j_site.settings",
        T2J_DATA_DIR=str(data_dir),
        T2J_RUNNER_URLS="",
        T2J_SANDBOX_UID_BASE=str(UID_RANGE_BASE),
        T2J_SANDBOX_UID_COUNT="3",
    )
    return subprocess.Popen(
        [sys.executable, "-c", INSTALLATION_SCRIPT, code],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _wait_for_a_box_in_the_range(timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for uid in range(UID_RANGE_BASE, UID_RANGE_BASE + 3):
            if uids.processes_of_uid(uid):
                return uid
        time.sleep(0.05)
    raise AssertionError("the first installation's box never started")


@pytest.mark.sandbox
def test_two_installations_run_boxes_at_once_and_neither_kills_the_others_run(tmp_path):
    """Seen before: a 5-second run of one checkout was `killed` when a second checkout started a cold run."""
    require_sandbox()
    long_run = program("""
        import os, time
        time.sleep(5)
        print("survived", os.getuid())
    """)
    first = _start_installation(tmp_path / "first", long_run)
    first_uid = _wait_for_a_box_in_the_range()
    seconds = [_start_installation(tmp_path / "second", "import os\nprint('cold', os.getuid())\n") for _ in range(2)]
    second_results = [_result(proc) for proc in seconds]
    first_result = _result(first)
    assert first_result["status"] == "ok", first_result
    assert first_result["stdout"].split() == ["survived", str(first_uid)]
    assert first_result["duration_s"] >= 5
    for result in second_results:
        assert result["status"] == "ok", result
        assert result["stdout"].split()[0] == "cold" and int(result["stdout"].split()[1]) != first_uid
