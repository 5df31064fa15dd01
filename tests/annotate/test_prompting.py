from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate import prompting, similarity_index
from annotate.models import FixSession, FixStep, SessionStatus, StepCategory, SystemMode, Translation
from t2j_site import planner_statistics
from tests.annotate.factories import FixStepFactory, SampleFactory, SystemFactory, TranslationFactory, UserFactory
from tests.annotate.llm_fakes import open_session, verified_steps

pytestmark = pytest.mark.django_db


def dataset_in(prompt: prompting.Prompt) -> dict:
    """The bug-fix dataset JSON as it stands in the user message."""
    content = prompt.messages[-1]["content"]
    start = content.index('{"Pytorch_to_JAX_Examples"')
    data, _ = json.JSONDecoder().raw_decode(content[start:])
    return data


def test_tokens_are_estimated_as_utf8_bytes_over_three_rounded_up():
    assert prompting.estimate_tokens("abcd") == 2
    assert prompting.estimate_tokens("abc") == 1
    assert prompting.estimate_tokens("é") == 1  # 2 bytes
    assert prompting.estimate_tokens("✓✓") == 2  # 6 bytes
    messages = [{"role": "user", "content": "abcdef"}]
    assert prompting.estimate_messages(messages) == 2 + prompting.MESSAGE_OVERHEAD_TOKENS + 3


def test_standard_prompt_asks_for_idiomatic_jax_in_one_block_with_the_source():
    sample = SampleFactory(pytorch_code="import torch\nx = torch.randn(3)\n")
    prompt = prompting.build_prompt(SystemFactory(mode=SystemMode.STANDARD), sample)

    user = prompt.messages[-1]["content"]
    assert [m["role"] for m in prompt.messages] == ["system", "user"]
    assert "```python\nimport torch\nx = torch.randn(3)\n```" in user
    for requirement in ("explicit PRNG keys", "pure", "optax", "exactly one Python code block"):
        assert requirement in user
    assert "Pytorch_to_JAX_Examples" not in user
    assert prompt.steps == []
    assert prompt.estimated_tokens == prompting.estimate_messages(prompt.messages)


def test_source_with_backtick_fences_gets_a_longer_fence():
    sample = SampleFactory(pytorch_code='"""\n```\nusage\n```\n"""\nimport torch\n')

    user = prompting.build_prompt(SystemFactory(), sample).messages[-1]["content"]

    assert "````python\n" in user


def test_t2j_prompt_holds_the_verified_steps_of_other_samples_in_the_papers_field_names():
    drafted, other = SampleFactory(key="d1"), SampleFactory(key="o1", pytorch_code="import torch  # other\n")
    steps = verified_steps(other, 2)

    prompt = prompting.build_prompt(SystemFactory(mode=SystemMode.T2J), drafted)

    data = dataset_in(prompt)
    (example,) = data["Pytorch_to_JAX_Examples"]
    assert list(example) == ["Example_id", "Input_Code", "LLM_weak_output", "LLM_fix_output", "Errors"]
    assert example["Example_id"] == "o1"
    assert example["Input_Code"] == "import torch  # other\n"
    assert example["LLM_weak_output"] == "# weak draft of o1\n"
    assert example["LLM_fix_output"] == "# fixed program of o1\n"
    assert example["Errors"] == [
        {"Error_Code": s.error_code, "Error": s.error, "Fix_info": s.fix_info, "Fixed_Code": s.fixed_code}
        for s in steps
    ]
    assert prompt.step_ids == [s.pk for s in steps]
    assert not prompt.trimmed


def test_t2j_prompt_leaves_out_the_drafted_sample_and_unshared_steps():
    drafted, other = SampleFactory(key="d1"), SampleFactory(key="o1")
    own = verified_steps(drafted, 2)
    shared = verified_steps(other, 2)
    unverified = FixStepFactory(session=open_session(TranslationFactory(sample=other)), error="OPEN-SESSION-ERROR")
    retracted = verified_steps(SampleFactory(key="r1"), 1)[0]
    FixStepFactory(session=retracted.session, index=9, retracts=retracted, error="RETRACTION")

    prompt = prompting.build_prompt(SystemFactory(mode=SystemMode.T2J), drafted)

    text = prompt.messages[-1]["content"]
    assert all(step.error not in text for step in own)
    assert all(step.error in text for step in shared)
    assert unverified.error not in text
    assert retracted.error not in text and "RETRACTION" not in text
    assert set(prompt.step_ids) == {s.pk for s in shared}
    assert prompt.available_steps == 2


