"""Similar shared steps for an error and its code: what is indexed, ranking, the relevance floor, why each
matched, visibility, exclusions, the index kept in the database, and real queries against the paper's dataset and
the demo. Run them on PostgreSQL too (DATABASE_URL): the ranking is SQL and must agree on both engines."""

from __future__ import annotations

import pytest

from annotate import similarity_index
from annotate.dataset import import_dataset
from annotate.demo import load_demo
from annotate.models import FixStep, SessionStatus
from annotate.similarity import ranked_steps, similar_steps, step_tokens, tokenize
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, TranslationFactory
from tests.paper import PAPER_DATASET, needs_paper_data

pytestmark = pytest.mark.django_db

FLAX_URL = "https://flax.readthedocs.io/en/latest/api_reference/flax.errors.html#flax.errors."


def shared_step(sample_key: str | None = None, **fields) -> FixStep:
    translation = TranslationFactory(**({"sample": SampleFactory(key=sample_key)} if sample_key else {}))
    session = FixSessionFactory(translation=translation, status=SessionStatus.VERIFIED)
    return FixStepFactory(session=session, **fields)


def found_steps(*args, **kwargs) -> list[FixStep]:
    return [suggestion.step for suggestion in similar_steps(*args, **kwargs)]


PRNG = {"error": "AttributeError: module 'jax.numpy' has no attribute 'random'", "error_code": "jnp.random.normal(3)",
        "fixed_code": "jax.random.normal(key, (3,))", "fix_info": "use jax.random.normal with a PRNGKey"}  # fmt: skip
SHAPE = {"error": "TypeError: dot_general requires contracting dimensions to have the same shape, got (10,) and (5,)",
         "error_code": "w = jnp.zeros(10)\nout = jnp.dot(x, w)",
         "fixed_code": "w = jnp.zeros((5, 1))\nout = jnp.dot(x, w)",
         "fix_info": "initialise w with shape (5, 1)"}  # fmt: skip
JIT = {"error": "ConcretizationTypeError: Abstract tracer value encountered", "error_code": "if x > 0:",
       "fixed_code": "jnp.where(x > 0, x, 0)", "fix_info": "use jnp.where inside jit"}  # fmt: skip


def test_tokens_leave_out_urls_paths_addresses_and_line_numbers():
    error = (
        'File "/usr/lib/python3/site-packages/jax/_src/api.py", line 120, in main.py:7 <function f at 0x7f02e9b7e0> '
        f"ModifyScopeVariableError ({FLAX_URL}ModifyScopeVariableError)"
    )

    assert tokenize(error) == ["function", "modifyscopevariableerror", "modify", "scope", "variable"]


def test_a_step_is_indexed_by_its_error_and_the_lines_its_fix_changed():
    tokens = step_tokens("TypeError: boom", "import jax\nx = jnp.zeros(3)\n", "import jax\nx = jnp.ones(3)\n")

    assert "zeros" in tokens and "ones" in tokens and "boom" in tokens
    assert "jax" not in tokens  # the unchanged import line is boilerplate here


def test_most_similar_step_comes_first():
    prng, shape, jit = shared_step(**PRNG), shared_step(**SHAPE), shared_step(**JIT)

    found = found_steps("AttributeError: module 'jax.numpy' has no attribute 'random'", "x = jnp.random.uniform()")

    assert found[0] == prng
    assert shape not in found and jit not in found


def test_code_context_counts_too():
    shape = shared_step(**SHAPE)
    shared_step(**PRNG)

    assert found_steps("TypeError", "out = jnp.dot(x, w)")[0] == shape


def test_the_same_exception_type_lifts_a_step():
    same_type = shared_step(error="ConcretizationTypeError: value of jnp.sum under jit", error_code="if x.sum():")
    shared_step(error="TypeError: value of jnp.sum is wrong", error_code="if x.sum():")

    found = similar_steps("ConcretizationTypeError: value of jnp.sum", "if x.sum():")

    assert found[0].step == same_type
    assert found[0].shared_type == "ConcretizationTypeError"


def test_each_suggestion_says_why_it_matched():
    shared_step(**SHAPE)

    (suggestion,) = similar_steps("TypeError: dot_general requires contracting dimensions to have the same shape")

    assert suggestion.shared_type == "TypeError"
    assert {"dot_general", "contracting"} <= set(suggestion.shared_tokens)
    assert suggestion.why.startswith("same exception type TypeError; shared words: ")


def test_only_shared_steps_are_suggested():
    open_session = FixSessionFactory(status=SessionStatus.OPEN)
    FixStepFactory(session=open_session, **PRNG)
    retracted = shared_step(**PRNG)
    FixStepFactory(session=retracted.session, index=99, retracts=retracted)

    assert similar_steps(PRNG["error"]) == []


def test_exclude_sample_keys_and_limit():
    kept = [shared_step(f"k{i}", **PRNG) for i in range(4)]
    shared_step("mine", **PRNG)

    found = found_steps(PRNG["error"], limit=3, exclude_sample_keys={"mine"})

    assert len(found) == 3
    assert set(found) <= set(kept)


def test_a_given_queryset_is_ranked_instead_of_the_shared_set():
    open_session = FixSessionFactory(status=SessionStatus.OPEN)
    mine = FixStepFactory(session=open_session, **SHAPE)
    shared_step(**SHAPE)

    assert found_steps(SHAPE["error"], steps=FixStep.objects.filter(session=open_session)) == [mine]


