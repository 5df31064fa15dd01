"""Shared fixtures: users with roles, logged-in clients. Factories live in tests/<app>/factories.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from annotate.roles import ADMIN, DEVELOPER, REVIEWER
from tests.annotate.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` run only against PostgreSQL (`make test-postgres`); elsewhere they are
    deselected, not skipped, the way that run deselects the browser and sandbox tests."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    elsewhere = [item for item in items if item.get_closest_marker("postgres")]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.fixture(autouse=True)
def _tasks_run_immediately(settings):
    """Tasks run inline in tests so their effects can be asserted; the worker path is tested apart."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def make_user(role: str | None, username: str | None = None):
    user = UserFactory(**({"username": username} if username else {}))
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def developer(db):
    return make_user(DEVELOPER, "dev")


@pytest.fixture
def other_developer(db):
    return make_user(DEVELOPER, "dev2")


@pytest.fixture
def reviewer(db):
    return make_user(REVIEWER, "rev")


@pytest.fixture
def admin_user(db):
    return make_user(ADMIN, "boss")


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def developer_client(client, developer):
    return _client_for(client, developer)


@pytest.fixture
def reviewer_client(client, reviewer):
    return _client_for(client, reviewer)


@pytest.fixture
def admin_client_role(client, admin_user):
    return _client_for(client, admin_user)
