"""The whole demo data set: evaluate's comparisons on top of annotate's part, loaded once, and the load_demo
command that loads both."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotate.demo import DEMO_USERS, DemoDataError
from annotate.models import Sample
from evaluate import review, scoring
from evaluate.demo import load_demo
from evaluate.models import Comparison, Verdict
from tests.annotate import demo_files
from tests.annotate.demo_files import SPEC, edit_spec

demo_copy = demo_files.demo_copy


@pytest.fixture(autouse=True)
def _no_demo_password(monkeypatch):
    monkeypatch.delenv("T2J_DEMO_PASSWORD", raising=False)


def table_counts() -> dict[str, int]:
    return {**demo_files.table_counts(), "comparisons": Comparison.objects.count()}


def expected_counts() -> dict[str, int]:
    return {**demo_files.expected_counts(), "comparisons": len(SPEC["comparisons"])}


@pytest.mark.django_db
def test_load_demo_creates_what_demo_json_describes():
    result = load_demo()

    expected = expected_counts()  # the samples' order is annotate's part: tests/annotate/test_demo.py
    assert table_counts() == expected
    assert {k: result[k] for k in expected} == expected


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    load_demo()
    before = table_counts()
    passwords = dict(get_user_model().objects.values_list("username", "password"))

    result = load_demo()

    assert table_counts() == before
    assert result["new_users"] == []
    assert all(
        result[k] == 0 for k in ("users", "systems", "samples", "translations", "sessions", "steps", "comparisons")
    )
    assert dict(get_user_model().objects.values_list("username", "password")) == passwords


@pytest.mark.django_db
def test_comparisons_are_by_the_second_demo_reviewer_on_one_sample():
    load_demo()
    for comparison in Comparison.objects.all():
        assert comparison.judge_user.username == "rev2"
        assert comparison.left.sample_id == comparison.right.sample_id == comparison.sample_id
        assert comparison.left_id != comparison.right_id
        assert comparison.verdict in Verdict.values
        assert comparison.reason


@pytest.mark.django_db
def test_the_demo_leaves_pairs_and_translations_waiting_for_each_demo_reviewer():
    """QA: rev used to find "No pairs are waiting" on a fresh demo, all its comparisons being rev's."""
    load_demo()
    User = get_user_model()
    for username in ("rev", "rev2"):
        reviewer = User.objects.get(username=username)
        assert scoring.plan_for(reviewer).offered, username
    rev, rev2 = User.objects.get(username="rev"), User.objects.get(username="rev2")
    assert len(review.queue_for(rev)) == len(review.all_pairs()) == Comparison.objects.count() > 0
    voted = Comparison.objects.count()
    assert review.progress(rev2, len(review.queue_for(rev2))) == review.Progress(done=voted, total=voted)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        ({"verdict": "maybe"}, "unknown verdict 'maybe'"),
        ({"left": "no-such-system"}, "both sides must be drafts"),
        ({"judge": "mallory"}, "a demo user as judge"),
    ],
)
def test_a_bad_comparison_writes_nothing(demo_copy, change, message):
    edit_spec(demo_copy, lambda d: d["comparisons"][-1].update(change))

    with pytest.raises(DemoDataError, match=message):
        load_demo(directory=demo_copy)
    assert table_counts() == {k: 0 for k in table_counts()}


@pytest.mark.django_db
def test_load_demo_command_prints_a_summary_and_new_passwords():
    out = StringIO()
    call_command("load_demo", stdout=out)
    lines = out.getvalue().splitlines()
    expected = expected_counts()
    assert lines[-1] == (
        f"demo loaded: {expected['samples']} samples, {expected['translations']} translations, "
        f"{expected['sessions']} sessions, {expected['steps']} steps, {expected['comparisons']} comparisons created"
    )
    assert sum("password:" in line for line in lines) == len(DEMO_USERS)

    again = StringIO()
    call_command("load_demo", stdout=again)
    assert again.getvalue().splitlines() == [
        "demo loaded: 0 samples, 0 translations, 0 sessions, 0 steps, 0 comparisons created"
    ]


@pytest.mark.django_db
def test_load_demo_command_reports_broken_files(monkeypatch, demo_copy):
    (demo_copy / "demo.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setattr("annotate.demo.DEMO_DIR", demo_copy)

    with pytest.raises(CommandError, match="demo data not loaded"):
        call_command("load_demo", stdout=StringIO())
    assert Sample.objects.count() == 0
