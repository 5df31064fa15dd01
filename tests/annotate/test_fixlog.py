from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate import contracts, diffs, fixlog, prefill, runs
from annotate.models import (
    FixSession,
    FixStep,
    RunKind,
    RunStatus,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
)
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    RunFactory,
    SampleFactory,
    TranslationFactory,
)
from tests.annotate.fix_sessions import DRAFT, FIXED, failing_run, open_session

pytestmark = pytest.mark.django_db

# --- claims ---


def test_claim_opens_a_session_with_the_draft_code_and_records_it(developer):
    translation = TranslationFactory(code=DRAFT)

    session = fixlog.claim(translation, developer)

    assert (session.status, session.owner, session.current_code, session.version) == ("open", developer, DRAFT, 1)
    assert list(session.events.values_list("kind", flat=True)) == [SessionEventKind.CLAIMED]


def test_claiming_twice_returns_the_same_session(developer):
    translation = TranslationFactory()

    assert fixlog.claim(translation, developer) == fixlog.claim(translation, developer)
    assert FixSession.objects.count() == 1


def test_a_taken_translation_cannot_be_claimed_by_someone_else(developer, other_developer):
    translation = TranslationFactory()
    fixlog.claim(translation, developer)

    with pytest.raises(fixlog.WorkspaceError, match="Someone else"):
        fixlog.claim(translation, other_developer)
    assert FixSession.objects.get().owner == developer


def test_a_verified_translation_cannot_be_claimed(developer):
    session = FixSessionFactory(status=SessionStatus.VERIFIED)

    with pytest.raises(fixlog.WorkspaceError, match="already verified"):
        fixlog.claim(session.translation, developer)


def test_a_failed_draft_cannot_be_claimed(developer):
    with pytest.raises(fixlog.WorkspaceError, match="failed"):
        fixlog.claim(TranslationFactory(draft_status="failed"), developer)
    assert not FixSession.objects.exists()


def test_abandon_returns_the_translation_to_the_queue(developer):
    session = open_session(developer)

    fixlog.abandon(session, developer)

    assert session.translation in fixlog.queue()
    assert session.events.last().kind == SessionEventKind.ABANDONED
    assert fixlog.claim(session.translation, developer) != session


def test_others_cannot_abandon_a_session(developer, other_developer):
    session = open_session(developer)

    with pytest.raises(fixlog.NotAllowed):
        fixlog.abandon(session, other_developer)
    session.refresh_from_db()
    assert session.status == "open"


def test_idle_claims_expire_and_return_to_the_queue(developer, settings):
    settings.T2J_CLAIM_EXPIRY_HOURS = 48
    stale = open_session(developer)
    fresh = open_session(developer)
    FixSession.objects.filter(pk=stale.pk).update(last_activity_at=timezone.now() - timedelta(hours=49))
    FixSession.objects.filter(pk=fresh.pk).update(last_activity_at=timezone.now() - timedelta(hours=47))

    assert fixlog.expire_stale_claims() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("abandoned", "open")
    assert stale.events.last().kind == SessionEventKind.EXPIRED
    assert stale.events.last().detail["expiry_hours"] == 48


def test_an_expired_claim_can_be_claimed_by_someone_else(developer, other_developer):
    session = open_session(developer)
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(days=3))

    taken = fixlog.claim(session.translation, other_developer)

    assert taken.owner == other_developer
    session.refresh_from_db()
    assert session.status == "abandoned"


def test_saving_keeps_a_claim_alive(developer):
    session = open_session(developer)
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(hours=47))
    session.refresh_from_db()

    fixlog.save_code(session, FIXED, session.version, developer)

    assert fixlog.expire_stale_claims(now=timezone.now() + timedelta(hours=2)) == 0


def test_an_admin_reassigns_an_open_session_and_it_is_recorded(developer, other_developer, admin_user):
    session = open_session(developer)

    fixlog.reassign(session, other_developer, admin_user)

    session.refresh_from_db()
    event = session.events.last()
    assert session.owner == other_developer
    assert (event.kind, event.actor, event.detail) == ("reassigned", admin_user, {"from": "dev", "to": "dev2"})


def test_a_developer_cannot_reassign(developer, other_developer):
    session = open_session(developer)

    with pytest.raises(fixlog.NotAllowed):
        fixlog.reassign(session, other_developer, developer)
    assert FixSession.objects.get().owner == developer


