"""The web side of the runner API: try each runner of T2J_RUNNER_URLS in turn, with the runner token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from annotate.sandbox.result import RunResult
from annotate.sandbox.runner_token import RunnerTokenError, is_loopback, runner_token

CONNECT_GRACE_S = 60.0  # on top of the wall limit: cache copy, box start when the pool is empty


def token_for(url: str) -> str:
    """The token to send to the runner at `url`. Raises RunnerTokenError.

    The token file is shared only with runners on this machine: one elsewhere needs T2J_RUNNER_TOKEN.
    """
    if not settings.T2J_RUNNER_TOKEN and not is_loopback(urlsplit(url).hostname):
        raise RunnerTokenError("T2J_RUNNER_TOKEN is required for a runner on another host")
    return runner_token()


CANCEL_TIMEOUT_S = 5.0


def cancel_remote(urls: list[str], cancel_key: str) -> int:
    """Ask every runner to stop its runs of `cancel_key`; how many they stopped (a runner that fails counts 0)."""
    body = json.dumps({"cancel_key": cancel_key}).encode("utf-8")
    stopped = 0
    for url in urls:
        try:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token_for(url)}"}
            request = urllib.request.Request(url.rstrip("/") + "/cancel", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=CANCEL_TIMEOUT_S) as response:
                answer = json.loads(response.read())
        except (RunnerTokenError, urllib.error.URLError, OSError, ValueError):
            continue  # nothing of ours runs there, or it is gone: either way nothing to stop
        if isinstance(answer, dict) and isinstance(answer.get("stopped"), int):
            stopped += answer["stopped"]
    return stopped


def run_remote(urls: list[str], payload: dict[str, Any], wall_s: float) -> tuple[RunResult | None, list[str]]:
    """The first runner's answer, or None with why each runner failed."""
    failures = []
    body = json.dumps(payload).encode("utf-8")
    for url in urls:
        try:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token_for(url)}"}
        except RunnerTokenError as exc:
            failures.append(f"{url}: {exc}")
            continue
        request = urllib.request.Request(url.rstrip("/") + "/run", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=wall_s + CONNECT_GRACE_S) as response:
                data = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if not isinstance(data, dict) or "status" not in data:
            failures.append(f"{url}: malformed answer")
            continue
        result = RunResult.from_dict(data)
        result.note = f"runner {url}" + (f"; {result.note}" if result.note else "")
        return result, failures
    return None, failures
