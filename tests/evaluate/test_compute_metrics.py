from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import SessionStatus
from evaluate.models import CodeBLEUScore, FixCostRecord, Judgement
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, SystemFactory, TranslationFactory


@pytest.fixture
def fixed(db):
    sample = SampleFactory()
    draft = TranslationFactory(sample=sample, system=SystemFactory(name="weak"), code="x = 1\nprint(x)\n")
    session = FixSessionFactory(translation=draft, status=SessionStatus.VERIFIED, current_code="x = 2\nprint(x)\n")
    FixStepFactory(session=session, index=1)
    return draft


def test_codebleu_and_fixcost_from_the_command(fixed, capsys):
    call_command("compute_metrics", "--metric", "codebleu", "--processes", "1")
    call_command("compute_metrics", "--metric", "fixcost")
    out = capsys.readouterr().out
    assert "codebleu: 1 translations scored against verified; 0 skipped" in out
    assert "fixcost: 1 verified translations" in out
    assert CodeBLEUScore.objects.get().translation == fixed
    assert FixCostRecord.objects.get().steps == 1


def test_the_judge_without_an_llm_endpoint_fails_and_says_how_to_configure(fixed, no_llm_endpoint, capsys):
    with pytest.raises(CommandError, match="codetrans: nothing computed"):
        call_command("compute_metrics", "--metric", "codetrans")
    assert "No LLM endpoint is configured" in capsys.readouterr().err
    assert not Judgement.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference-system", "ghost"], "No system named 'ghost'"),
        (["--baseline-system", "ghost"], "No system named 'ghost'"),
        (["--processes", "0"], "--processes must be at least 1"),
    ],
)
def test_bad_arguments_fail_clearly_and_compute_nothing(fixed, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("compute_metrics", "--metric", "codebleu", *args)
    assert not CodeBLEUScore.objects.exists()


def test_an_unknown_metric_is_refused(db):
    with pytest.raises(CommandError):
        call_command("compute_metrics", "--metric", "bleu")