def test_an_admin_reopens_a_verified_session_keeping_the_old_verification_in_the_event(developer, admin_user):
    session = open_session(developer)
    run = RunFactory(session=session, code=session.current_code, user=developer)
    fixlog.verify(session, developer, confirmed=True)

    fixlog.reopen(session, admin_user)

    session.refresh_from_db()
    event = session.events.last()
    assert (session.status, session.verified_at, session.verification) == ("open", None, {})
    assert event.kind == SessionEventKind.REOPENED
    assert event.detail["verification"] == {"method": "clean-run", "run": run.pk, "confirmed": True}


def test_reopen_refuses_an_open_session(developer, admin_user):
    with pytest.raises(fixlog.WorkspaceError, match="Only a verified"):
        fixlog.reopen(open_session(developer), admin_user)


def test_the_queue_filters_by_system_origin_and_difficulty():
    wanted = TranslationFactory(sample=SampleFactory(origin="TorchLeet", difficulty="hard"))
    TranslationFactory(sample=SampleFactory(origin="TorchLeet", difficulty="easy"))
    TranslationFactory(sample=SampleFactory(origin="other", difficulty="hard"))

    assert list(fixlog.queue(origin="TorchLeet", difficulty="hard")) == [wanted]
    assert list(fixlog.queue(system=wanted.system.name)) == [wanted]


def test_the_queue_leaves_out_verified_and_failed_drafts_but_keeps_taken_ones(developer):
    taken = open_session(developer).translation
    FixSessionFactory(status=SessionStatus.VERIFIED)
    TranslationFactory(draft_status="failed")

    assert list(fixlog.queue()) == [taken]


# --- saving ---


def test_save_bumps_the_version(developer):
    session = open_session(developer)

    fixlog.save_code(session, FIXED, 1, developer)

    session.refresh_from_db()
    assert (session.current_code, session.version) == (FIXED, 2)


def test_a_stale_save_is_refused_with_the_diff_and_nothing_is_overwritten(developer):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)  # the other tab

    with pytest.raises(fixlog.VersionConflict) as conflict:
        fixlog.save_code(session, DRAFT + "# mine\n", 1, developer)

    session.refresh_from_db()
    assert (session.current_code, session.version) == (FIXED, 2)
    assert conflict.value.current_version == 2 and conflict.value.current_code == FIXED
    assert (-1, "x = x.at[0].set(1.0)\n") in conflict.value.diff
    assert (1, "x[0] = 1.0\n") in conflict.value.diff and (1, "# mine\n") in conflict.value.diff
    assert "version 2" in str(conflict.value)


def test_saving_the_same_code_with_an_old_version_is_not_a_conflict(developer):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)

    fixlog.save_code(session, FIXED, 1, developer)

    assert FixSession.objects.get().version == 2


def test_only_the_owner_saves(developer, other_developer, admin_user):
    session = open_session(developer)

    for user in (other_developer, admin_user):
        with pytest.raises(fixlog.NotAllowed):
            fixlog.save_code(session, FIXED, 1, user)
    assert FixSession.objects.get().current_code == DRAFT


def test_a_verified_session_cannot_be_saved(developer):
    session = FixSessionFactory(owner=developer, status=SessionStatus.VERIFIED)

    with pytest.raises(fixlog.WorkspaceError, match="verified"):
        fixlog.save_code(session, FIXED, session.version, developer)


# --- steps ---


def test_record_step_stores_full_code_run_time_and_edit_size(developer):
    session = open_session(developer)
    run = failing_run(session)
    FixSession.objects.filter(pk=session.pk).update(claimed_at=timezone.now() - timedelta(minutes=5))
    session.refresh_from_db()
    fixlog.save_code(session, FIXED, 1, developer)

    step = fixlog.record_step(
        session,
        developer,
        fix_info="Use .at[].set()",
        error="TypeError",
        run=run,
        error_code="x[0] = 1.0",
        fixed_code="x = x.at[0].set(1.0)",
        category="",
    )

    assert (step.index, step.code_before, step.code_after, step.run, step.author) == (1, DRAFT, FIXED, run, developer)
    assert 299 <= step.time_spent_s <= 310
    assert step.edit_size == diffs.edit_size(DRAFT, FIXED)
    assert step.category == "inplace-mutation"  # suggested when left empty


