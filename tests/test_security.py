"""Web security basics (RELIABILITY.md cases 24, 25, 27, 28, 30, 31): headers, CSRF, escaping, lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import get_hasher
from django.test import Client
from django.urls import reverse

from annotate.templatetags.duration_tags import duration
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory, UserFactory
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

XSS = '<img src=x onerror=alert(1)></script><script>alert(2)</script>'


def test_csp_is_enforced_and_strict(developer_client):
    response = developer_client.get(reverse("home"))
    assert "Content-Security-Policy-Report-Only" not in response.headers
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline or eval'd script anywhere
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_clickjacking_and_sniffing_headers(developer_client):
    response = developer_client.get(reverse("home"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_post_without_csrf_token_is_refused(admin_user):
    system = SystemFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("annotate:system_recount", args=[system.name]))
    assert response.status_code == 403
    assert not system.jobs.exists()


def test_post_with_another_sessions_token_is_refused(admin_user):
    system = SystemFactory()
    other = Client(enforce_csrf_checks=True)
    other.force_login(make_user("admin"))
    other.get(reverse("annotate:system_detail", args=[system.name]))
    foreign_token = other.cookies["csrftoken"].value
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(
        reverse("annotate:system_recount", args=[system.name]), {"csrfmiddlewaretoken": foreign_token}
    )
    assert response.status_code == 403


def test_stored_payloads_are_escaped(developer_client):
    sample = SampleFactory(title=XSS, origin=XSS, pytorch_code=f"print('{XSS}')")
    TranslationFactory(sample=sample, failure_reason=XSS, draft_status="failed")
    for url in (reverse("annotate:sample_list"), sample.get_absolute_url()):
        body = developer_client.get(url).content.decode()
        assert "<img src=x" not in body and "<script>alert" not in body, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in body, url


def test_passwords_are_hashed_with_argon2():
    user = UserFactory()
    user.set_password("a long passphrase")
    assert user.password.startswith("argon2$")
    assert get_hasher().algorithm == "argon2"


def test_repeated_failed_logins_lock_the_account(client, settings):
    user = UserFactory(username="victim")
    user.set_password("right-password-123")
    user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "victim", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "victim", "password": "right-password-123"})
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    # It says for how long (the setting is 15 minutes unless the environment says otherwise).
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    assert f"logging in is locked for {minutes} minutes" in locked.content.decode()
    assert AccessAttempt.objects.get(username="victim").failures_since_start >= settings.AXES_FAILURE_LIMIT
    assert "_auth_user_id" not in client.session


def test_login_works_and_logout_needs_post(client):
    user = UserFactory(username="alice")
    user.set_password("right-password-123")
    user.save()
    response = client.post(reverse("login"), {"username": "alice", "password": "right-password-123"})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)
    assert client.get(reverse("logout")).status_code == 405
    logged_out = client.post(reverse("logout"), follow=True)
    assert '<li class="info">You are logged out.</li>' in logged_out.content.decode()
    assert "_auth_user_id" not in client.session


def test_there_is_no_self_signup(client):
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/register/").status_code == 404



@pytest.mark.parametrize(
    ("delta", "words"), [(timedelta(minutes=15), "15 minutes"), (timedelta(minutes=90), "1 hour 30 minutes")]
)
def test_a_lockout_says_its_length_in_words(delta, words):
    assert duration(delta) == words
