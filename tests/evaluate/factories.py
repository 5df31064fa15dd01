from __future__ import annotations

import factory

from evaluate.models import Comparison, Judgement, Verdict
from tests.annotate.factories import SampleFactory, TranslationFactory, UserFactory


class ComparisonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comparison

    sample = factory.SubFactory(SampleFactory)
    left = factory.SubFactory(TranslationFactory, sample=factory.SelfAttribute("..sample"))
    right = factory.SubFactory(TranslationFactory, sample=factory.SelfAttribute("..sample"))
    judge_user = factory.SubFactory(UserFactory)
    verdict = Verdict.LEFT
    reason = "Left keeps the PRNG key explicit."


class JudgementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgement

    translation = factory.SubFactory(TranslationFactory)
    judge_user = factory.SubFactory(UserFactory)
    aspect = "usefulness"
    score = 3
