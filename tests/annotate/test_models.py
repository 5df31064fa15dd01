"""Rules the records keep by themselves: append-only steps, one live session, visibility, job progress, whether a
session has code."""

from __future__ import annotations

import sys

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from annotate.models import WHITESPACE, AppendOnlyError, FixSession, FixStep, Job, Run, SessionStatus
from evaluate.models import Comparison, Judgement
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    JobFactory,
    RunFactory,
    TranslationFactory,
    UserFactory,
)
from tests.evaluate.factories import ComparisonFactory, JudgementFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("factory", [FixStepFactory, ComparisonFactory, JudgementFactory])
def test_append_only_rows_refuse_save_update_and_delete(factory):
    row = factory()
    model = type(row)
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).update(created_at=row.created_at)
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        row.delete()
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", [FixStep, Comparison, Judgement])
def test_raw_sql_update_is_blocked_by_a_trigger(model):
    factory = {FixStep: FixStepFactory, Comparison: ComparisonFactory, Judgement: JudgementFactory}[model]
    row = factory()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {model._meta.db_table} SET created_at = created_at WHERE id = %s", [row.pk])


def test_a_session_with_steps_cannot_be_deleted():
    step = FixStepFactory()
    with pytest.raises(ProtectedError):
        step.session.delete()


def test_retraction_is_a_new_row_and_both_stop_counting():
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    kept = FixStepFactory(session=session, index=1)
    mistaken = FixStepFactory(session=session, index=2)
    FixStep.objects.create(session=session, index=3, retracts=mistaken, author=mistaken.author)
    assert list(session.counted_steps()) == [kept]
    assert session.fixcost == 1
    assert list(FixStep.objects.shared()) == [kept]


def test_steps_of_open_sessions_are_not_shared():
    FixStepFactory(session=FixSessionFactory(status=SessionStatus.OPEN))
    assert not FixStep.objects.shared().exists()


def test_only_one_live_session_per_translation():
    translation = TranslationFactory()
    FixSessionFactory(translation=translation, status=SessionStatus.ABANDONED)
    FixSessionFactory(translation=translation, status=SessionStatus.OPEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        FixSessionFactory(translation=translation, status=SessionStatus.OPEN)


def test_open_sessions_and_their_runs_are_visible_to_owner_and_admins_only(admin_user):
    owner, stranger = UserFactory(), UserFactory()
    open_session = FixSessionFactory(owner=owner)
    verified = FixSessionFactory(status=SessionStatus.VERIFIED)
    run = RunFactory(user=owner, session=open_session)
    assert set(FixSession.objects.visible_to(owner)) == {open_session, verified}
    assert set(FixSession.objects.visible_to(stranger)) == {verified}
    assert set(FixSession.objects.visible_to(admin_user)) == {open_session, verified}
    assert run in Run.objects.visible_to(owner)
    assert run not in Run.objects.visible_to(stranger)


def test_job_progress_counts_in_the_database():
    job = JobFactory(total=4)
    stale_copy = Job.objects.get(pk=job.pk)
    job.advance(done=1)
    stale_copy.advance(done=1, failed=1, message="one failed")
    job.refresh_from_db()
    assert (job.done, job.failed, job.percent, job.message) == (2, 1, 75, "one failed")


def test_job_progress_counts_a_yes_or_no_as_one_or_none():
    # "done if it worked" is a bool at the call site; PostgreSQL refused integer + boolean.
    job = JobFactory(total=2)
    job.advance(done=True, failed=False)
    job.advance(done=False, failed=True)
    assert (job.done, job.failed) == (1, 1)


def test_extra_keys_keep_their_order():
    extra = {"zeta": 1, "Error_Context": "ctx", "alpha": [1, {"b": 2, "a": 1}]}
    step = FixStepFactory(extra=extra)
    assert list(FixStep.objects.get(pk=step.pk).extra.items()) == list(extra.items())


def test_blank_is_what_python_strips():
    assert set(WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


BLANK_AND_NOT = ["", "  \n\t", "\r\n\x0b\x0c", "\xa0\u3000\u2028\x85", "x", "  pass\n", "\xa0x\xa0", "é", "€\u2000"]


def _has_code(session) -> bool:
    return FixSession.objects.values_list("has_code", flat=True).get(pk=session.pk)


@pytest.mark.parametrize("code", BLANK_AND_NOT)
def test_has_code_is_kept_by_the_database_however_the_code_is_written(code):
    """Whatever writes current_code (save, update() without save, bulk writes, raw SQL), has_code says what
    Python's str.strip() says: nothing left means blank."""
    expected = bool(code.strip())
    assert _has_code(FixSessionFactory(current_code=code)) is expected

    session = FixSessionFactory(current_code="print(1)\n")
    FixSession.objects.filter(pk=session.pk).update(current_code=code)
    assert _has_code(session) is expected

    session.current_code = "print(2)\n"
    FixSession.objects.bulk_update([session], ["current_code"])
    assert _has_code(session) is True
    [created] = FixSession.objects.bulk_create(
        [FixSession(translation=TranslationFactory(), status=SessionStatus.VERIFIED, current_code=code)]
    )
    assert _has_code(created) is expected

    with connection.cursor() as cursor:
        table = FixSession._meta.db_table
        cursor.execute(f"UPDATE {table} SET current_code = %s WHERE id = %s", [code, session.pk])  # noqa: S608
    assert _has_code(session) is expected
