"""The driver that runs INSIDE the box (system python3.11 + runtime venv; stdlib only).

It is passed to the interpreter with `-c`, so nothing of the project folder has to be visible in the box.
Protocol (all JSON lines): the host reads `{"event": "ready", ...}` from the control fd once the box is up
(and, for warm workers, jax is imported and its CPU backend initialised); it then writes one job line to
stdin; the box answers `{"event": "done", ...}` on the control fd after the program ends.

Everything said on the control fd comes from inside the box, so the host trusts it for nothing but the
program's own diagnostics: status, limits and kills are decided by the host from what it observed.
"""

import base64
import builtins
import json
import linecache
import os
import re
import resource
import sys
import time
import traceback

WORKDIR = "/box"
CACHE_DIR = "/tmp/jax-cache"
CACHE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,199}$")
MAIN = "main.py"


def _control(fd):
    out = os.fdopen(fd, "w", encoding="utf-8", closefd=True)
    os.set_inheritable(fd, False)
    return out


def _say(ctl, **message):
    ctl.write(json.dumps(message) + "\n")
    ctl.flush()


def _preload(modules):
    # Import output (warnings) is not the program's: keep it out of the program's streams.
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        for name in modules:
            __import__(name)
        if "jax" in sys.modules:
            _warm_up_jax(sys.modules["jax"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(null)


def _warm_up_jax(jax):
    """Initialise the CPU backend and XLA's compiler once, so the program's first compile is not the first."""
    jax.devices()
    import jax.numpy as jnp

    jax.jit(lambda x: jnp.sum(x * 2.0))(jnp.arange(4.0)).block_until_ready()


def _lower_limits(limits):
    """Tighten rlimits for this job; the host's hard limits stay the ceiling (raising is refused)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used_cpu = int(usage.ru_utime + usage.ru_stime) + 1
    wanted = {
        resource.RLIMIT_CPU: used_cpu + int(limits["cpu_s"]),
        resource.RLIMIT_AS: int(limits["address_space_bytes"]),
        resource.RLIMIT_NPROC: int(limits["nproc"]),
        resource.RLIMIT_FSIZE: int(limits["file_size_bytes"]),
        resource.RLIMIT_NOFILE: int(limits["open_files"]),
    }
    for which, value in wanted.items():
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # CPU: SIGXCPU at the soft limit, SIGKILL a second later even if the program ignores SIGXCPU.
        new_hard = value + 1 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            new_hard = min(new_hard, hard)
        resource.setrlimit(which, (value, new_hard))


def _write_new(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _place_files(files):
    for name, encoded in files.items():
        path = os.path.join(WORKDIR, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_new(path, base64.b64decode(encoded))


def _prepare_cache(cache, enabled):
    if not enabled:
        return
    os.makedirs(CACHE_DIR, exist_ok=True)
    for name, encoded in cache.items():
        if CACHE_NAME.match(name):
            _write_new(os.path.join(CACHE_DIR, name), base64.b64decode(encoded))
    # Read by jax at import (cold) or applied to the already imported jax (warm).
    os.environ["JAX_COMPILATION_CACHE_DIR"] = CACHE_DIR
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        # The warm-up compiled before a cache folder was set; let jax look at the setting again.
        from jax._src import compilation_cache

        compilation_cache.reset_cache()


def _collect_cache(before, caps):
    """New cache entries: regular files only (lstat, O_NOFOLLOW), flat, capped in count and size."""
    found, total = {}, 0
    try:
        entries = os.scandir(CACHE_DIR)
    except OSError:
        return found
    with entries:
        for count, entry in enumerate(entries):
            if count >= caps["max_entries"] * 2:
                break
            if entry.name in before or not CACHE_NAME.match(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as handle:
                    data = handle.read(caps["max_entry_bytes"] + 1)
            except OSError:
                continue
            if len(data) > caps["max_entry_bytes"] or total + len(data) > caps["max_total_bytes"]:
                continue
            total += len(data)
            found[entry.name] = base64.b64encode(data).decode("ascii")
            if len(found) >= caps["max_entries"]:
                break
    return found


def _is_user_file(name):
    return name == MAIN or name.startswith(WORKDIR + "/")


def _user_frames(tb):
    frames = []
    for frame in traceback.extract_tb(tb):
        name = frame.filename
        if name.startswith(WORKDIR + "/"):
            name = name[len(WORKDIR) + 1 :]
        elif name != MAIN:
            continue
        frames.append({"file": name, "line": frame.lineno, "function": frame.name})
    return frames


def _missing_module(exc):
    """True when the import failed because the package is not installed in the runtime venv."""
    import importlib.util

    top = (exc.name or "").split(".")[0]
    if not top:
        return False
    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True


def _describe(exc):
    kind = type(exc).__name__
    message = str(exc)
    if isinstance(exc, ModuleNotFoundError) and _missing_module(exc):
        message = f"module not available in the sandbox: {exc.name} ({message})"
    return kind, message


def _print_traceback(exc, tb):
    # Like the interpreter's own report, minus the driver's frames.
    while tb is not None and not _is_user_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if isinstance(exc, ModuleNotFoundError) and _missing_module(exc):
        lines[-1] = "ModuleNotFoundError: " + _describe(exc)[1] + "\n"
    sys.stderr.write("".join(lines))


def _run_program(code):
    source_path = os.path.join(WORKDIR, MAIN)
    _write_new(source_path, code.encode("utf-8"))
    lines = code.splitlines(True)
    linecache.cache[MAIN] = (len(code), None, lines, MAIN)
    sys.argv = [MAIN]
    sys.path.insert(0, WORKDIR)
    namespace = {"__name__": "__main__", "__file__": source_path, "__builtins__": builtins}
    result = {"exit_code": 0, "exception_type": "", "exception_message": "", "traceback": []}
    started = time.perf_counter()
    try:
        exec(compile(code, MAIN, "exec"), namespace)
    except SystemExit as exc:
        code_ = exc.code
        if code_ is None:
            result["exit_code"] = 0
        elif isinstance(code_, int):
            result["exit_code"] = code_ & 0xFF
        else:
            sys.stderr.write(f"{code_}\n")
            result["exit_code"] = 1
    except BaseException as exc:  # noqa: B036 - the program's crash is a result
        kind, message = _describe(exc)
        frames = _user_frames(exc.__traceback__)
        if isinstance(exc, SyntaxError) and exc.filename == MAIN:
            frames = [{"file": MAIN, "line": exc.lineno, "function": "<module>"}]
        result.update(exit_code=1, exception_type=kind, exception_message=message, traceback=frames)
        try:
            _print_traceback(exc, exc.__traceback__)
        except Exception:
            pass
    result["inprocess_s"] = time.perf_counter() - started
    # Peak resident memory as the kernel counted it, for runs shorter than the host's sampling period.
    result["maxrss_bytes"] = 1024 * (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return result


def main():
    global WORKDIR, CACHE_DIR
    control_fd, preload, must_not_see = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    if len(sys.argv) > 4:  # reduced isolation: a private folder on the host instead of the box's /box
        WORKDIR = sys.argv[4]
        CACHE_DIR = os.path.join(WORKDIR, ".jax-cache")
    ctl = _control(control_fd)
    _preload(preload)
    visible = [path for path in must_not_see if os.path.lexists(path)]
    _say(ctl, event="ready", uid=os.getuid(), pid=os.getpid(), preloaded=preload, visible=visible)
    job = json.loads(sys.stdin.buffer.readline())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(WORKDIR)
    _place_files(job["files"])
    _prepare_cache(job["cache"], job["cache_enabled"])
    _lower_limits(job["limits"])
    result = _run_program(job["code"])
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # Closing our ends lets the host see the end of the output without waiting for this process to die.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    if job["cache_enabled"]:
        result["cache"] = _collect_cache(set(job["cache"]), job["cache_caps"])
    try:
        _say(ctl, event="done", **result)
    except Exception:
        pass
    os._exit(result["exit_code"])


if __name__ == "__main__":
    main()
