"""Admin and users who leave: a user the append-only history names is deactivated, never deleted (issue 17,
kind 6; it used to be a 500 from the append-only trigger)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from annotate import accounts, fixlog
from annotate.models import SessionEvent, SessionEventKind, SessionStatus
from tests.annotate.factories import FixStepFactory, TranslationFactory, UserFactory
from tests.conftest import make_user

User = get_user_model()
pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    """Who uses the Django admin: a superuser (`createsuperuser`)."""
    return User.objects.create_superuser("root", "root@example.org", "not-used-in-tests")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def claimed(developer):
    """The developer's open session on a draft (claiming writes a session event naming them)."""
    return fixlog.claim(TranslationFactory(), developer)


def _messages(response) -> str:
    return " | ".join(str(message) for message in get_messages(response.wsgi_request))


def test_deleting_a_user_who_claimed_a_session_is_refused_with_a_clear_message(admin_client, claimed, developer):
    url = reverse("admin:auth_user_delete", args=[developer.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "dev cannot be deleted" in text and "1 session event" in text
    assert reverse("admin:auth_user_deactivate", args=[developer.pk]) in text
    confirmed = admin_client.post(url, {"post": "yes"})  # the confirmation the stock page would take
    assert confirmed.status_code == 200 and "cannot be deleted" in confirmed.content.decode()
    assert User.objects.filter(pk=developer.pk, is_active=True).exists()
    assert SessionEvent.objects.filter(actor=developer).count() == 1


def test_the_refusal_counts_fix_steps_and_other_kept_history(claimed, developer):
    FixStepFactory(session=claimed, author=developer)
    assert accounts.describe_history(accounts.kept_history(developer)) == "1 fix step, 1 session event"


def test_bulk_delete_with_a_user_who_has_history_deletes_nobody_and_names_them(admin_client, claimed, developer):
    newcomer = UserFactory(username="newcomer")
    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [developer.pk, newcomer.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert User.objects.filter(pk__in=[developer.pk, newcomer.pk]).count() == 2
    message = _messages(response)
    assert "Nothing was deleted" in message and "dev (1 session event)" in message and "newcomer" not in message
    assert "Deactivate selected users" in message


def test_users_without_history_can_still_be_deleted_one_or_in_bulk(admin_client):
    one, two, three = (UserFactory(username=name) for name in ("one", "two", "three"))
    single = admin_client.post(reverse("admin:auth_user_delete", args=[one.pk]), {"post": "yes"})
    assert single.status_code == 302
    bulk = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [two.pk, three.pk], "post": "yes"},
    )
    assert bulk.status_code == 302
    assert not User.objects.filter(username__in=["one", "two", "three"]).exists()


def _assert_deactivated_and_released(user, session, admin) -> None:
    user.refresh_from_db()
    session.refresh_from_db()
    assert not user.is_active
    assert session.status == SessionStatus.ABANDONED
    event = session.events.last()
    assert (event.kind, event.actor) == (SessionEventKind.ABANDONED, admin)
    # Back in the queue: another developer can claim the draft.
    assert fixlog.claim(session.translation, make_user("developer", "successor")).owner.username == "successor"


def test_deactivate_turns_login_off_and_releases_open_sessions_with_an_event(
    admin_client, superuser, claimed, developer
):
    response = admin_client.post(reverse("admin:auth_user_deactivate", args=[developer.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:auth_user_change", args=[developer.pk])
    assert "dev is deactivated" in _messages(response) and "1 open session(s)" in _messages(response)
    _assert_deactivated_and_released(developer, claimed, superuser)


def test_the_bulk_deactivate_action_releases_every_selected_users_sessions(admin_client, superuser, claimed, developer):
    response = admin_client.post(
        reverse("admin:auth_user_changelist"), {"action": "deactivate_users", "_selected_action": [developer.pk]}
    )
    assert response.status_code == 302
    _assert_deactivated_and_released(developer, claimed, superuser)


def test_unticking_active_on_the_change_form_releases_the_sessions_too(admin_client, superuser, claimed, developer):
    form = {
        "username": developer.username,
        "is_active": "",
        "date_joined_0": developer.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": developer.date_joined.strftime("%H:%M:%S"),
        "groups": [group.pk for group in developer.groups.all()],
    }
    response = admin_client.post(reverse("admin:auth_user_change", args=[developer.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    _assert_deactivated_and_released(developer, claimed, superuser)


def test_deactivating_wants_a_post_from_someone_who_may_change_users(admin_client, developer, other_developer):
    url = reverse("admin:auth_user_deactivate", args=[developer.pk])
    assert admin_client.get(url).status_code == 405
    admin_client.force_login(other_developer)
    assert admin_client.post(url).status_code == 302  # not staff: to the admin login
    developer.refresh_from_db()
    assert developer.is_active
