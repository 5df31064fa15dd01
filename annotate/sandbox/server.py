"""The runner: a local HTTP API in front of a warm pool, so all web workers share one pool.

POST /run  {"code", "kind", "cache_key", "files": {name: base64}, "readonly_files": {name: base64},
            "limits": {...}, "standins": {...}} -> a RunResult object
           (`cache_key`: "" or the opaque key annotate.runs derives, see annotate.sandbox.inputs)
POST /cancel {"cancel_key"} -> {"stopped": N}: stops this runner's runs of that key (annotate.sandbox.cancel)
GET  /health -> {"ok": true, "ready": N, "starting": N, "running": N, "size": N, "last_error": "...",
                 "pools": {kind: {"ready", "starting", "running", "size", "last_error"}},
                 "skipped_uids": [{"uid": N, "pids": [N, ...]}]}  (uids left alone: processes no lease holds)
The top-level counts add up the pools of every kind; /health names no cache key, user or program.
Every POST needs `Authorization: Bearer <token>` (annotate.sandbox.runner_token), else 401 and nothing
runs. The boxes have no network, so programs cannot reach the runner.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from annotate.sandbox import cancel, inputs, uids
from annotate.sandbox.executor import execute
from annotate.sandbox.pool import WarmPool
from annotate.sandbox.result import RunResult
from annotate.sandbox.runner_token import runner_token

log = logging.getLogger(__name__)
# Files, read-only files and code, base64-encoded in JSON.
MAX_REQUEST_BYTES = (inputs.MAX_FILES_BYTES + inputs.MAX_READONLY_BYTES) * 3 // 2 + 2 * inputs.MAX_CODE_BYTES


def run_request(pools: dict[str, WarmPool], payload: Any) -> RunResult:
    """Validate one request and run it, warm when the pool of its kind has a box ready, cold otherwise."""
    job = inputs.job_from_payload(payload)
    pool = pools.get(job.kind)
    with pool.lend() if pool is not None else nullcontext() as box:
        result = execute(job, box)
    if box is None and result.status != "refused":
        result.note = f"cold start: no warm {job.kind} interpreter was ready in the runner"
    return result


def cancel_request(payload: Any) -> int:
    """Stop the runs of the request's cancel key; how many were running. Raises InvalidRunInput (a ValueError)."""
    if not isinstance(payload, dict):
        raise inputs.InvalidRunInput("the request must be a JSON object")
    key = inputs.check_cancel_key(payload.get("cancel_key"))
    if not key:
        raise inputs.InvalidRunInput("cancel_key is required")
    return cancel.stop(key)


class RunnerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], pools: dict[str, WarmPool] | WarmPool | None, token: str | None = None
    ) -> None:
        """`token` defaults to runner_token() (which may raise RunnerTokenError); an empty one is a ValueError."""
        # A single pool (tests, older callers) serves jax runs, as before pools per kind.
        self.pools = {"jax": pools} if isinstance(pools, WarmPool) else dict(pools or {})
        self.token = runner_token() if token is None else token
        if not self.token:
            raise ValueError("a runner needs a token: without one, any process on the machine could run programs")
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: RunnerServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode("utf-8"), f"Bearer {self.server.token}".encode())

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path != "/health":
            self._reply(404, {"error": "not found"})
            return
        pools = self.server.pools
        by_kind = {
            kind: {
                "ready": pool.ready_count,
                "starting": pool.starting_count,
                "running": pool.running_count,
                "size": pool.size,
                "last_error": pool.last_error,
            }
            for kind, pool in pools.items()
        }
        totals = {
            name: sum(pool[name] for pool in by_kind.values()) for name in ("ready", "starting", "running", "size")
        }
        errors = [f"{kind}: {pool['last_error']}" for kind, pool in by_kind.items() if pool["last_error"]]
        self._reply(
            200,
            {
                "ok": True,
                **totals,
                "last_error": "; ".join(errors),
                "pools": by_kind,
                "skipped_uids": [{"uid": uid, "pids": pids} for uid, pids in uids.skipped_uids().items()],
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if not self._authorised():
            self._reply(401, {"error": "a valid runner token is required"}, {"WWW-Authenticate": "Bearer"})
            return
        if self.path not in ("/run", "/cancel"):
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_REQUEST_BYTES:
            self._reply(400, {"error": f"body must be 1..{MAX_REQUEST_BYTES} bytes with a Content-Length"})
            return
        try:
            payload = json.loads(self.rfile.read(length))
            if self.path == "/cancel":
                self._reply(200, {"stopped": cancel_request(payload)})
                return
            result = run_request(self.server.pools, payload)
        except (ValueError, RecursionError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, result.as_dict())
