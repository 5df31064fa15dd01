"""One box: a single-use interpreter inside bubblewrap, run as a leased unprivileged uid, supervised from here.

The host decides every status from what it observed (exit status, its own timers, its memory and CPU watchdog, the
output caps); the box only contributes the program's diagnostics (exception, traceback, cache entries).
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from annotate.sandbox import outputs, uids
from annotate.sandbox.cancel import STOPPED_MESSAGE
from annotate.sandbox.inputs import Job
from annotate.sandbox.limits import Limits
from annotate.sandbox.result import RunResult, clean_text

BOOT_SOURCE = (Path(__file__).with_name("boot.py")).read_text(encoding="utf-8")
WATCH_INTERVAL_S = 0.05  # watchdog period (the issue asks for <= 100 ms)
READY_TIMEOUT_S = 60.0
CONTROL_MAX_BYTES = 256 * 1024**2
# Preloading jax costs CPU before the job; the box lowers the CPU limit to "used + job limit" itself.
PRELOAD_CPU_ALLOWANCE_S = 60
CACHE_CAPS = {"max_entries": 512, "max_entry_bytes": 32 * 1024**2, "max_total_bytes": 128 * 1024**2}
# Where a box sees the host folder of its read-only files (the working folder links to each of them).
READONLY_MOUNT = "/t2j/files"


TEARDOWN_THREAD = "sandbox-teardown"


def wait_for_teardowns(timeout: float = 10.0) -> None:
    """Wait for background teardowns (a short-lived process calls this before it exits)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name == TEARDOWN_THREAD:
            thread.join(max(0.0, deadline - time.monotonic()))


class Refused(Exception):
    """Isolation could not be applied: the program must not run."""


def bwrap_path() -> str | None:
    return shutil.which(settings.T2J_SANDBOX_BWRAP)


def reduced_allowed() -> bool:
    return settings.T2J_SANDBOX_ISOLATION == "reduced"


def preflight(isolation: str = "full") -> str | None:
    """Why a box cannot be started here, or None. The box's own self-check covers the rest."""
    if os.geteuid() != 0:
        return "sandbox refused: the runner is not root, so it cannot switch programs to an unprivileged uid"
    if isolation == "full" and not bwrap_path():
        return "sandbox refused: bubblewrap (bwrap) is not installed; run scripts/setup_sandbox.sh"
    if not shutil.which("prlimit"):
        return "sandbox refused: prlimit (util-linux) is missing, so resource limits cannot be applied"
    python = Path(settings.T2J_SANDBOX_VENV) / "bin" / "python"
    if not python.exists():
        return f"sandbox refused: runtime venv {settings.T2J_SANDBOX_VENV} is missing; run scripts/setup_sandbox.sh"
    return None


def _thread_cap() -> str:
    return str(max(1, min(4, os.cpu_count() or 1)))


def box_environment(home: str = "/box", tmp: str = "/tmp") -> dict[str, str]:
    """The only environment a program sees (nothing of the web process's)."""
    threads = _thread_cap()
    venv = settings.T2J_SANDBOX_VENV
    max_plots, max_plot_bytes = outputs.plot_caps()
    return {
        "PATH": f"{venv}/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8:backslashreplace",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "JAX_PLATFORMS": "cpu",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        # One host device; XLA's own pool follows the CPU count, the nproc limit caps threads in the end.
        "XLA_FLAGS": f"--xla_force_host_platform_device_count=1 {settings.T2J_SANDBOX_XLA_FLAGS}".strip(),
        # What the runtime (sandbox_runtime/t2j_runtime) reads: where to leave its events and plots, their
        # caps, and the stand-in datasets' example counts (a job may set its own, see boot.py).
        "T2J_OUTPUT_DIR": f"{tmp}/t2j-output",
        "T2J_PLOTS_MAX_COUNT": str(max_plots),
        "T2J_PLOTS_MAX_BYTES": str(max_plot_bytes),
        "T2J_STANDIN_TRAIN_EXAMPLES": str(settings.T2J_STANDIN_TRAIN_EXAMPLES),
        "T2J_STANDIN_TEST_EXAMPLES": str(settings.T2J_STANDIN_TEST_EXAMPLES),
    }