def test_the_next_step_starts_from_the_last_snapshot(developer):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)
    fixlog.record_step(session, developer, fix_info="first", no_error=True)
    final = FIXED + "print('done')\n"
    fixlog.save_code(session, final, 2, developer)

    second = fixlog.record_step(session, developer, fix_info="second", no_error=True)

    assert (second.index, second.code_before, second.code_after) == (2, FIXED, final)
    assert prefill.prefill_step(session).code_before == final


@pytest.mark.parametrize("description", ["", "   \n"])
def test_a_step_needs_a_fix_description(developer, description):
    session = open_session(developer)

    with pytest.raises(fixlog.WorkspaceError, match="description is required"):
        fixlog.record_step(session, developer, fix_info=description)
    assert not FixStep.objects.exists()


def test_a_step_refuses_an_unknown_category_and_a_foreign_run(developer, other_developer):
    session = open_session(developer)
    foreign = failing_run(open_session(other_developer))

    with pytest.raises(fixlog.WorkspaceError, match="category"):
        fixlog.record_step(session, developer, fix_info="x", category="bogus")
    with pytest.raises(fixlog.WorkspaceError, match="run"):
        fixlog.record_step(session, developer, fix_info="x", run=foreign)
    assert not FixStep.objects.exists()


def test_a_step_says_where_its_error_came_from(developer):
    session = open_session(developer)
    run = failing_run(session)
    contract_run = failing_run(session, kind=RunKind.CONTRACT, verdict="failed")

    from_run = fixlog.record_step(session, developer, fix_info="a", error="E1", run=run)
    from_contract = fixlog.record_step(session, developer, fix_info="b", error="mismatch", run=contract_run)
    written = fixlog.record_step(session, developer, fix_info="c", error="seen in the notebook")
    none = fixlog.record_step(session, developer, fix_info="d", no_error=True)

    assert [s.error_source for s in (from_run, from_contract, written, none)] == [
        "run", "contract", "written", "no-error"
    ]  # fmt: skip
    assert (from_contract.run, none.error) == (contract_run, "")


def test_a_step_without_an_error_must_say_it_has_none(developer):
    session = open_session(developer)
    run = failing_run(session)

    with pytest.raises(fixlog.WorkspaceError, match="no error: behaviour change"):
        fixlog.record_step(session, developer, fix_info="x")
    with pytest.raises(fixlog.WorkspaceError, match="keep one of them"):
        fixlog.record_step(session, developer, fix_info="x", error="E", no_error=True)
    with pytest.raises(fixlog.WorkspaceError, match="cannot also name a run"):
        fixlog.record_step(session, developer, fix_info="x", run=run, no_error=True)
    assert not FixStep.objects.exists()


def test_the_category_reason_is_stored_suggested_or_chosen(developer):
    session = open_session(developer)
    error = "NameError: name 'optax' is not defined"

    suggested = fixlog.record_step(session, developer, fix_info="import optax", error=error)
    chosen = fixlog.record_step(session, developer, fix_info="import optax", error=error, category="other")

    assert (suggested.category, suggested.category_reason) == (
        "missing-import", "suggested: 'optax' is a library name that was never imported"
    )  # fmt: skip
    assert chosen.category == "other"
    assert chosen.category_reason.startswith("chosen by the developer (suggested missing-import: ")


def test_a_step_repeating_an_earlier_one_is_flagged_and_still_counts(developer):
    session = open_session(developer)
    fields = {"fix_info": "split the key", "error": "E", "error_code": "k = key", "fixed_code": "k, sub = split(key)"}
    first = fixlog.record_step(session, developer, **fields)
    retracted = fixlog.record_step(session, developer, fix_info="other", error="F", error_code="a", fixed_code="b")
    fixlog.retract(retracted, developer)

    again = fixlog.record_step(session, developer, **fields)
    same_fix = fixlog.record_step(session, developer, **{**fields, "fix_info": "split the key again, really"})
    like_retracted = fixlog.record_step(session, developer, fix_info="other", error="F", error_code="a", fixed_code="b")

    assert first.flags == []
    assert again.flags == [{"kind": "duplicate", "of": first.index}]
    assert same_fix.flags == [{"kind": "repeat", "of": first.index}]
    assert like_retracted.flags == []  # retracted steps count nowhere, not even here
    assert session.fixcost == 4


def test_only_the_owner_records_steps(developer, other_developer):
    session = open_session(developer)

    with pytest.raises(fixlog.NotAllowed):
        fixlog.record_step(session, other_developer, fix_info="sneaky")


