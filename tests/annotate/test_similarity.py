"""Similar shared steps for an error and its code: ranking, visibility, exclusions, the cached index."""

from __future__ import annotations

import time

import pytest

from annotate import similarity
from annotate.models import FixStep, SessionStatus
from annotate.similarity import rank_steps, similar_steps, tokenize
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, TranslationFactory

pytestmark = pytest.mark.django_db


def shared_step(sample_key: str | None = None, **fields) -> FixStep:
    translation = TranslationFactory(**({"sample": SampleFactory(key=sample_key)} if sample_key else {}))
    session = FixSessionFactory(translation=translation, status=SessionStatus.VERIFIED)
    return FixStepFactory(session=session, **fields)


PRNG = {"error": "AttributeError: module 'jax.numpy' has no attribute 'random'", "error_code": "jnp.random.normal(3)",
        "fix_info": "use jax.random.normal with a PRNGKey"}  # fmt: skip
SHAPE = {"error": "TypeError: dot_general requires contracting dimensions to have the same shape, got (10,) and (5,)",
         "error_code": "jnp.dot(x, w)", "fix_info": "initialise w with shape (5, 1)"}  # fmt: skip
JIT = {"error": "ConcretizationTypeError: Abstract tracer value encountered", "error_code": "if x > 0:",
       "fix_info": "use jnp.where inside jit"}  # fmt: skip


def test_tokenize_splits_identifiers_and_drops_noise():
    assert tokenize("UnexpectedTracerError in jnp.random_normal for the x") == [
        "unexpectedtracererror", "unexpected", "tracer", "error", "jnp", "random_normal", "random", "normal", "x",
    ]  # fmt: skip


def test_most_similar_step_comes_first():
    prng, shape, jit = shared_step(**PRNG), shared_step(**SHAPE), shared_step(**JIT)

    found = similar_steps("AttributeError: module 'jax.numpy' has no attribute 'random'", "x = jnp.random.uniform()")

    assert found[0] == prng
    assert jit not in found[:1] and shape not in found[:1]


def test_code_context_counts_too():
    shape = shared_step(**SHAPE)
    shared_step(**PRNG)

    assert similar_steps("TypeError", "out = jnp.dot(x, w)")[0] == shape


def test_only_shared_steps_are_suggested():
    open_session = FixSessionFactory(status=SessionStatus.OPEN)
    FixStepFactory(session=open_session, **PRNG)
    retracted = shared_step(**PRNG)
    FixStepFactory(session=retracted.session, index=99, retracts=retracted)

    assert similar_steps(PRNG["error"]) == []


def test_exclude_sample_keys_and_limit():
    kept = [shared_step(f"k{i}", **PRNG) for i in range(4)]
    shared_step("mine", **PRNG)

    found = similar_steps(PRNG["error"], limit=3, exclude_sample_keys={"mine"})

    assert len(found) == 3
    assert set(found) <= set(kept)


def test_a_given_queryset_is_ranked_instead_of_the_shared_set():
    open_session = FixSessionFactory(status=SessionStatus.OPEN)
    mine = FixStepFactory(session=open_session, **SHAPE)
    shared_step(**SHAPE)

    assert similar_steps(SHAPE["error"], steps=FixStep.objects.filter(session=open_session)) == [mine]


def test_nothing_similar_gives_nothing():
    shared_step(**PRNG)

    assert similar_steps("zebra giraffe") == []
    assert similar_steps("") == []


def test_index_is_cached_and_rebuilt_when_shared_steps_change():
    shared_step(**PRNG)
    similar_steps(PRNG["error"])
    cached = similarity._index_for(FixStep.objects.shared())

    similar_steps(SHAPE["error"])
    assert similarity._index_for(FixStep.objects.shared()) is cached  # same shared set: no rebuild

    shape = shared_step(**SHAPE)
    assert similar_steps(SHAPE["error"])[0] == shape  # the new shared step is found at once
    assert similarity._index_for(FixStep.objects.shared()) is not cached


def test_a_verified_session_shares_its_steps_at_once():
    session = FixSessionFactory(status=SessionStatus.OPEN)
    step = FixStepFactory(session=session, **JIT)
    assert similar_steps(JIT["error"]) == []

    session.status = SessionStatus.VERIFIED
    session.save()

    assert similar_steps(JIT["error"]) == [step]


def test_hundreds_of_steps_answer_in_milliseconds():
    kinds = [PRNG, SHAPE, JIT]
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    FixStep.objects.bulk_create(
        FixStep(session=session, index=i + 1, **{k: f"{v} variant {i}" for k, v in kinds[i % 3].items()})
        for i in range(600)
    )
    similar_steps("warm up the index")

    started = time.perf_counter()
    for _ in range(10):
        found = similar_steps(SHAPE["error"], "jnp.dot(x, w)")
    per_query = (time.perf_counter() - started) / 10

    assert len(found) == 5 and all("dot_general" in step.error for step in found)
    assert per_query < 0.05  # generous for a shared 2-core machine; typically a few ms


def test_rank_steps_scores_a_given_list():
    prng, shape = shared_step(**PRNG), shared_step(**SHAPE)

    ranked = rank_steps("contracting dimensions shape dot_general", [prng, shape])

    assert [step for step, _ in ranked] == [shape, prng]
    assert ranked[0][1] > ranked[1][1]
    assert rank_steps("anything", []) == []