def test_nothing_similar_gives_nothing():
    shared_step(**PRNG)

    assert similar_steps("zebra giraffe") == []
    assert similar_steps("") == []


def test_a_docs_url_alone_finds_nothing():
    shared_step(error=f"InvalidRngError: Dropout_0 needs PRNG for dropout ({FLAX_URL}InvalidRngError)")

    assert similar_steps(f"({FLAX_URL}ModifyScopeVariableError)") == []
    assert similar_steps(f"({FLAX_URL}InvalidRngError)") == []


def test_a_word_or_two_in_common_is_below_the_floor():
    shared_step(error="TypeError: the loss of the model is a tuple", error_code="loss = model(x)")

    assert similar_steps("ValueError: the model has no batch_stats collection in its variables") == []


def test_a_new_shared_step_is_found_at_once():
    shared_step(**PRNG)
    assert similar_steps(SHAPE["error"]) == []

    shape = shared_step(**SHAPE)

    assert found_steps(SHAPE["error"])[0] == shape


def test_a_verified_session_shares_its_steps_at_once():
    session = FixSessionFactory(status=SessionStatus.OPEN)
    step = FixStepFactory(session=session, **JIT)
    assert similar_steps(JIT["error"]) == []

    session.status = SessionStatus.VERIFIED
    session.save()

    assert found_steps(JIT["error"]) == [step]


def test_among_hundreds_of_steps_the_related_ones_are_found():
    kinds = [PRNG, SHAPE, JIT]
    session = FixSessionFactory(status=SessionStatus.VERIFIED)
    FixStep.objects.bulk_create(
        FixStep(session=session, index=i + 1, **{k: f"{v} variant {i}" for k, v in kinds[i % 3].items()})
        for i in range(600)
    )
    similarity_index.sync()  # a bulk insert sends no signal: whoever bulk-inserts steps indexes them

    found = found_steps(SHAPE["error"], "jnp.dot(x, w)")

    # (Speed is measured in bench/scale.py, and test_similarity_index counts the queries at two sizes.)
    assert len(found) == 5 and all("dot_general" in step.error for step in found)


def test_ranked_steps_orders_shared_steps_by_relevance_without_a_floor():
    prng, shape = shared_step(**PRNG), shared_step(**SHAPE)
    mine = shared_step("mine", **SHAPE)

    ranked = ranked_steps(
        "contracting dimensions shape dot_general random", limit=5, exclude_sample=mine.session.translation.sample_id
    )

    assert [step_id for step_id, _, _ in ranked] == [shape.pk, prng.pk]
    assert ranked[0][2] > ranked[1][2] > 0
    assert ranked_steps("contracting", limit=0) == []
    assert ranked_steps("zebra", limit=5) == []


# --- real queries against the paper's dataset and the demo (../shared/cases/similarity_queries.json) ----------


@pytest.fixture
def paper_and_demo():
    import_dataset(PAPER_DATASET.read_bytes(), name=PAPER_DATASET.name, system="paper")
    load_demo()
    assert FixStep.objects.shared().count() > 276


@needs_paper_data
def test_the_docs_url_of_an_error_alone_suggests_nothing(paper_and_demo):
    assert similar_steps(f"({FLAX_URL}ModifyScopeVariableError)") == []


@needs_paper_data
def test_a_batch_stats_error_gets_no_unrelated_suggestion(paper_and_demo):
    error = (
        'ModifyScopeVariableError: Cannot update variable "mean" in "/BatchNorm_0" because collection "batch_stats" '
        f"is immutable. ({FLAX_URL}ModifyScopeVariableError)"
    )

    found = similar_steps(error)

    # Neither the paper nor the demo fixes a batch_stats collection: only such a step would be right here.
    assert all("batch_stats" in s.step.fixed_code or "mutable" in s.step.fixed_code for s in found), found


@needs_paper_data
def test_a_moved_module_is_matched_with_the_moved_module(paper_and_demo):
    found = similar_steps("ModuleNotFoundError: No module named 'jax.experimental.stax'")

    assert found, "the paper has a step about stax moving out of jax.experimental"
    top = found[0]
    assert "stax" in f"{top.step.error}\n{top.step.error_code}\n{top.step.fixed_code}"
    assert "stax" in top.shared_tokens


@needs_paper_data
def test_a_known_error_finds_its_demo_fix_first(paper_and_demo):
    found = similar_steps("AttributeError: module 'jax.numpy' has no attribute 'clamp'. Did you mean: 'clip'?")

    assert found[0].step.session.translation.sample.key == "focal"
    assert found[0].shared_type == "AttributeError"


@needs_paper_data
def test_an_exception_names_own_words_match_nothing_and_every_suggestion_says_why(paper_and_demo):
    # Seen in QA on the demo's cnn: "zero" of ZeroDivisionError matched `zero_grad` steps, shown with an empty reason.
    found = similar_steps("ZeroDivisionError: division by zero", "acc = correct / total")

    assert all(s.shared_type == "ZeroDivisionError" or s.shared_tokens for s in found), found
    assert not any("zero_grad" in f"{s.step.error_code}{s.step.fixed_code}" and not s.shared_type for s in found)