def test_retraction_adds_a_row_and_the_step_no_longer_counts(developer):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)
    step = fixlog.record_step(session, developer, fix_info="wrong", no_error=True)

    retraction = fixlog.retract(step, developer, "recorded by mistake")

    assert (retraction.retracts, retraction.index, retraction.fix_info) == (step, 2, "recorded by mistake")
    assert session.fixcost == 0
    assert FixStep.objects.count() == 2
    # The retracted step's change is folded into the next step.
    assert fixlog.last_snapshot(session) == DRAFT


def test_a_step_is_retracted_once_and_only_by_its_author(developer, other_developer, admin_user):
    session = open_session(developer)
    step = fixlog.record_step(session, developer, fix_info="x", no_error=True)

    with pytest.raises(fixlog.NotAllowed):
        fixlog.retract(step, admin_user)
    retraction = fixlog.retract(step, developer)
    with pytest.raises(fixlog.WorkspaceError, match="already retracted"):
        fixlog.retract(step, developer)
    with pytest.raises(fixlog.WorkspaceError, match="cannot itself"):
        fixlog.retract(retraction, developer)
    assert FixStep.objects.count() == 2


def test_steps_of_a_verified_session_cannot_be_retracted(developer):
    step = FixStepFactory(session__owner=developer, session__status=SessionStatus.VERIFIED, author=developer)

    with pytest.raises(fixlog.WorkspaceError, match="verified"):
        fixlog.retract(step, developer)


# --- verify ---


def test_verify_needs_a_clean_run_of_the_current_code(developer):
    session = open_session(developer)
    RunFactory(session=session, code=DRAFT, status=RunStatus.OK)
    fixlog.save_code(session, FIXED, 1, developer)

    with pytest.raises(fixlog.WorkspaceError, match="clean run"):
        fixlog.verify(session, developer, confirmed=True)
    failing_run(session, code=FIXED)
    with pytest.raises(fixlog.WorkspaceError, match="clean run"):
        fixlog.verify(session, developer, confirmed=True)
    assert FixSession.objects.get().status == "open"


def test_verify_needs_an_explicit_confirmation(developer):
    session = open_session(developer)
    RunFactory(session=session, code=session.current_code, status=RunStatus.OK)

    with pytest.raises(fixlog.WorkspaceError, match="Confirm"):
        fixlog.verify(session, developer, confirmed=False)
    assert FixSession.objects.get().status == "open"


def test_verify_closes_the_session_and_records_how(developer):
    session = open_session(developer)
    run = RunFactory(session=session, code=session.current_code, status=RunStatus.OK)
    FixStepFactory(session=session, author=developer)

    outcome = fixlog.verify(session, developer, confirmed=True)

    session.refresh_from_db()
    assert outcome.passed and outcome.run_id == run.pk
    assert (session.status, session.verified_run) == ("verified", run)
    assert session.verified_at is not None
    assert session.verification == {"method": "clean-run", "run": run.pk, "confirmed": True}
    assert SessionEvent.objects.filter(session=session, kind="verified", actor=developer).exists()
    assert fixlog.summary(session).fixcost == 1
    assert session.translation not in fixlog.queue()


@pytest.mark.parametrize("passed", [True, False])
def test_a_contract_sample_is_verified_only_when_its_contract_passes(developer, monkeypatch, passed):
    """The gate's bookkeeping; real contract runs are tested in test_contracts.py."""
    stages = [{"name": "spec", "status": "passed"}, {"name": "numeric", "status": "passed" if passed else "failed"}]
    monkeypatch.setattr(
        contracts, "check", lambda session: contracts.VerificationOutcome(passed=passed, stages=stages, run_id=None)
    )
    session = open_session(developer, sample=SampleFactory(contract="def spec(): ...", contract_version=3))

    outcome = fixlog.verify(session, developer, confirmed=False)

    session.refresh_from_db()
    assert outcome.passed is passed
    if passed:
        assert session.status == "verified"
        assert session.verification == {"method": "contract", "stages": stages, "run": None, "contract_version": 3}
        assert session.contract_version == 3
    else:
        assert session.status == "open" and outcome.message


def test_summary_counts_non_retracted_steps_and_their_time(developer):
    session = open_session(developer)
    kept = FixStepFactory(session=session, index=1, author=developer, time_spent_s=30.0)
    wrong = FixStepFactory(session=session, index=2, author=developer, time_spent_s=99.0)
    FixStepFactory(session=session, index=3, author=developer, retracts=wrong, time_spent_s=None)

    summary = fixlog.summary(session)

    assert (summary.fixcost, summary.steps_time_s) == (1, kept.time_spent_s)


