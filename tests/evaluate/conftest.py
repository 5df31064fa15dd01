"""Fixtures of the evaluate tests: the local LLM endpoint, and a small evaluated data set."""

from __future__ import annotations

import pytest

from annotate.models import SessionStatus
from evaluate import dashboard
from evaluate.metrics.fixcost import compute_human
from evaluate.models import CodeBLEUScore
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.annotate.llm_fakes import llm_endpoint, no_llm_endpoint  # noqa: F401  (fixtures)
from tests.conftest import make_user
from tests.evaluate.factories import ComparisonFactory


@pytest.fixture
def evaluated(db):
    """Two systems on two samples: t2j needs 1 step where base needs 3; reviewers prefer t2j."""
    base, t2j = SystemFactory(name="base"), SystemFactory(name="t2j")
    reviewers = [make_user("reviewer", name) for name in ("r1", "r2")]
    developer = make_user("developer", "fixer")  # one owner for all sessions: each new user costs a hash
    for key, origin in (("e1", "TorchLeet"), ("h1", "Other")):
        sample = SampleFactory(key=key, origin=origin, difficulty="easy" if key == "e1" else "hard")
        for system, steps, bleu in ((base, 3, 0.2), (t2j, 1, 0.3)):
            t = TranslationFactory(sample=sample, system=system)
            session = FixSessionFactory(translation=t, status=SessionStatus.VERIFIED, owner=developer)
            for i in range(steps):
                FixStepFactory(session=session, index=i + 1, category="prng")
            CodeBLEUScore.objects.create(
                translation=t, reference="verified", codebleu=bleu, ngram=0, weighted_ngram=0, syntax=0, dataflow=0
            )
        b, t = sample.translations.order_by("system__name")
        for reviewer in reviewers:
            ComparisonFactory(sample=sample, left=b, right=t, verdict="right", judge_user=reviewer)
    compute_human()


@pytest.fixture
def stored_dashboard(evaluated):
    """The evaluated data set with its dashboard built and stored, as the refresh job leaves it."""
    return dashboard.refresh()
