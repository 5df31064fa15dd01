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
import stat
import sys
import time
import traceback

WORKDIR = "/box"
CACHE_DIR = "/tmp/jax-cache"
CACHE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,199}$")
MAIN = "main.py"
BOM = "\ufeff"
# What the runtime (t2j_runtime) leaves for the host: events.jsonl and plots/NNN-<source>.png.
OUTPUT_DIR = "/tmp/t2j-output"
PLOT_NAME = re.compile(r"^[0-9]{3}-[a-z]{1,16}[.]png$")
MAX_EVENTS_BYTES = 256 * 1024
# Job settings a program's runtime reads from the environment (per-sample stand-in example counts).
JOB_ENVIRONMENT = re.compile(r"^T2J_STANDIN_[A-Z_]{1,40}$")


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
        if "torch" in sys.modules:
            _warm_up_torch(sys.modules["torch"])
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


def _warm_up_torch(torch):
    """Build an optimizer and take one training step: the first optimizer a program builds otherwise imports
    torch's compiler stack (seconds). The global RNG is left as it was."""
    import torch.nn
    import torch.optim

    state = torch.random.get_rng_state()
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.nn.functional.mse_loss(model(torch.zeros(1, 2)), torch.zeros(1, 1)).backward()
    optimizer.step()
    torch.random.set_rng_state(state)


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


def _link_readonly(names, root):
    """Each read-only file appears in the working folder as a link into the read-only mount (the host wrote
    them there); its folders are real, so the program may add its own files beside them."""
    for name in names:
        path = os.path.join(WORKDIR, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(os.path.join(root, name), path)


def _read_capped(path, cap):
    """A regular file's bytes (never through a link), or None when it is not one or is over `cap`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(cap + 1)
    return data if len(data) <= cap else None


def _collect_output(caps):
    """What the runtime left in OUTPUT_DIR: {"events": [...], "plots": [{"name", "png": base64}]}, capped.

    The host checks all of it again (annotate.sandbox.outputs): this only keeps the message small.
    """
    events = []
    raw = _read_capped(os.path.join(OUTPUT_DIR, "events.jsonl"), MAX_EVENTS_BYTES) or b""
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("kind") == "standin":
            events.append(item)
    plots = []
    try:
        names = sorted(name for name in os.listdir(os.path.join(OUTPUT_DIR, "plots")) if PLOT_NAME.match(name))
    except OSError:
        names = []
    for name in names[: caps["max_plots"]]:
        data = _read_capped(os.path.join(OUTPUT_DIR, "plots", name), caps["max_plot_bytes"])
        if data is not None:
            plots.append({"name": name, "png": base64.b64encode(data).decode("ascii")})
    return {"events": events[:64], "plots": plots}


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


def _describe(exc):
    # As the program would print it: the runtime already explains a failed import in the message
    # ("X is not installed in the sandbox (installed: ...)", "X does not exist (did you mean Y?)").
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be shown>"
    return type(exc).__name__, message


def _explain_import(exc):
    # A failed `from M import X` is raised by the interpreter itself, past the runtime's import hook: the
    # runtime explains it here when X is a module that moved (absent outside the runtime venv: left as is).
    try:
        from t2j_runtime.imports import explain_import_error
    except ImportError:
        return
    explain_import_error(exc)


def _print_traceback(exc, tb):
    # Like the interpreter's own report, minus the driver's frames.
    while tb is not None and not _is_user_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))


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
        # Python skips a UTF-8 byte-order mark at the start of a source file; compile() of a str does not.
        exec(compile(code[1:] if code.startswith(BOM) else code, MAIN, "exec"), namespace)
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
        _explain_import(exc)
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
    global WORKDIR, CACHE_DIR, OUTPUT_DIR
    control_fd, preload, must_not_see = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    if len(sys.argv) > 4:  # reduced isolation: a private folder on the host instead of the box's /box
        WORKDIR = sys.argv[4]
        CACHE_DIR = os.path.join(WORKDIR, ".jax-cache")
    # Read now: whatever the program does to its environment, the driver collects from here.
    OUTPUT_DIR = os.environ.get("T2J_OUTPUT_DIR", OUTPUT_DIR)
    ctl = _control(control_fd)
    _preload(preload)
    visible = [path for path in must_not_see if os.path.lexists(path)]
    _say(ctl, event="ready", uid=os.getuid(), pid=os.getpid(), preloaded=preload, visible=visible)
    job = json.loads(sys.stdin.buffer.readline())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(WORKDIR)
    for name, value in job["environment"].items():
        if JOB_ENVIRONMENT.match(name):
            os.environ[name] = str(value)
    _place_files(job["files"])
    _link_readonly(job["readonly_files"], job["readonly_root"])
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
    result["output"] = _collect_output(job["output_caps"])
    try:
        _say(ctl, event="done", **result)
    except Exception:
        pass
    os._exit(result["exit_code"])


if __name__ == "__main__":
    main()
