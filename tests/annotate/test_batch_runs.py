"""Batch runs of a system's translations: planning, the command's arguments, the summary of what ran."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotate import batch_runs
from annotate.models import Run
from tests.annotate.factories import RunFactory, SampleFactory, SystemFactory, TranslationFactory

pytestmark = pytest.mark.django_db


def test_the_plan_is_the_systems_translations_in_sample_order_without_empty_drafts():
    system = SystemFactory(name="weak")
    second = TranslationFactory(system=system, sample=SampleFactory(key="b2", import_position=2), code="print(2)")
    first = TranslationFactory(system=system, sample=SampleFactory(key="a1", import_position=1), code="print(1)")
    failed = TranslationFactory(system=system, sample=SampleFactory(key="c3", import_position=3), code="")
    TranslationFactory(code="print('other system')")

    assert batch_runs.plan("weak") == [first, second]
    assert batch_runs.plan("weak", kind="pytorch") == [first, second, failed]
    assert batch_runs.plan("weak", ["b2"]) == [second]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--system", "nobody"], "there is no system named 'nobody'"),
        (["--system", "weak", "--sample", "zz"], "has no translation of sample(s) zz"),
    ],
)
def test_bad_arguments_exit_with_2_and_run_nothing(arguments, message):
    TranslationFactory(system=SystemFactory(name="weak"))
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        call_command("run_translations", *arguments)
    assert raised.value.returncode == 2
    assert not Run.objects.exists()


def test_an_unknown_kind_exits_with_2_from_the_command_line(tmp_path):
    command = [sys.executable, "manage.py", "run_translations", "--system", "weak", "--kind", "rust"]
    env = {**os.environ, "T2J_DATA_DIR": str(tmp_path)}
    done = subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "invalid choice: 'rust'" in done.stderr


def test_a_system_with_nothing_to_run_says_so_and_exits_0(capsys):
    SystemFactory(name="empty")
    call_command("run_translations", "--system", "empty", "--json")
    assert json.loads(capsys.readouterr().out) == {"system": "empty", "kind": "jax", "total": 0, "counts": {}}


def test_the_summary_counts_the_latest_run_of_each_translation_and_the_common_exceptions():
    system = SystemFactory()
    one, two, three = (TranslationFactory(system=system) for _ in range(3))
    RunFactory(translation=one, kind="jax", status="error", exception_type="TypeError", exception_message="old")
    RunFactory(translation=one, kind="jax", status="ok")
    for translation in (two, three):
        RunFactory(
            translation=translation, kind="jax", status="error", exception_type="ValueError",
            exception_message="bad shape\nsecond line",
        )  # fmt: skip
    RunFactory(translation=two, kind="pytorch", status="ok", standins=[{"message": "MNIST"}])

    jax, pytorch = batch_runs.summary(system)

    assert (jax.kind, jax.total, jax.counts) == ("jax", 3, {"error": 2, "ok": 1})
    assert jax.top_exceptions == [("ValueError: bad shape", 2)]
    assert (pytorch.kind, pytorch.total, pytorch.counts, pytorch.standin_runs) == ("pytorch", 1, {"ok": 1}, 1)


def _summary_in_python(system) -> list[tuple]:
    """What the summary must say, counted the plain way: every batch run read, newest first, the first one seen
    per translation and kind kept, then counted in that order (Counter ties keep the order of first sight)."""
    found = []
    for kind in batch_runs.KINDS:
        latest: dict[int, Run] = {}
        for run in Run.objects.filter(translation__system=system, kind=kind).order_by("-created_at", "-pk"):
            latest.setdefault(run.translation_id, run)
        if latest:
            statuses = Counter(run.status for run in latest.values())
            exceptions = Counter(run.exception_line for run in latest.values() if run.exception_type)
            standins = sum(1 for run in latest.values() if run.standins)
            found.append((kind, len(latest), statuses.most_common(), exceptions.most_common(5), standins))
    return found


# First lines that differ after the first line, start with blank lines or spaces, run past 200 characters.
MESSAGES = [
    "", "bad shape", "bad shape\nsecond line", "bad shape\nother second line", "\n\n  bad shape  \nmore",
    "x" * 250, "x" * 250 + "y", "tab\tin it", "Unicode é\r\nwindows line end", "  ", "line\u2028separated",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_the_summary_counts_as_reading_every_run_would_whatever_the_ties(seed, django_assert_num_queries):
    chance = random.Random(seed)
    systems = [SystemFactory() for _ in range(2)]
    translations = [TranslationFactory(system=system) for system in systems for _ in range(14)]
    start = timezone.now()
    for translation in translations:
        for kind in (*batch_runs.KINDS, "contract"):
            for _ in range(chance.randint(0, 4)):
                run = RunFactory(
                    translation=translation, kind=kind, status=chance.choice(["ok", "error", "error", "timeout"]),
                    exception_type=chance.choice(["", "ValueError", "TypeError", "TracerBoolConversionError"]),
                    exception_message=chance.choice(MESSAGES), standins=chance.choice([[], [], [{"what": "MNIST"}]]),
                )  # fmt: skip
                # Three instants for all runs: most runs share their created_at with others, the pk decides.
                Run.objects.filter(pk=run.pk).update(created_at=start + timedelta(seconds=chance.randint(0, 2)))
    RunFactory(kind="jax", status="error", exception_type="NotBatch")  # a developer's run, of no translation
    assert Run.objects.values("created_at").distinct().count() <= 4

    for system in systems:
        with django_assert_num_queries(1):
            summaries = batch_runs.summary(system)
        said = [(s.kind, s.total, list(s.counts.items()), s.top_exceptions, s.standin_runs) for s in summaries]
        assert said == _summary_in_python(system)