def test_an_empty_dataset_still_gives_a_t2j_prompt():
    prompt = prompting.build_prompt(SystemFactory(mode=SystemMode.T2J), SampleFactory())

    assert dataset_in(prompt) == {"Pytorch_to_JAX_Examples": []}


def test_a_prompt_over_budget_without_steps_is_refused():
    sample = SampleFactory(pytorch_code="x = 1\n" * 2000)

    with pytest.raises(prompting.PromptTooLarge, match="budget"):
        prompting.build_prompt(SystemFactory(mode=SystemMode.STANDARD, token_budget=1000), sample)


def test_the_budget_defaults_to_the_setting(settings):
    settings.T2J_PROMPT_TOKEN_BUDGET = 4321

    assert prompting.budget_for(SystemFactory(token_budget=None)) == 4321
    assert prompting.budget_for(SystemFactory(token_budget=900)) == 900


def _large_dataset(n_samples: int, steps_per_session: int, prefix: str = "big") -> list[FixStep]:
    """Hundreds of verified sessions with long programs, written in bulk to keep the test fast."""
    from annotate.models import Sample

    owner = UserFactory()
    system = SystemFactory(name=f"human-fixers-{prefix}", mode=SystemMode.HUMAN)
    long_program = "import torch\n" + "".join(f"layer_{i} = torch.nn.Linear({i}, {i})\n" for i in range(200))
    samples = Sample.objects.bulk_create(
        Sample(key=f"{prefix}{i}", pytorch_code=long_program, import_position=i) for i in range(n_samples)
    )
    translations = Translation.objects.bulk_create(
        Translation(sample=s, system=system, code=long_program.replace("torch", "jax")) for s in samples
    )
    sessions = FixSession.objects.bulk_create(
        FixSession(translation=t, owner=owner, status=SessionStatus.VERIFIED, current_code=t.code * 2)
        for t in translations
    )
    categories = [c for c in StepCategory.values]
    FixStep.objects.bulk_create(
        FixStep(
            session=session,
            index=k + 1,
            author=owner,
            category=categories[(n * steps_per_session + k) % len(categories)],
            error=f"Generic failure number {k} " * 20,
            error_code="y = x.numpy()\n" * 100,
            fix_info="Use jnp arrays. " * 30,
            fixed_code="y = jnp.asarray(x)\n" * 100,
        )
        for n, session in enumerate(sessions)
        for k in range(steps_per_session)
    )
    # As an import of this size does: with statistics of empty tables, PostgreSQL plans the shared-steps join
    # as nested loops without index conditions (minutes).
    planner_statistics.refresh(Sample, Translation, FixSession, FixStep)
    similarity_index.sync()  # a bulk insert sends no signal: whoever bulk-inserts steps indexes them
    return list(FixStep.objects.all())


def test_a_large_dataset_is_cut_to_the_budget_by_relevance_and_category_coverage():
    all_steps = _large_dataset(150, 5)
    needle_sample = SampleFactory(key="needle-src")
    (needle,) = verified_steps(
        needle_sample, 1, category=StepCategory.OTHER, error="AttributeError: frobnicate_widget is not a JAX function"
    )
    drafted = SampleFactory(key="drafted", pytorch_code="import torch\ny = torch.frobnicate_widget(x)\n")
    system = SystemFactory(mode=SystemMode.T2J, token_budget=12000)

    prompt = prompting.build_prompt(system, drafted)

    assert prompt.trimmed
    assert prompt.available_steps == len(all_steps) + 1
    assert 0 < len(prompt.steps) < prompt.available_steps
    # Never over budget, by the same estimate that is documented; and most of the budget is used.
    assert prompting.estimate_messages(prompt.messages) == prompt.estimated_tokens <= 12000
    assert prompt.estimated_tokens > 0.85 * 12000
    assert needle.pk in prompt.step_ids  # the step most relevant to the source
    assert {s.category for s in prompt.steps} == set(StepCategory.values)  # every category covered
    text = prompt.messages[-1]["content"]
    assert "characters trimmed" in text
    included = {(e["Error"]) for ex in dataset_in(prompt)["Pytorch_to_JAX_Examples"] for e in ex["Errors"]}
    assert len(included) >= 2  # the dataset in the message is the one the steps describe
    assert sum(len(ex["Errors"]) for ex in dataset_in(prompt)["Pytorch_to_JAX_Examples"]) == len(prompt.steps)


