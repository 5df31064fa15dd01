"""The sandbox runner: `manage.py sandbox_server [--bind ADDRESS] [--port N] [--pool-size N]
[--pytorch-pool-size N] [--contract-pool-size N]`."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotate.sandbox.box import preflight
from annotate.sandbox.pool import POOL_SETTINGS, pools_from_settings
from annotate.sandbox.runner_token import RunnerTokenError, is_loopback, runner_token
from annotate.sandbox.server import RunnerServer


def default_port() -> int:
    urls = settings.T2J_RUNNER_URLS
    return (urlsplit(urls[0]).port if urls else None) or 8765


class Command(BaseCommand):
    help = "Serve sandbox runs from a pool of pre-warmed interpreters."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--bind", default="127.0.0.1", help="address to listen on; beyond loopback T2J_RUNNER_TOKEN is required"
        )
        parser.add_argument("--port", type=int, default=None, help="default: the port of T2J_RUNNER_URLS[0]")
        parser.add_argument("--pool-size", type=int, default=None, help="jax boxes; default: T2J_RUNNER_POOL_SIZE")
        parser.add_argument(
            "--pytorch-pool-size", type=int, default=None, help="torch boxes; default: T2J_RUNNER_POOL_SIZE_PYTORCH"
        )
        parser.add_argument(
            "--contract-pool-size", type=int, default=None, help="default: T2J_RUNNER_POOL_SIZE_CONTRACT"
        )

    def handle(self, *args, bind: str, port: int | None, **options) -> None:
        if not is_loopback(bind) and not settings.T2J_RUNNER_TOKEN:
            raise CommandError(f"refusing to listen on {bind} without T2J_RUNNER_TOKEN: anyone could run programs")
        problem = preflight()
        if problem:
            # Still serve: every run is answered `refused` with the reason, never run unsandboxed.
            self.stderr.write(problem)
        sizes = {}
        for kind, option in (
            ("jax", "pool_size"),
            ("pytorch", "pytorch_pool_size"),
            ("contract", "contract_pool_size"),
        ):
            size = options[option] if options[option] is not None else getattr(settings, POOL_SETTINGS[kind][0])
            if size < 0:
                raise CommandError(f"--{option.replace('_', '-')} must be >= 0")
            sizes[kind] = size
        try:
            token = runner_token()  # T2J_RUNNER_TOKEN, else the file shared with the web app (made now if new)
        except RunnerTokenError as exc:
            raise CommandError(str(exc)) from exc
        pools = pools_from_settings(sizes)
        server = RunnerServer((bind, port or default_port()), pools, token=token)
        host, bound = server.server_address[:2]
        described = ", ".join(f"{kind} {pool.size} ({', '.join(pool.preload)})" for kind, pool in pools.items())
        token_from = "T2J_RUNNER_TOKEN" if settings.T2J_RUNNER_TOKEN else settings.T2J_RUNNER_TOKEN_FILE
        self.stdout.write(
            f"sandbox runner on http://{host}:{bound} (warm pools: {described or 'none'}; token: {token_from})"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            for pool in pools.values():
                pool.stop()
