"""The Django admin's comparison list: what it shows and what it reads."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory
from tests.evaluate.factories import ComparisonFactory, JudgementFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "unused-pass"))
    return client


@pytest.fixture
def votes():
    sample = SampleFactory(key="mnist-cnn")
    weak, t2j = (TranslationFactory(sample=sample, system=SystemFactory(name=name)) for name in ("weak", "t2j"))
    ComparisonFactory(sample=sample, left=weak, right=t2j)  # a person's vote: no judge model
    for model in ("qwen-7b", "gpt-small", "qwen-7b"):
        ComparisonFactory(
            sample=sample, left=t2j, right=weak, judge_user=None, judge_model=model, raw_output="RAW OUTPUT"
        )


def test_the_comparison_list_names_both_translations_without_reading_the_long_texts(superuser_client, votes):
    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(reverse("admin:evaluate_comparison_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("mnist-cnn by weak") == 4 and html.count("mnist-cnn by t2j") == 4
    read = " ".join(query["sql"] for query in queries)
    assert '"raw_output"' not in read and '"reason"' not in read


def test_the_judge_model_filter_lists_every_model_once_in_order_and_filters_by_it(superuser_client, votes):
    url = reverse("admin:evaluate_comparison_changelist")
    changelist = superuser_client.get(url).context["cl"]
    (judge_models,) = (spec for spec in changelist.filter_specs if spec.field_path == "judge_model")

    assert list(judge_models.lookup_choices) == ["", "gpt-small", "qwen-7b"]
    assert superuser_client.get(url, {"judge_model": "qwen-7b"}).context["cl"].result_count == 2


def test_the_votes_of_people_have_a_link_of_their_own_in_the_judge_model_filter(superuser_client, votes):
    url = reverse("admin:evaluate_comparison_changelist")
    html = superuser_client.get(url).content.decode()

    assert '<a href="?judge_model=">a person (no model)</a>' in html
    assert superuser_client.get(url, {"judge_model": ""}).context["cl"].result_count == 1


def test_the_judgement_list_names_peoples_scores_in_its_judge_model_filter(superuser_client, votes):
    JudgementFactory(judge_user=None, judge_model="qwen-7b")
    JudgementFactory()  # a person's score
    url = reverse("admin:evaluate_judgement_changelist")

    assert '<a href="?judge_model=">a person (no model)</a>' in superuser_client.get(url).content.decode()
    assert superuser_client.get(url, {"judge_model": ""}).context["cl"].result_count == 1
