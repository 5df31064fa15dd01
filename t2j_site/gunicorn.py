"""gunicorn settings for the web process (`gunicorn -c t2j_site/gunicorn.py t2j_site.wsgi`), from the environment.

Threaded workers: a request that runs a program waits for the sandbox (up to T2J_RUN_WALL_S plus start-up)
and must not hold a whole process. Static files are served by WhiteNoise inside Django (after collectstatic).
"""

from __future__ import annotations

import os
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("T2J_WEB_THREADS", "8"))
# Longer than the slowest request: a sandbox run (wall clock limit plus a cold start) or a large download.
timeout = int(os.environ.get("T2J_WEB_TIMEOUT_S", "120"))
graceful_timeout = 30
# Longer than people (and the load test's simulated people, 1-3 s) pause between requests: with gunicorn's
# 2 s a request sent on a kept-alive connection as the server closes it gets "connection reset".
keepalive = int(os.environ.get("T2J_WEB_KEEPALIVE_S", "5"))
# Recycle a worker now and then so a slow leak cannot grow without bound; jitter keeps them from restarting
# together.
max_requests = int(os.environ.get("T2J_WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = os.environ.get("T2J_WEB_ACCESS_LOG", "-") or None  # empty: no access log
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two installations on a
# machine would take each other's. Each one keeps it in its own data folder.
_data_dir = Path(os.environ.get("T2J_DATA_DIR") or Path(__file__).resolve().parent.parent / "var")
control_socket = str(_data_dir / "gunicorn.ctl")
