"""Web security basics (RELIABILITY.md cases 24, 25, 27, 28, 30, 31): headers, CSRF, escaping, lockout, uploads."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django import forms
from django.contrib.auth.hashers import get_hasher
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate import fixlog
from annotate.forms import dataset as dataset_forms
from annotate.forms import drafting as drafting_forms
from annotate.forms import workspace as workspace_forms
from annotate.models import FixSession, Run, Sample
from annotate.roles import ADMIN, DEVELOPER, REVIEWER
from annotate.templatetags.duration_tags import duration
from evaluate.models import Comparison
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory, UserFactory
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


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


def _foreign_token() -> str:
    """A valid CSRF token, but another logged-in browser's."""
    other = Client(enforce_csrf_checks=True)
    other.force_login(make_user(ADMIN))
    other.get(reverse("home"))
    return other.cookies["csrftoken"].value


def _save(client):
    session = fixlog.claim(TranslationFactory(code="x = 1\n"), client.user)
    post = {"code": "x = 2\n", "version": 1}
    return reverse("workspace:code_save", args=[session.pk]), post, lambda: FixSession.objects.get().version == 1


def _run(client):
    session = fixlog.claim(TranslationFactory(code="x = 1\n"), client.user)
    post = {"code": "x = 2\n", "version": 1, "kind": "jax"}
    return reverse("workspace:run_create", args=[session.pk]), post, lambda: not Run.objects.exists()


def _import(client):
    data = b'{"Pytorch_to_JAX_Examples": []}'
    post = {"file": SimpleUploadedFile("data.json", data), "format": "auto"}
    return reverse("dataset:import_preview"), post, lambda: not Sample.objects.exists()


def _vote(client):
    sample = SampleFactory()
    TranslationFactory.create_batch(2, sample=sample)
    pair = re.search(r'name="pair" value="([^"]+)"', client.get(reverse("evaluate:review_compare")).content.decode())
    post = {"pair": pair.group(1), "verdict": "left", "reason": "Clearer."}
    return reverse("evaluate:comparison_vote"), post, lambda: not Comparison.objects.exists()


@pytest.mark.parametrize("token", ["missing", "another browser's"])
@pytest.mark.parametrize(
    ("action", "role"), [(_save, DEVELOPER), (_run, DEVELOPER), (_import, ADMIN), (_vote, REVIEWER)]
)
def test_saves_runs_imports_and_votes_need_this_browsers_csrf_token(action, role, token):
    client = Client(enforce_csrf_checks=True)
    client.user = make_user(role)
    client.force_login(client.user)
    url, post, unchanged = action(client)
    if token != "missing":
        post["csrfmiddlewaretoken"] = _foreign_token()

    response = client.post(url, post)

    assert response.status_code == 403
    assert unchanged()


def test_no_upload_is_served_back_and_no_form_takes_a_url(admin_client_role, settings):
    staging = settings.DATA_DIR / "import-staging"
    before = set(staging.iterdir()) if staging.exists() else set()
    file = SimpleUploadedFile("evil.html", b'{"Pytorch_to_JAX_Examples": []}', content_type="text/html")
    admin_client_role.post(reverse("dataset:import_preview"), {"file": file, "format": "auto"})
    (staged,) = set(staging.iterdir()) - before

    # The upload waits outside anything served, under a random name; no page or static route reaches it.
    for path in (f"/static/{staged.name}", f"/media/{staged.name}", "/static/evil.html", "/media/evil.html"):
        assert admin_client_role.get(path).status_code == 404, path
    staged.unlink()  # never confirmed: it would wait there for the next preview
    # Nothing fetches a URL on anyone's behalf (no SSRF): no form of the site has a URL field.
    for module in (dataset_forms, drafting_forms, workspace_forms):
        for form in vars(module).values():
            if isinstance(form, type) and issubclass(form, forms.BaseForm):
                assert not any(isinstance(f, forms.URLField) for f in form.base_fields.values()), form


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
