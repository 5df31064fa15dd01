"""What the runtime did for a program, written where the host can collect it (sandbox_runtime/README.md).

Everything goes under the output folder, `$T2J_OUTPUT_DIR` or else `<temp dir>/t2j-output` (the box's
private /tmp): one JSON object per line in `events.jsonl` (stand-ins used, plots written or refused), and
the PNG files in `plots/`. A stand-in is also announced on stderr in a line starting with `[t2j]`, so the
program's own output says it even where the host shows nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

MARKER = "[t2j]"
EVENTS = "events.jsonl"


def output_dir() -> str:
    """The output folder (created on first use)."""
    folder = os.environ.get("T2J_OUTPUT_DIR") or os.path.join(tempfile.gettempdir(), "t2j-output")
    os.makedirs(folder, exist_ok=True)
    return folder


def event(kind: str, **fields) -> None:
    """Append one event `{"kind": kind, **fields}` to events.jsonl."""
    line = json.dumps({"kind": kind, **fields}, sort_keys=True)
    with open(os.path.join(output_dir(), EVENTS), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def events() -> list[dict]:
    """The events written so far in this box (lines that do not parse are skipped)."""
    try:
        with open(os.path.join(output_dir(), EVENTS), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            found.append(item)
    return found


def say(message: str) -> None:
    """One line on the program's stderr, marked as the runtime's."""
    sys.stderr.write(f"{MARKER} {message}\n")
    sys.stderr.flush()


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def standin(what: str, message: str, files: list[str] = (), **fields) -> None:
    """Record the use of a stand-in: an event (with each file's path and SHA-256) and a line on stderr."""
    hashes = {os.path.realpath(path): sha256(path) for path in files}
    event("standin", what=what, message=message, files=hashes, **fields)
    say(f"stand-in: {message}")


def is_standin_file(path: str) -> bool:
    """True when `path` is a stand-in file this box wrote and it is unchanged since (the integrity manifest)."""
    real = os.path.realpath(path)
    for item in reversed(events()):  # the latest record of a path counts
        expected = (item.get("files") or {}).get(real) if item.get("kind") == "standin" else None
        if expected:
            try:
                return sha256(real) == expected
            except OSError:
                return False
    return False
