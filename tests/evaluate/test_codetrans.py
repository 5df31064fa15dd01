from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from werkzeug import Request, Response

from annotate.models import SessionStatus, SystemMode
from evaluate.metrics import codetrans
from evaluate.metrics.codetrans import judge_translation, parse_score
from evaluate.models import Judgement
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import CHAT_PATH, chat_requests, completion, prompt_text


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("The code is close.\nScore: 3", 3),
        ("**Score:** 4", 4),
        ("I would give it 2/4 overall.", 2),
        ("score = 1 out of 4", 1),
        ("Analysis...\n\n0", 0),
        ("Score: 2.5", 2),  # half points round to even: 2
        ("First I thought Score: 1, but on reflection Score: 3", 3),
        ("Score: 7", None),
        ("It is quite good.", None),
        ("", None),
    ],
)
def test_scores_are_parsed_robustly(answer, score):
    assert parse_score(answer) == score


@pytest.fixture
def translation(db):
    sample = SampleFactory(pytorch_code="import torch\nprint('PT-SOURCE')\n")
    human = SystemFactory(name="human", mode=SystemMode.HUMAN)
    FixSessionFactory(
        translation=TranslationFactory(sample=sample, system=human),
        status=SessionStatus.VERIFIED,
        current_code="print('REFERENCE-CODE')\n",
    )
    return TranslationFactory(sample=sample, code="print('CANDIDATE-CODE')\n")


def _answers_by_aspect(request: Request) -> Response:
    text = prompt_text(json.loads(request.get_data()))
    score = 1 if "functional correctness" in text else 3
    if "REFERENCE-CODE" in text:
        score += 1
    return Response(
        json.dumps(completion(f"Reasoning.\nScore: {score}", model="judge-x")), content_type="application/json"
    )


def test_the_judge_scores_both_aspects_with_and_without_the_reference(llm_endpoint, translation):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(_answers_by_aspect)

    outcome = judge_translation(translation)

    assert (outcome.stored, outcome.unparsed, outcome.error) == (4, 0, "")
    got = {(j.aspect, j.with_reference): (j.score, j.judge_model) for j in Judgement.objects.all()}
    assert got == {
        ("usefulness", False): (3, "judge-x"),
        ("usefulness", True): (4, "judge-x"),
        ("functional-correctness", False): (1, "judge-x"),
        ("functional-correctness", True): (2, "judge-x"),
    }
    bodies = chat_requests(llm_endpoint)
    assert all("PT-SOURCE" in prompt_text(b) and "CANDIDATE-CODE" in prompt_text(b) for b in bodies)
    assert sum("REFERENCE-CODE" in prompt_text(b) for b in bodies) == 2
    assert all(j.raw_output.startswith("Reasoning.") for j in Judgement.objects.all())


def test_an_unparseable_answer_is_stored_raw_with_no_score(llm_endpoint, translation):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Looks fine to me."))
    outcome = judge_translation(translation)
    assert outcome.unparsed == 4
    assert set(Judgement.objects.values_list("score", "raw_output")) == {(None, "Looks fine to me.")}


def test_without_a_reference_only_two_questions_are_asked(llm_endpoint, db):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Score: 2"))
    outcome = judge_translation(TranslationFactory())
    assert outcome.stored == 2
    assert not Judgement.objects.filter(with_reference=True).exists()


def test_an_endpoint_failure_is_reported_and_nothing_half_parsed_is_stored(llm_endpoint, translation):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json({"error": {"message": "bad key"}}, status=401)
    outcome = judge_translation(translation)
    assert outcome.stored == 0 and "401" in outcome.error
    assert not Judgement.objects.exists()


def test_compute_metrics_runs_the_judge_per_system(llm_endpoint, translation, capsys):
    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(completion("Score: 4"))
    call_command("compute_metrics", "--metric", "codetrans", "--system", translation.system.name)
    assert Judgement.objects.filter(translation=translation).count() == 4
    assert "codetrans: 4 judgements for 1 translations (0 unparsed)" in capsys.readouterr().out


def test_the_rubric_is_the_same_for_people_and_the_judge():
    messages = codetrans.judge_messages("pt", "jax", "usefulness", None)
    assert codetrans.RUBRICS["usefulness"] in messages[1]["content"]
