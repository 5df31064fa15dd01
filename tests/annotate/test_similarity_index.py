"""The similar-fix index in the database follows the steps and their sessions: a step is indexed when written,
shared when its session is verified, unshared when it is reopened, abandoned or the step retracted, and an import's
bulk-inserted steps are indexed with it. Its document frequencies always equal a recount. A search runs the same
number of queries whatever the number of steps. Run on PostgreSQL too (DATABASE_URL)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate import fixlog, prefill, similarity_index
from annotate.dataset import import_dataset
from annotate.models import FixSession, FixStep, SessionStatus, StepIndexEntry, StepIndexTerm, StepIndexToken
from annotate.similarity import ranked_steps, similar_steps
from tests.annotate.factories import FixSessionFactory, FixStepFactory, RunFactory
from tests.annotate.fix_sessions import FIXED, open_session

pytestmark = pytest.mark.django_db

STAX = "ModuleNotFoundError: No module named 'jax.experimental.stax'"


def found(error: str) -> list[FixStep]:
    return [suggestion.step for suggestion in similar_steps(error)]


def frequencies_match_a_recount() -> None:
    recount = Counter(StepIndexTerm.objects.filter(shared=True).values_list("token", flat=True))
    lengths = list(StepIndexEntry.objects.filter(shared=True).values_list("length", flat=True))
    recount |= {similarity_index.STEPS_TOTAL: len(lengths), similarity_index.LENGTH_TOTAL: sum(lengths)}
    kept = {token: df for token, df in StepIndexToken.objects.values_list("token", "df") if df}
    kept.pop(similarity_index.GENERATION, None)  # not a document frequency: it counts the index's changes
    assert kept == {token: count for token, count in recount.items() if count}
    assert similarity_index.shared_steps() == FixStep.objects.shared().count()
    entries = dict(StepIndexEntry.objects.values_list("pk", "shared"))
    expected = {step.pk: step.pk in set(FixStep.objects.shared().values_list("pk", flat=True)) for step in
                FixStep.objects.all()}  # fmt: skip
    assert entries == expected


def test_a_step_is_shared_when_its_session_is_verified_and_unshared_when_reopened(developer, admin_user):
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)
    step = fixlog.record_step(session, developer, fix_info="import stax from its own package", error=STAX)
    assert found(STAX) == []  # an open session's steps are nobody's example yet

    RunFactory(session=session, code=session.current_code, user=developer)
    assert fixlog.verify(session, developer, confirmed=True).passed
    assert found(STAX) == [step]
    frequencies_match_a_recount()

    fixlog.reopen(session, admin_user)
    assert found(STAX) == []
    frequencies_match_a_recount()


def test_a_retracted_step_leaves_the_shared_index(developer):
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    step = FixStepFactory(session=session, error=STAX)
    assert found(STAX) == [step]

    FixStepFactory(session=session, index=2, retracts=step, error="")

    assert found(STAX) == []
    frequencies_match_a_recount()


def test_an_abandoned_or_saved_status_is_followed(developer):
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    step = FixStepFactory(session=session, error=STAX)

    session.status = SessionStatus.ABANDONED
    session.save(update_fields=["status"])
    assert found(STAX) == []

    session.status = SessionStatus.VERIFIED
    session.save()
    assert found(STAX) == [step]
    frequencies_match_a_recount()


def test_an_import_indexes_its_bulk_inserted_steps():
    error = {"Error_Code": "from jax.experimental import stax", "Error": STAX,
             "Fix_info": "stax moved", "Fixed_Code": "from jax.example_libraries import stax"}  # fmt: skip
    example = {"Example_id": "imp1", "Input_Code": "import torch\n", "LLM_weak_output": "import jax\n",
               "LLM_fix_output": "import jax\n", "Errors": [error]}  # fmt: skip
    data = {"Pytorch_to_JAX_Examples": [example]}

    import_dataset(json.dumps(data).encode(), name="one.json", system="paper")

    (step,) = found(STAX)
    assert step.session.translation.sample.key == "imp1"
    frequencies_match_a_recount()


def test_rebuild_gives_the_same_index():
    for i in range(3):
        FixStepFactory(session=FixSessionFactory(status=SessionStatus.VERIFIED), error=f"{STAX} {i}")
    before = sorted(StepIndexTerm.objects.values_list("entry_id", "token", "tf", "doc_length", "shared"))

    assert similarity_index.rebuild() == 3

    assert sorted(StepIndexTerm.objects.values_list("entry_id", "token", "tf", "doc_length", "shared")) == before
    frequencies_match_a_recount()


def _shared_steps(n: int) -> None:
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    start = session.steps.count()
    FixStep.objects.bulk_create(
        FixStep(session=session, index=start + i + 1, error=f"TypeError: dot_general shapes {i} differ",
                error_code=f"w = jnp.zeros({i})", fixed_code=f"w = jnp.zeros(({i}, 1))")
        for i in range(n)
    )  # fmt: skip
    similarity_index.sync()


def test_a_search_and_the_step_form_run_as_many_queries_at_any_size(developer):
    session = open_session(developer)
    RunFactory(session=session, code=session.current_code, user=developer, status="error",
               exception_type="TypeError", exception_message="dot_general shapes differ")  # fmt: skip
    counts = []
    for n in (10, 200):
        _shared_steps(n)
        with CaptureQueriesContext(connection) as search:
            assert len(similar_steps("TypeError: dot_general shapes differ", "w = jnp.zeros(3)")) == 5
        with CaptureQueriesContext(connection) as form:
            assert len(prefill.prefill_step(FixSession.objects.get(pk=session.pk)).similar) == 5
        counts.append((len(search), len(form)))
    assert counts[0] == counts[1]


def test_a_search_runs_as_many_queries_when_nothing_passes_the_floor():
    _shared_steps(10)
    with CaptureQueriesContext(connection) as found:
        assert similar_steps("TypeError: dot_general shapes differ", "w = jnp.zeros(3)")
    # It shares a word with the steps (so they are scored), too few to be suggested.
    with CaptureQueriesContext(connection) as none:
        assert similar_steps("ValueError: batch norm statistics have unexpected shapes after the reduction") == []

    assert len(none) == len(found)


# --- rankings cached under the index's generation (annotate.similarity.ranked_steps) -------------------------------

PROGRAM = "import torch\nfrom jax.experimental import stax\nmodel = stax.serial(stax.Dense(3))\n"


def ranked(limit: int = 10) -> list[int]:
    return [step_id for step_id, _, _ in ranked_steps(PROGRAM, limit=limit)]


def test_a_cached_ranking_follows_every_change_of_the_shared_steps(developer, admin_user):
    weak = FixStepFactory(session=FixSessionFactory(status=SessionStatus.VERIFIED), error="NameError: stax")
    assert ranked() == [weak.pk]
    with CaptureQueriesContext(connection) as again:
        assert ranked() == [weak.pk]
    assert len(again) == 2  # the statistics and the cache: no ranking query

    # A session verified with a step that matches better: it comes first at once.
    session = open_session(developer)
    fixlog.save_code(session, FIXED, 1, developer)
    better = fixlog.record_step(session, developer, fix_info="stax moved", error=STAX,
                                error_code="from jax.experimental import stax\nmodel = stax.serial(stax.Dense(3))",
                                fixed_code="from jax.example_libraries import stax")  # fmt: skip
    assert ranked() == [weak.pk]  # an open session's step is nobody's example yet
    RunFactory(session=session, code=session.current_code, user=developer)
    assert fixlog.verify(session, developer, confirmed=True).passed
    assert ranked() == [better.pk, weak.pk]

    fixlog.reopen(session, admin_user)
    assert ranked() == [weak.pk]
    FixStepFactory(session=weak.session, index=2, retracts=weak, error="")
    assert ranked() == []

    session.status = SessionStatus.VERIFIED
    session.save()
    assert ranked() == [better.pk]


def test_a_shorter_ranking_is_read_from_a_longer_one_cached():
    steps = [FixStepFactory(session=FixSessionFactory(status=SessionStatus.VERIFIED), error=f"{STAX} {'stax ' * i}")
             for i in range(3)]  # fmt: skip
    whole = ranked(limit=10)
    assert sorted(whole) == sorted(step.pk for step in steps)

    with CaptureQueriesContext(connection) as shorter:
        assert ranked(limit=2) == whole[:2]
        assert ranked(limit=50) == whole  # all there are: no longer ranking to compute
    assert len(shorter) == 4
