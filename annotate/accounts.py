"""People leave, their history stays: a user named by the append-only record is deactivated, never deleted.

Deleting a user would null or cascade the rows that name them (session events, fix steps, comparisons,
judgements, imports), and those rows are append-only: the ORM, PROTECT keys or a database trigger refuse.
So deletion is for accounts with no such history; everyone else is deactivated, which also hands their
open sessions back to the queue.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction

from annotate import fixlog
from annotate.models import AppendOnlyModel, FixSession, SessionStatus


def kept_history(user: AbstractBaseUser) -> dict[type[models.Model], int]:
    """Records naming `user` that must keep doing so: model -> count of rows; {} when the user may be deleted.

    Found from the user model's reverse relations, so a new kind of record is covered when it is added: rows
    of append-only models (a SET_NULL there would be an UPDATE the trigger refuses) and rows whose key to the
    user is PROTECT.
    """
    counts: Counter[type[models.Model]] = Counter()
    # include_hidden: keys with related_name="+" (e.g. SessionEvent.actor) count as much as the others.
    for relation in type(user)._meta.get_fields(include_hidden=True):
        if relation.concrete or not (relation.one_to_many or relation.one_to_one):
            continue
        model = relation.related_model
        if not (issubclass(model, AppendOnlyModel) or relation.on_delete is models.PROTECT):
            continue
        found = model._base_manager.filter(**{relation.field.name: user}).count()
        if found:
            counts[model] += found
    return dict(counts)


def describe_history(history: dict[type[models.Model], int]) -> str:
    """E.g. '1 session event, 2 fix steps'."""
    parts = []
    for model, count in history.items():
        name = model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural
        parts.append(f"{count} {name}")
    return ", ".join(sorted(parts, key=lambda part: part.split(" ", 1)[1]))


def deactivate(user: AbstractBaseUser, actor) -> int:
    """Turn `user`'s login off and give their open sessions back to the queue (each with an `abandoned` event
    by `actor`, who must be an admin: fixlog.NotAllowed otherwise, and then nothing changes). Returns how many
    sessions were released."""
    with transaction.atomic():
        sessions = list(FixSession.objects.select_for_update().filter(owner=user, status=SessionStatus.OPEN))
        for session in sessions:
            fixlog.abandon(session, actor)
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
    return len(sessions)


def said_logged_out(sender, request, user, **kwargs) -> None:
    """user_logged_out receiver: the log-in page the person lands on says they are logged out."""
    # The message is kept in a cookie (the session it would live in is flushed right after this signal).
    if request is not None and user is not None:
        messages.info(request, "You are logged out.")
