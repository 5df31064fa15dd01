from __future__ import annotations

import json
from statistics import mean

import pytest

from annotate.models import SessionStatus, SystemMode
from evaluate.metrics import codebleu
from evaluate.models import CodeBLEUScore
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.paper import PAPER_DIR, needs_paper_data


@needs_paper_data
def test_it_reproduces_the_papers_codebleu_figures():
    samples = json.loads((PAPER_DIR / "intrinsic.json").read_text())["samples"]
    published = json.loads((PAPER_DIR / "results.json").read_text())["intrinsic"]["codebleu"]
    keys = [key for key in samples if f"{key}.py" in published]
    pairs = [
        (samples[k][column], samples[k]["groundtruth_before_fix"])
        for column in ("baseline_before_fix", "t2j_before_fix")
        for k in keys
    ]

    results = codebleu.score_pairs(pairs)

    baseline, t2j = results[: len(keys)], results[len(keys) :]
    for key, a, b in zip(keys, baseline, t2j, strict=True):
        assert abs(a.codebleu - published[f"{key}.py"]["A"]) < 0.02, key
        assert abs(b.codebleu - published[f"{key}.py"]["B"]) < 0.02, key
    assert round(mean(r.codebleu for r in baseline), 3) == 0.189  # paper: 0.1891
    assert round(mean(r.codebleu for r in t2j), 3) == 0.288  # paper: 0.2881


@needs_paper_data
def test_scores_repeat_exactly_across_worker_counts():
    samples = json.loads((PAPER_DIR / "intrinsic.json").read_text())["samples"]
    pairs = [(s["baseline_before_fix"], s["groundtruth_before_fix"]) for s in list(samples.values())[:4]]
    assert codebleu.score_pairs(pairs, processes=1) == codebleu.score_pairs(pairs, processes=2)


def test_identical_code_scores_one_and_components_are_kept():
    code = "import jax\nimport jax.numpy as jnp\n\ndef f(x):\n    y = jnp.sin(x) * 2\n    return y + x\n"
    [result] = codebleu.score_pairs([(code, code)])
    assert result.codebleu == pytest.approx(1.0)
    assert result.ngram == pytest.approx(1.0) and result.syntax == pytest.approx(1.0)


def test_an_empty_batch_starts_no_worker():
    assert codebleu.score_pairs([]) == []


@pytest.mark.django_db
def test_it_stores_scores_against_the_verified_code_of_the_sample():
    sample = SampleFactory()
    human = SystemFactory(name="human", mode=SystemMode.HUMAN)
    fixed = "import jax.numpy as jnp\n\ndef f(x):\n    return jnp.sum(x * 2)\n"
    FixSessionFactory(
        translation=TranslationFactory(sample=sample, system=human), status=SessionStatus.VERIFIED, current_code=fixed
    )
    draft = TranslationFactory(sample=sample, code="import jax.numpy as jnp\n\ndef f(x):\n    return x\n")
    other = TranslationFactory(code="print(1)\n")  # its sample has nothing verified

    stored, skipped = codebleu.compute_for([draft, other])

    assert stored == 1
    assert skipped == [f"{other}: no verified reference code"]
    score = CodeBLEUScore.objects.get(translation=draft)
    assert score.reference == "verified" and score.hash_seed == "0"
    [expected] = codebleu.score_pairs([(draft.code, fixed)])
    assert (score.codebleu, score.dataflow) == (expected.codebleu, expected.dataflow)


@pytest.mark.django_db
def test_a_reference_system_is_used_instead_and_recomputing_replaces_the_row():
    sample = SampleFactory()
    reference = TranslationFactory(sample=sample, system=SystemFactory(name="gold"), code="x = 1\ny = x + 2\n")
    draft = TranslationFactory(sample=sample, code="x = 1\ny = x + 2\n")

    codebleu.compute_for([draft, reference], reference_system=reference.system)
    codebleu.compute_for([draft], reference_system=reference.system)

    assert list(CodeBLEUScore.objects.values_list("translation", "reference")) == [(draft.pk, "gold")]
    assert CodeBLEUScore.objects.get().codebleu == pytest.approx(1.0)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["", "  \n\t", "\xa0\u3000\n", "x", "  return x\n", "\u3000x"])
def test_the_database_and_python_agree_on_which_verified_code_is_a_reference(code):
    """verified_references (the score queue) and verified_reference (the page) tell blank code as
    reference_code's str.strip() does (compute_for); an open session with code is no reference."""
    sample = SampleFactory()
    session = FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, current_code=code
    )
    FixSessionFactory(translation=TranslationFactory(sample=sample), current_code="print('open')\n")
    draft = TranslationFactory(sample=sample, code="print(1)\n")
    expected = code if code.strip() else None

    assert codebleu.reference_code(draft, None) == expected
    assert codebleu.verified_reference(sample.pk) == expected
    assert list(codebleu.verified_references()) == ([session] if expected else [])
    assert list(codebleu.samples_with_verified_reference()) == ([sample.pk] if expected else [])


def test_telling_a_reference_from_blank_code_reads_no_code():
    """The stored flag, not the program text, decides (PostgreSQL read 7,000 programs per score page for it)."""
    assert "current_code" not in str(codebleu.verified_references().values("pk").query)
