"""Batch runs of a system's translations: planning, the command's arguments, the summary of what ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

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
