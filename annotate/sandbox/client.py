"""The web side of the runner API: try each runner of T2J_RUNNER_URLS in turn."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from annotate.sandbox.result import RunResult

CONNECT_GRACE_S = 60.0  # on top of the wall limit: cache copy, box start when the pool is empty


def run_remote(urls: list[str], payload: dict[str, Any], wall_s: float) -> tuple[RunResult | None, list[str]]:
    """The first runner's answer, or None with why each runner failed."""
    failures = []
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if settings.T2J_RUNNER_TOKEN:
        headers["Authorization"] = f"Bearer {settings.T2J_RUNNER_TOKEN}"
    for url in urls:
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