def _prlimit_args(limits: Limits) -> list[str]:
    cpu = limits.cpu_s + PRELOAD_CPU_ALLOWANCE_S
    return [
        shutil.which("prlimit") or "prlimit",
        f"--as={limits.address_space_bytes}",
        f"--cpu={cpu}:{cpu + 1}",
        f"--nproc={limits.nproc}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _bwrap_args(limits: Limits, readonly_dir: str) -> list[str]:
    venv = settings.T2J_SANDBOX_VENV
    args = [
        bwrap_path() or "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--hostname", "sandbox",
        "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin",
        "--ro-bind", venv, venv,
        "--ro-bind", readonly_dir, READONLY_MOUNT,
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(limits.disk_bytes), "--tmpfs", "/tmp",
        "--size", str(limits.disk_bytes), "--tmpfs", "/box",
        "--chdir", "/box",
        "--remount-ro", "/",
    ]  # fmt: skip
    for name, value in box_environment().items():
        args += ["--setenv", name, value]
    return args


class _Capture:
    """Reads one output stream, keeping at most `cap` bytes; `overflow` is set once more arrived."""

    def __init__(self, stream, cap: int, overflow: threading.Event) -> None:
        self.data = bytearray()
        self.truncated = False
        self._cap = cap
        self._overflow = overflow
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        fd = stream.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = {key.fd for key, _ in selector.select()}
                if fd in ready:
                    if not self._keep(os.read(fd, 65536)):
                        break
                elif self._wake_read in ready:
                    self._drain(fd)
                    break
        stream.close()
        with self._lock:
            os.close(self._wake_read)
            os.close(self._wake_write)
            self._wake_write = -1

    def _drain(self, fd: int) -> None:
        os.set_blocking(fd, False)
        try:
            while self._keep(os.read(fd, 65536)):
                pass
        except BlockingIOError:
            pass

    def _keep(self, chunk: bytes) -> bool:
        with self._lock:
            room = self._cap - len(self.data)
            self.data += chunk[: max(room, 0)]
            if len(chunk) > room:
                self.truncated = True
                self._overflow.set()
        return bool(chunk)

    def stop(self) -> None:
        """Read what is in the pipe now and stop, without waiting for every holder of its other end to exit.

        Only for a writer that has said it is done: everything it wrote before saying so is in the pipe.
        """
        with self._lock:
            if self._wake_write >= 0:  # else the pump has ended already
                os.write(self._wake_write, b"x")

    def reset(self, cap: int) -> bytes:
        with self._lock:
            earlier = bytes(self.data)
            self.data.clear()
            self.truncated = False
            self._cap = cap
            return earlier

    def text(self, timeout: float = 2.0) -> str:
        self._thread.join(timeout)
        with self._lock:
            # NUL cannot be stored in PostgreSQL text; keep the length the same.
            return bytes(self.data).decode("utf-8", "replace").replace("\x00", "\ufffd")


class _Control:
    """Reads the box's JSON messages from the control pipe."""

    def __init__(self, fd: int) -> None:
        self.ready: dict[str, Any] | None = None
        self.done: dict[str, Any] | None = None
        self.ready_event = threading.Event()
        self.done_event = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(fd,), daemon=True)
        self._thread.start()

    def _pump(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            read = 0
            while line := stream.readline(CONTROL_MAX_BYTES - read):
                read += len(line)
                try:
                    message = json.loads(line)
                except ValueError:
                    break
                if not isinstance(message, dict):
                    break
                if message.get("event") == "ready" and self.ready is None:
                    self.ready = message
                    self.ready_event.set()
                elif message.get("event") == "done" and self.ready is not None:
                    self.done = message
                    self.done_event.set()
                if read >= CONTROL_MAX_BYTES:
                    break
        self.ready_event.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Box:
    """A started sandbox waiting for one program. Use: start(), wait_ready(), execute(); always destroy()."""

    def __init__(self, limits: Limits, preload: list[str] | tuple[str, ...] = (), isolation: str = "full") -> None:
        self.limits = limits
        self.preload = list(preload)
        # "reduced" (operator's choice only): no namespaces, a private host folder; still a sandbox uid.
        self.isolation = isolation
        self.workdir: str | None = None
        # Host folder of the job's read-only files: root's, readable by the box's uid, mounted read-only.
        self.readonly_dir: str | None = None
        self.lease: uids.UidLease | None = None
        self.proc: subprocess.Popen | None = None
        self._overflow = threading.Event()
        self._destroy_lock = threading.Lock()
        self._cpu_at_ready = 0.0

    @property
    def warm(self) -> bool:
        return bool(self.preload)

    def start(self) -> None:
        if self.isolation == "full" and not bwrap_path() and reduced_allowed():
            self.isolation = "reduced"
        reason = preflight(self.isolation)
        if reason:
            raise Refused(reason)
        try:
            self.lease = uids.lease()
        except uids.LeaseError as exc:
            raise Refused(f"sandbox refused: {exc}") from exc
        uid = self.lease.uid
        uids.become_subreaper()
        self.readonly_dir = _private_folder("t2j-ro-", group=uid)
        read_fd, write_fd = os.pipe()
        must_not_see = [str(settings.BASE_DIR), str(settings.DATA_DIR), "/root", "/etc/passwd"]
        python = f"{settings.T2J_SANDBOX_VENV}/bin/python"
        argv = [*_prlimit_args(self.limits)]
        env, cwd = box_environment(), "/"
        if self.isolation == "full":
            argv += [*_bwrap_args(self.limits, self.readonly_dir), python, "-s", "-c", BOOT_SOURCE]
            argv += [str(write_fd), json.dumps(self.preload), json.dumps(must_not_see)]
        else:
            self.workdir = tempfile.mkdtemp(prefix="t2j-box-")
            os.chown(self.workdir, uid, uid)
            os.mkdir(os.path.join(self.workdir, ".tmp"), 0o700)
            os.chown(os.path.join(self.workdir, ".tmp"), uid, uid)
            env, cwd = box_environment(self.workdir, os.path.join(self.workdir, ".tmp")), self.workdir
            argv += [python, "-s", "-c", BOOT_SOURCE, str(write_fd), json.dumps(self.preload), "[]", self.workdir]
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                user=uid,
                group=uid,
                extra_groups=[],
                process_group=0,
                env=env,
                cwd=cwd,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(read_fd)
            self.destroy()
            raise Refused(f"sandbox refused: could not start bubblewrap as uid {uid}: {exc}") from exc
        finally:
            os.close(write_fd)
        self._stdout = _Capture(self.proc.stdout, self.limits.output_bytes, self._overflow)
        self._stderr = _Capture(self.proc.stderr, self.limits.output_bytes, self._overflow)
        self._control = _Control(read_fd)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until the box reports it is up and passes its self-check; else destroy it and refuse."""
        assert self.proc is not None and self.lease is not None
        self._control.ready_event.wait(timeout)
        ready = self._control.ready
        problem = None
        if ready is None:
            self.proc.poll()
            self.destroy()
            detail = self._stderr.text(1.0).strip()[-2000:] or f"exit status {self.proc.returncode}"
            problem = f"sandbox refused: the box did not start ({detail})"
        elif ready.get("uid") != self.lease.uid or ready.get("uid") == 0:
            problem = f"sandbox refused: the program would run as uid {ready.get('uid')}"
        elif self.isolation == "full" and (not isinstance(ready.get("pid"), int) or ready["pid"] > 3):
            problem = "sandbox refused: no private PID namespace"
        elif ready.get("visible"):
            problem = f"sandbox refused: host paths visible in the box: {ready['visible']}"
        if problem:
            self.destroy()
            raise Refused(problem)
        # Importing jax cost CPU that is not the program's (measured here, off the request's path for warm boxes).
        self._cpu_at_ready = uids.usage_of_uid(self.lease.uid)[1]

    def execute(
        self, job: Job, cache: dict[str, str], cache_enabled: bool, stop: threading.Event | None = None
    ) -> tuple[RunResult, dict[str, str]]:
        """Hand the program to the ready box, supervise it to the end (or until `stop` is set), tear the box down."""
        assert self.proc is not None and self.lease is not None and self.readonly_dir is not None
        limits = job.limits
        self._stdout.reset(limits.output_bytes)
        self._stderr.reset(limits.output_bytes)
        _write_readonly(self.readonly_dir, job.readonly_files, self.lease.uid)
        max_plots, max_plot_bytes = outputs.plot_caps()
        message = {
            "code": job.code,
            "files": job.files,
            "readonly_files": sorted(job.readonly_files),
            "readonly_root": READONLY_MOUNT if self.isolation == "full" else self.readonly_dir,
            "environment": {f"T2J_STANDIN_{name.upper()}": str(count) for name, count in job.standins.items()},
            "cache": cache,
            "cache_enabled": cache_enabled,
            "cache_caps": CACHE_CAPS,
            "output_caps": {"max_plots": max_plots, "max_plot_bytes": max_plot_bytes},
            "limits": limits.as_dict(),
        }
        started = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self.proc.stdin.close()
        except OSError:
            pass  # the box died; the supervisor below reports how
        reason, peak = self._supervise(started, limits, stop or threading.Event())
        duration = time.monotonic() - started
        if self._control.done is None:
            self.kill()
            self._control.join(2.0)
        else:
            # The program has ended and said so: what it wrote is in the pipes. Its leftovers (daemons
            # included) die in the teardown below, off the request's path.
            self._kill_group()
            self._stdout.stop()
            self._stderr.stop()
        result = self._result(reason, duration, peak)
        result.limits = limits.as_dict()
        # The uid-wide sweep, waiting for big interpreters to finish dying and freeing the uid happen off the
        # request's path (the box's process group is SIGKILLed already).
        threading.Thread(target=self.destroy, name=TEARDOWN_THREAD, daemon=True).start()
        cache_out = (self._control.done or {}).get("cache") or {}
        return result, cache_out if isinstance(cache_out, dict) else {}

    def kill(self) -> None:
        """SIGKILL the box's process group and every process of its uid (one pass; destroy() makes sure)."""
        self._kill_group()
        if self.lease is not None:
            for pid in uids.pids_of_uid(self.lease.uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _kill_group(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _supervise(self, started: float, limits: Limits, stop: threading.Event) -> tuple[str, int]:
        """Wait for the end; return (host kill reason or "", peak summed RSS of the box's processes).
        A set `stop` flag (someone asked to stop the run) ends it with the reason "stopped".

        Memory and CPU are summed over every process of the box's uid every WATCH_INTERVAL_S.
        """
        assert self.proc is not None and self.lease is not None
        peak = 0
        while True:
            # The program's end is its "done" message: no need to wait for the interpreter's own slow
            # exit, the teardown kills it.
            if self._control.done_event.wait(WATCH_INTERVAL_S) or self.proc.poll() is not None:
                self.proc.poll()
                return "", peak
            if stop.is_set():
                return "stopped", peak
            memory, cpu = uids.usage_of_uid(self.lease.uid)
            peak = max(peak, memory)
            if memory > limits.memory_bytes:
                return "memory", peak
            # The whole tree's CPU; each process's RLIMIT_CPU stays as the backstop (its SIGKILL a second
            # after SIGXCPU would read as "killed" for a program that ignores SIGXCPU).
            if cpu - self._cpu_at_ready > limits.cpu_s:
                return "timeout", peak
            if self._overflow.is_set():
                return "output-limit", peak
            if time.monotonic() - started > limits.wall_s:
                return "timeout", peak

    def _result(self, reason: str, duration: float, peak: int) -> RunResult:
        assert self.proc is not None
        done = self._control.done
        result = RunResult(
            status="ok",
            stdout=self._stdout.text(),
            stderr=self._stderr.text(),
            stdout_truncated=self._stdout.truncated,
            stderr_truncated=self._stderr.truncated,
            duration_s=round(duration, 4),
            peak_memory_bytes=peak or None,
            isolation=self.isolation,
            started_warm=self.warm,
        )
        returncode = self.proc.returncode
        if done:
            result.exit_code = int(done.get("exit_code") or 0)
            result.exception_type = str(done.get("exception_type") or "")[:200]
            result.exception_message = str(done.get("exception_message") or "")[:10000]
            frames = done.get("traceback") or []
            result.traceback = (
                [_frame(f) for f in frames[:200] if isinstance(f, dict)] if isinstance(frames, list) else []
            )
            output = done.get("output") if isinstance(done.get("output"), dict) else {}
            result.standins = outputs.standins(output.get("events"))
            result.plots = outputs.plots(output.get("plots"))
            if isinstance(done.get("inprocess_s"), int | float):
                result.inprocess_s = float(done["inprocess_s"])
            # Reported from inside (display only; the bound is enforced by the host's own samples).
            reported = done.get("maxrss_bytes")
            if isinstance(reported, int) and 0 < reported <= self.limits.memory_bytes * 2:
                result.peak_memory_bytes = max(peak, reported)
        else:
            result.exit_code = returncode
        result.status = _status(reason, done, returncode)
        if result.status == "memory" and not result.exception_type:
            result.exception_type = "MemoryError"
            result.exception_message = f"killed: the run used more than {self.limits_text('memory')}"
        if result.status == "timeout" and not done:
            result.exception_message = "killed: time limit reached"
        if result.status == "output-limit":
            result.exception_message = "killed: output limit reached"
        if reason == "stopped":
            result.exception_message = STOPPED_MESSAGE
        return result.cleaned()

    def limits_text(self, which: str) -> str:
        return f"{self.limits.memory_bytes} bytes of memory" if which == "memory" else which

    def destroy(self) -> None:
        """Kill everything of the box (its whole uid, setsid daemons included) and free the uid."""
        with self._destroy_lock:
            self._destroy()

    def _destroy(self) -> None:
        self.kill()
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass  # the uid sweep below ends it
        if self.lease is not None:
            self.lease.release()
            self.lease = None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.wait(5)
        # rmtree works through directory fds and never follows links planted in the folder.
        for folder in (self.workdir, self.readonly_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self.workdir = self.readonly_dir = None


def _frame(frame: dict[str, Any]) -> dict[str, Any]:
    line = frame.get("line")
    return {
        "file": clean_text(frame.get("file", ""))[:300],
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
        "function": clean_text(frame.get("function", ""))[:300],
    }


def _private_folder(prefix: str, group: int) -> str:
    """A new host folder owned by root, readable (not writable) by `group` only."""
    folder = tempfile.mkdtemp(prefix=prefix)
    os.chown(folder, 0, group)
    os.chmod(folder, 0o750)
    return folder


def _write_readonly(root: str, files: dict[str, str], group: int) -> None:
    """Write the job's read-only files (names checked by annotate.sandbox.inputs) under `root`.

    Only root can write there, so nothing the box did can be followed: every file is new (O_EXCL), no link.
    """
    for name, encoded in files.items():
        folder = root
        for part in name.split("/")[:-1]:
            folder = os.path.join(folder, part)
            if not os.path.isdir(folder):
                os.mkdir(folder, 0o750)
                os.chown(folder, 0, group)
        path = os.path.join(root, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o440)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64decode(encoded))
        os.chown(path, 0, group)


def _status(reason: str, done: dict[str, Any] | None, returncode: int | None) -> str:
    if reason == "stopped":
        return "killed"
    if reason:
        return reason
    if done:
        if done.get("exception_type") == "MemoryError":
            return "memory"
        if done.get("exception_type"):
            return "error"
        return "ok" if not done.get("exit_code") else "error"
    if returncode is not None and returncode >= 128:
        killed_by = returncode - 128
        return "timeout" if killed_by == signal.SIGXCPU else "killed"
    if returncode is not None and returncode < 0:
        return "timeout" if -returncode == signal.SIGXCPU else "killed"
    return "ok" if returncode == 0 else "error"