def test_the_expire_claims_command_reports_what_it_expired(developer):
    from io import StringIO

    from django.core.management import call_command

    session = open_session(developer)
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(days=3))
    out = StringIO()

    call_command("expire_claims", stdout=out)

    assert out.getvalue().startswith("1 claim idle over 48 h")
    assert FixSession.objects.get().status == "abandoned"


def test_a_claim_without_an_activity_time_expires_from_its_claim_time(developer):
    session = open_session(developer)
    FixSession.objects.filter(pk=session.pk).update(
        last_activity_at=None, claimed_at=timezone.now() - timedelta(hours=49)
    )

    assert fixlog.expire_stale_claims() == 1


def test_saving_into_an_expired_session_says_so(developer):
    session = open_session(developer)
    FixSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now() - timedelta(days=3))
    fixlog.expire_stale_claims()

    with pytest.raises(fixlog.WorkspaceError, match="abandoned"):
        fixlog.save_code(FixSession.objects.get(), FIXED, 1, developer)


# --- the contract panel and the badge ---

TINY_CONTRACT = (
    "from t2j_contract import require\n\n"
    "def spec(torch_program, jax_program):\n    require(jax_program, 'double', params=1)\n"
)
PASSED = [
    {"name": "spec", "status": "passed", "mismatch": None},
    {"name": "numeric", "status": "passed", "mismatch": None},
]


def test_the_badge_of_a_clean_run_verification_says_so(developer):
    session = open_session(developer)
    RunFactory(session=session, code=session.current_code, status=RunStatus.OK)
    assert fixlog.verification_badge(session) == ""

    fixlog.verify(session, developer, confirmed=True)

    assert fixlog.verification_badge(session) == "verified by a clean run (output confirmed by the developer)"


def test_the_badge_of_a_contract_verification_names_the_stages_that_ran():
    session = FixSessionFactory(
        status=SessionStatus.VERIFIED,
        verification={"method": "contract", "stages": PASSED, "run": None, "contract_version": 4},
        contract_version=4,
    )
    assert fixlog.verification_badge(session) == "verified by contract v4: spec ✓ numeric ✓"


def test_the_badge_of_an_imported_verified_session_says_there_is_no_record():
    session = FixSessionFactory(status=SessionStatus.VERIFIED, verification={})
    assert fixlog.verification_badge(session) == "verified (imported; no verification record)"
    session.verification = {"method": "demo"}
    assert fixlog.verification_badge(session) == "verified (demo; no check recorded here)"


def test_running_the_contract_needs_a_contract(developer):
    session = open_session(developer)
    with pytest.raises(fixlog.WorkspaceError, match="no contract"):
        fixlog.check_contract(session, developer)


def test_only_the_owner_of_an_open_session_runs_its_contract(developer, other_developer):
    session = open_session(developer, sample=SampleFactory(contract=TINY_CONTRACT))
    with pytest.raises(fixlog.NotAllowed):
        fixlog.check_contract(session, other_developer)
    # The owner loses the right once the session is closed.
    FixSession.objects.filter(pk=session.pk).update(status=SessionStatus.VERIFIED)
    session.refresh_from_db()
    with pytest.raises(fixlog.WorkspaceError, match="verified"):
        fixlog.check_contract(session, developer)


@pytest.mark.sandbox
def test_an_admin_re_checks_a_stale_verified_session_without_changing_it(admin_user, settings, tmp_path):
    from tests.annotate.sandbox_support import require_sandbox

    require_sandbox()
    settings.T2J_RUNNER_URLS = []
    settings.T2J_COMPILE_CACHE_DIR = tmp_path / "compile-cache"
    sample = SampleFactory(
        pytorch_code="def double(x):\n    return 2 * x\n", contract=TINY_CONTRACT, contract_version=2
    )
    session = FixSessionFactory(
        translation=TranslationFactory(sample=sample),
        status=SessionStatus.VERIFIED,
        current_code="def double(x):\n    return x + x\n",
        contract_version=1,
        is_stale=True,
    )

    result = fixlog.check_contract(session, admin_user)

    session.refresh_from_db()
    assert result.passed and runs.last_contract_run(session).pk == result.run_id
    assert (session.status, session.is_stale) == ("verified", True)
