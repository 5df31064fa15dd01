"""Extra database aliases for tests that need a database of their own beside the test database."""

from __future__ import annotations

from django.db import connections


def register(alias: str, config: dict) -> None:
    """Make `alias` usable with `config` (an ENGINE/NAME/OPTIONS dict, e.g. from the settings' _database())."""
    connections.settings[alias] = {
        "TEST": {}, "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "CONN_HEALTH_CHECKS": False,
        **config,
    }  # fmt: skip


def forget(alias: str) -> None:
    """Close the alias's connection and remove it, so that a later alias of the same name starts afresh."""
    connections[alias].close()
    del connections[alias]
    del connections.settings[alias]
