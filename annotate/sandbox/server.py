"""The runner: a local HTTP API in front of a warm pool, so all web workers share one pool.

POST /run  {"code", "kind", "user_key", "files": {name: base64}, "limits": {...}} -> a RunResult object
GET  /health -> {"ok": true, "ready": N, "starting": N, "running": N, "size": N, "last_error": "...",
                 "skipped_uids": [{"uid": N, "pids": [N, ...]}]}  (uids left alone: processes no lease holds)
With a token (T2J_RUNNER_TOKEN for `sandbox_server`), /run needs `Authorization: Bearer <token>` (401
otherwise). The boxes have no network, so programs cannot reach it.
"""

from __future__ import annotations

import hmac
import json
import logging
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from annotate.sandbox import inputs, uids
from annotate.sandbox.executor import execute
from annotate.sandbox.limits import Limits
from annotate.sandbox.pool import WarmPool
from annotate.sandbox.result import RunResult

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 32 * 1024**2


def run_request(pool: WarmPool | None, payload: Any) -> RunResult:
    """Validate one request and run it, warm when the pool has a box ready, cold otherwise."""
    if not isinstance(payload, dict):
        raise inputs.InvalidRunInput("the request must be a JSON object")
    code = inputs.check_code(payload.get("code"))
    kind = inputs.check_kind(payload.get("kind", "jax"))
    user_key = payload.get("user_key") or ""
    if not isinstance(user_key, str):
        raise inputs.InvalidRunInput("user_key must be text")
    files = inputs.decode_files(payload.get("files") or {})
    try:
        limits = Limits.resolve(payload.get("limits"))
    except (TypeError, ValueError) as exc:
        raise inputs.InvalidRunInput(str(exc)) from exc
    with pool.lend() if pool is not None else nullcontext() as box:
        result = execute(code, kind, user_key, files, limits, box)
    if box is None and result.status != "refused":
        result.note = "cold start: no warm interpreter was ready in the runner"
    return result


class RunnerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], pool: WarmPool | None, token: str = "") -> None:
        self.pool = pool
        self.token = token
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: RunnerServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        token = self.server.token
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode("utf-8"), f"Bearer {token}".encode())

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path != "/health":
            self._reply(404, {"error": "not found"})
            return
        pool = self.server.pool
        self._reply(
            200,
            {
                "ok": True,
                "ready": pool.ready_count if pool else 0,
                "starting": pool.starting_count if pool else 0,
                "running": pool.running_count if pool else 0,
                "size": pool.size if pool else 0,
                "last_error": pool.last_error if pool else "",
                "skipped_uids": [{"uid": uid, "pids": pids} for uid, pids in uids.skipped_uids().items()],
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if self.path != "/run":
            self._reply(404, {"error": "not found"})
            return
        if not self._authorised():
            self._reply(401, {"error": "a valid runner token is required"})
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
            result = run_request(self.server.pool, payload)
        except (ValueError, RecursionError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, result.as_dict())