@pytest.mark.parametrize("budget", [2500, 5000, 30000])
def test_the_budget_is_never_exceeded_whatever_its_size(budget):
    _large_dataset(40, 4)
    drafted = SampleFactory(key="drafted")

    prompt = prompting.build_prompt(SystemFactory(mode=SystemMode.T2J, token_budget=budget), drafted)

    assert prompting.estimate_messages(prompt.messages) <= budget
    assert prompt.steps


@pytest.mark.parametrize("lines", [300, 2000])
def test_a_trimmed_field_read_in_sql_is_the_field_trimmed_in_python(lines):
    # 300 lines (7 kB) are read whole; 2000 (49 kB, over _WHOLE_BYTES) are cut by the database (characters, not
    # bytes: the text is not ASCII). Either way, trimmed harder, they are the field trimmed in Python.
    text = "".join(f"ligne {i}: é✓ {'x' * (i % 7)}\n" for i in range(lines))
    (step,) = verified_steps(SampleFactory(key="t1"), 1, error=text)
    read = prompting._read([step.pk], prompting.TRIM_LEVELS[0])[step.pk].texts["Error"]
    whole = prompting._Text(text, text, len(text))
    assert (read.head == text) == (len(text.encode()) <= prompting._WHOLE_BYTES)

    for limits in prompting.TRIM_LEVELS:
        assert read.cut(limits[2]) == whole.cut(limits[2])
    assert whole.cut(600).startswith(text[:400]) and whole.cut(600).endswith(text[-200:])
    assert f"[{len(text) - 600} characters trimmed]" in whole.cut(600)
    assert whole.cut(0) == f"[{len(text)} characters left out]"


def test_a_steps_least_cost_never_exceeds_what_adding_it_costs():
    # The packer turns a step down from its lengths alone when even its least cost passes the room: the bound must
    # hold for every trim, short and long fields, escapes (quotes, backslashes, newlines) and multi-byte text.
    texts = ["", "x", 'say "hi"\\n\t' * 40, "é✓ ligne\n" * 400, "a" * 3000]
    sample = SampleFactory(key="k1", pytorch_code=texts[3])
    (first,) = verified_steps(sample, 1)
    steps = [first.pk] + [
        FixStepFactory(session=first.session, index=n + 2, error=text, error_code=texts[-1 - n],
                       fixed_code=text[::-1], fix_info=text[:50]).pk
        for n, text in enumerate(texts)
    ]  # fmt: skip
    for limits in prompting.TRIM_LEVELS:
        read = prompting._read(steps, prompting.TRIM_LEVELS[0])
        for step in read.values():
            for fresh in (True, False):
                packer = prompting._Packer(10**9, limits)
                if not fresh:
                    packer.sessions.add(step.session_id)
                least, before = packer._least(step), packer.size
                assert packer.add(step)
                assert least <= packer.size - before


def test_the_prompt_runs_as_many_queries_whether_the_dataset_fits_whole_or_is_three_times_the_budget():
    # The demo's few steps fit whole and untrimmed; 100 and 300 sessions of three long steps each hold more than
    # the budget could carry even as empty entries (about 240 at 6000 tokens). One code path serves all three.
    drafted = SampleFactory(key="drafted", pytorch_code="import torch\ny = torch.nn.Linear(3, 3)(x)\n")
    system = SystemFactory(mode=SystemMode.T2J, token_budget=6000)
    verified_steps(SampleFactory(key="demo"), 3, error="TypeError: torch.nn.Linear has no JAX twin")
    with CaptureQueriesContext(connection) as queries:
        prompt = prompting.build_prompt(system, drafted)
    assert not prompt.trimmed and len(prompt.steps) == 3
    counts = [len(queries)]
    for n in (100, 300):
        _large_dataset(n, 3, prefix=f"n{n}-")
        with CaptureQueriesContext(connection) as queries:
            prompt = prompting.build_prompt(system, drafted)
        assert prompt.trimmed and prompt.steps
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2]
