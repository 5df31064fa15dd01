"""The dataset management commands: what an admin types, what they see, what lands in the database."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from annotate.models import (
    FixSession,
    FixStep,
    ImportKind,
    ImportRecord,
    ImportStatus,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    System,
    SystemMode,
    Translation,
)
from tests.annotate.factories import FixSessionFactory, SampleFactory, TranslationFactory
from tests.paper import PAPER_DATASET, needs_paper_data

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- import_dataset / export_dataset ----------------------------------------------------------------------


@needs_paper_data
def test_paper_file_round_trips_byte_identical_through_the_commands(tmp_path):
    summary = run("import_dataset", str(PAPER_DATASET))
    output = tmp_path / "out.json"
    run("export_dataset", "--format", "t2j", "--output", str(output))

    assert "samples: 20 new" in summary and "steps: 276 new" in summary
    assert output.read_bytes() == PAPER_DATASET.read_bytes()
    assert run("export_dataset", "--format", "t2j") == PAPER_DATASET.read_text()  # stdout, no trailing newline


@needs_paper_data
def test_import_reports_repeated_steps_and_keeps_them(tmp_path):
    summary = run("import_dataset", str(PAPER_DATASET))

    assert "Step hygiene: 12 flagged steps in 3 sessions" in summary
    assert "  m3 by weak-llm: steps 14-23 duplicate of 4-13\n" in summary
    assert "  e1 by weak-llm: steps 12 repeat of 9\n" in summary
    assert "  e5 by weak-llm: steps 17 near-duplicate of 16\n" in summary
    m3 = FixStep.objects.filter(session__translation__sample__key="m3").order_by("index")
    duplicate_of = [step.flags[0]["of"] if step.flags else None for step in m3]
    assert duplicate_of == [None] * 13 + list(range(4, 14))
    assert m3.count() == 23 and FixSession.objects.get(translation__sample__key="m3").fixcost == 23
    output = tmp_path / "out.json"
    run("export_dataset", "--format", "t2j", "--output", str(output))
    assert output.read_bytes() == PAPER_DATASET.read_bytes()  # nothing dropped or changed


@needs_paper_data
def test_a_dry_run_reports_the_repeated_steps_too():
    assert "m3 by weak-llm: steps 14-23 duplicate of 4-13" in run("import_dataset", str(PAPER_DATASET), "--dry-run")


@needs_paper_data
def test_reimport_reports_everything_unchanged():
    run("import_dataset", str(PAPER_DATASET))

    summary = run("import_dataset", str(PAPER_DATASET))

    assert "samples: 0 new, 20 unchanged, 0 conflicting" in summary
    assert FixSession.objects.count() == 20


@needs_paper_data
def test_jsonl_export_imports_back(tmp_path):
    run("import_dataset", str(PAPER_DATASET), "--system", "weak")
    jsonl = tmp_path / "sessions.jsonl"
    run("export_dataset", "--format", "jsonl", "--output", str(jsonl))
    assert len(jsonl.read_text().splitlines()) == 20

    summary = run("import_dataset", str(jsonl))

    assert "sessions: 0 new, 20 unchanged" in summary


@needs_paper_data
def test_collision_without_and_with_replace(tmp_path):
    run("import_dataset", str(PAPER_DATASET))
    data = json.loads(PAPER_DATASET.read_text())
    data["Pytorch_to_JAX_Examples"][3]["LLM_fix_output"] += "\n# edited"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data, indent=4))

    with pytest.raises(CommandError, match=r"sample 'e4', system 'weak-llm': LLM_fix_output differs"):
        run("import_dataset", str(changed))
    assert FixSession.objects.count() == 20

    summary = run("import_dataset", str(changed), "--replace")

    assert "sessions: 0 new, 19 unchanged, 1 replaced" in summary
    assert FixSession.objects.filter(status=SessionStatus.ABANDONED).count() == 1
    assert FixStep.objects.count() == 276 + len(data["Pytorch_to_JAX_Examples"][3]["Errors"])


@needs_paper_data
def test_dry_run_writes_nothing():
    summary = run("import_dataset", str(PAPER_DATASET), "--dry-run")

    assert summary.startswith("Would import")
    assert Sample.objects.count() == 0
    assert ImportRecord.objects.count() == 0  # a check, not an import: no audit row


def test_export_requires_system_when_several_verified_one_sample():
    sample = SampleFactory(key="s1")
    for name in ("sys-a", "sys-b"):
        FixSessionFactory(translation=TranslationFactory(sample=sample, system__name=name), status="verified")

    with pytest.raises(CommandError, match=r"several systems .*choose one system"):
        run("export_dataset", "--format", "t2j")
    assert '"Example_id": "s1"' in run("export_dataset", "--format", "t2j", "--system", "sys-b")


def test_bad_file_is_one_clear_message(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"Pytorch_to_JAX_Examples": [{"Example_id": "e1"}]}')

    with pytest.raises(CommandError) as caught:
        run("import_dataset", str(bad))

    assert str(caught.value).startswith(f"{bad}: Pytorch_to_JAX_Examples[0].Input_Code is missing")
    assert Sample.objects.count() == 0


def test_missing_file_is_one_clear_message(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run("import_dataset", str(tmp_path / "nope.json"))


def test_command_exits_non_zero_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe not utf-8")
    env = {**os.environ, "T2J_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    result = subprocess.run(
        [sys.executable, "manage.py", "import_dataset", str(bad)],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    assert "is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


# --- samples and translations -------------------------------------------------------------------------------


def test_import_samples_from_a_folder_and_jsonl(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "a1.py").write_text("import torch\n")
    (folder / "notes.txt").write_text("ignored")
    jsonl = tmp_path / "samples.jsonl"
    jsonl.write_text(json.dumps({"key": "b1", "pytorch_code": "x", "title": "B", "difficulty": "hard"}) + "\n")

    run("import_samples", str(folder))
    run("import_samples", str(jsonl))

    assert list(Sample.objects.order_by("key").values_list("key", "pytorch_code", "difficulty")) == [
        ("a1", "import torch\n", ""), ("b1", "x", "hard"),
    ]  # fmt: skip
    assert "0 new, 1 unchanged" in run("import_samples", str(jsonl))


def test_a_sample_from_a_folder_is_titled_by_its_docstring_and_keeps_it_on_reimport(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "gan.py").write_text('"""A small GAN on MNIST.\n\nTrains for two epochs."""\nimport torch\n')

    run("import_samples", str(folder))
    assert Sample.objects.get(key="gan").title == "A small GAN on MNIST."
    assert "0 new, 1 unchanged" in run("import_samples", str(folder))


def test_import_samples_collision_and_replace(tmp_path):
    SampleFactory(key="a1", title="Old", pytorch_code="old")
    jsonl = tmp_path / "samples.jsonl"
    jsonl.write_text(json.dumps({"key": "a1", "pytorch_code": "new", "title": "Old"}) + "\n")

    with pytest.raises(CommandError, match="sample 'a1': pytorch_code differs"):
        run("import_samples", str(jsonl))
    assert Sample.objects.get().pytorch_code == "old"

    run("import_samples", str(jsonl), "--replace")
    assert Sample.objects.get().pytorch_code == "new"


def test_replacing_a_contract_on_import_marks_sessions_verified_under_it_stale(tmp_path):
    sample = SampleFactory(key="a1", pytorch_code="x", contract="def spec(t, j):\n    pass\n", contract_version=1)
    by_contract = FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, contract_version=1
    )
    by_clean_run = FixSessionFactory(translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED)
    jsonl = tmp_path / "samples.jsonl"
    jsonl.write_text(
        json.dumps({"key": "a1", "pytorch_code": "x", "contract": "def spec(t, j):\n    assert 1\n"}) + "\n"
    )

    run("import_samples", str(jsonl), "--replace")
    run("import_samples", str(jsonl), "--replace")  # the same contract again: no new version, no new event

    assert Sample.objects.get().contract_version == 2
    by_contract.refresh_from_db()
    by_clean_run.refresh_from_db()
    assert (by_contract.is_stale, by_clean_run.is_stale) == (True, False)
    # The same record as an edit in the contract editor: one STALE event saying what changed.
    events = SessionEvent.objects.filter(kind=SessionEventKind.STALE)
    assert [(e.session_id, e.detail) for e in events] == [
        (by_contract.pk, {"verified_under": 1, "contract_version": 2})
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ({"key": "a1"}, "line 2.pytorch_code is missing"),
        ({"key": "a 1", "pytorch_code": "x"}, "line 2.key 'a 1' may only hold"),
        ({"key": "a1", "pytorch_code": "x", "difficulty": "brutal"}, "difficulty 'brutal' is not one of"),
        ({"key": "a1", "pytorch_code": "x", "owner": "me"}, "unknown key 'owner'"),
    ],
)
def test_import_samples_bad_records(tmp_path, line, message):
    jsonl = tmp_path / "samples.jsonl"
    jsonl.write_text(json.dumps({"key": "ok", "pytorch_code": "y"}) + "\n" + json.dumps(line) + "\n")

    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("import_samples", str(jsonl))
    assert Sample.objects.count() == 0


def test_import_translations_creates_imported_system(tmp_path):
    SampleFactory(key="a1")
    SampleFactory(key="a2")
    folder = tmp_path / "drafts"
    folder.mkdir()
    (folder / "a1.py").write_text("import jax\n")
    (folder / "a2.py").write_text("import jax.numpy as jnp\n")

    run("import_translations", str(folder), "--system", "tool-x")

    system = System.objects.get(name="tool-x")
    assert system.mode == SystemMode.IMPORTED
    assert dict(Translation.objects.values_list("sample__key", "code")) == {
        "a1": "import jax\n", "a2": "import jax.numpy as jnp\n",
    }  # fmt: skip


def test_import_translations_unknown_sample_and_collisions(tmp_path):
    translation = TranslationFactory(sample__key="a1", system__name="tool-x", code="old")
    jsonl = tmp_path / "drafts.jsonl"
    jsonl.write_text(json.dumps({"sample": "zz", "code": "c"}) + "\n")
    with pytest.raises(CommandError, match="there is no sample 'zz'"):
        run("import_translations", str(jsonl), "--system", "tool-x")

    jsonl.write_text(json.dumps({"sample": "a1", "code": "new"}) + "\n")
    with pytest.raises(CommandError, match="sample 'a1', system 'tool-x': code differs"):
        run("import_translations", str(jsonl), "--system", "tool-x")
    run("import_translations", str(jsonl), "--system", "tool-x", "--replace")

    translation.refresh_from_db()
    assert translation.code == "new"


def test_export_translations_writes_verified_code_else_draft(tmp_path):
    verified = TranslationFactory(sample__key="a1", system__name="tool-x", code="draft 1")
    FixSessionFactory(translation=verified, status=SessionStatus.VERIFIED, current_code="fixed 1")
    TranslationFactory(sample__key="a2", system__name="tool-x", code="draft 2")
    out = tmp_path / "out"

    run("export_translations", "--system", "tool-x", "--output", str(out))

    assert {p.name: p.read_text() for p in out.iterdir()} == {"a1.py": "fixed 1", "a2.py": "draft 2"}


def test_export_translations_unknown_system(tmp_path):
    with pytest.raises(CommandError, match="no system named 'nope'"):
        run("export_translations", "--system", "nope", "--output", str(tmp_path))


# --- the import audit trail (RELIABILITY.md case 32) --------------------------------------------------------


def test_a_thousand_examples_with_the_999th_invalid_import_nothing_and_leave_import_failed(tmp_path):
    examples = [
        {"Example_id": f"k{i}", "Input_Code": "t", "LLM_weak_output": "d", "LLM_fix_output": "f", "Errors": []}
        for i in range(1000)
    ]
    examples[998]["LLM_fix_output"] = 42
    bad = tmp_path / "big.json"
    bad.write_text(json.dumps({"Pytorch_to_JAX_Examples": examples}))

    with pytest.raises(CommandError, match=r"Pytorch_to_JAX_Examples\[998\]\.LLM_fix_output must be a string"):
        run("import_dataset", str(bad))

    assert [model.objects.count() for model in (Sample, Translation, FixSession, FixStep)] == [0, 0, 0, 0]
    record = ImportRecord.objects.get()
    assert (record.kind, record.source, record.status, record.actor) == ("dataset", "big.json", "failed", None)
    assert "Pytorch_to_JAX_Examples[998].LLM_fix_output" in record.errors


@needs_paper_data
def test_the_paper_import_through_the_command_is_audited_ok():
    run("import_dataset", str(PAPER_DATASET))

    record = ImportRecord.objects.get()
    assert (record.kind, record.status, record.format) == (ImportKind.DATASET, ImportStatus.OK, "t2j")
    assert record.summary["samples"]["new"] == 20 and record.summary["steps"]["new"] == 276


def test_a_missing_file_is_an_audited_failure(tmp_path):
    with pytest.raises(CommandError):
        run("import_dataset", str(tmp_path / "nope.json"))

    record = ImportRecord.objects.get()
    assert record.status == ImportStatus.FAILED and "does not exist" in record.errors


def test_sample_and_translation_imports_are_audited(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"key": "a1", "pytorch_code": "x"}) + "\n")
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    (drafts / "zz.py").write_text("import jax\n")

    run("import_samples", str(samples))
    run("import_samples", str(samples), "--dry-run")
    with pytest.raises(CommandError):
        run("import_translations", str(drafts), "--system", "tool-x")

    ok, failed = ImportRecord.objects.order_by("pk")
    assert (ok.kind, ok.format, ok.status) == (ImportKind.SAMPLES, "jsonl", ImportStatus.OK)
    assert ok.summary == {"new": 1, "unchanged": 0, "replaced": 0}
    assert (failed.kind, failed.format, failed.status) == (ImportKind.TRANSLATIONS, "folder", ImportStatus.FAILED)
    assert "zz.py: there is no sample 'zz'" in failed.errors
    assert not System.objects.filter(name="tool-x").exists()


# --- files of any size: JSONL read and written a record at a time (issue 19) --------------------------------


def _jsonl_line(sample: str, **changes) -> str:
    record = {
        "sample": sample,
        "system": "weak-llm",
        "pytorch_code": f"import torch  # {sample}\n",
        "draft_code": "import jax\n",
        "final_code": "import jax  # fixed\n",
        "steps": [{"error_code": "x = 1", "error": "NameError", "fix_info": "define it", "fixed_code": "x = 2"}],
    }
    return json.dumps({**record, **changes}) + "\n"


def test_a_jsonl_file_over_the_size_cap_imports_when_each_record_is_under_it(tmp_path, settings):
    path = tmp_path / "big.jsonl"
    path.write_text("".join(_jsonl_line(f"s{i}") for i in range(300)))  # more than one batch of records
    settings.T2J_IMPORT_MAX_BYTES = 400  # each line is ~300 bytes, the file ~90 kB

    summary = run("import_dataset", str(path))

    assert "samples: 300 new" in summary and "steps: 300 new" in summary
    assert list(Sample.objects.order_by("import_position").values_list("key", flat=True)[:3]) == ["s0", "s1", "s2"]


def test_a_jsonl_record_over_the_cap_is_refused_naming_its_line_and_nothing_is_written(tmp_path, settings):
    path = tmp_path / "big.jsonl"
    path.write_text(_jsonl_line("s0") + _jsonl_line("s1", final_code="x" * 500) + _jsonl_line("s2"))
    settings.T2J_IMPORT_MAX_BYTES = 400

    with pytest.raises(CommandError, match="big.jsonl line 2 is over the import limit of 400 bytes per record"):
        run("import_dataset", str(path))
    assert not Sample.objects.exists()


def test_a_bad_record_after_many_good_ones_writes_nothing_and_every_problem_is_listed(tmp_path):
    path = tmp_path / "late.jsonl"
    good = [_jsonl_line(f"s{i}") for i in range(250)]  # the first batch is written before line 251 is read
    path.write_text("".join(good) + _jsonl_line("bad", steps="none") + _jsonl_line("s0"))

    with pytest.raises(CommandError) as raised:
        run("import_dataset", str(path))

    message = str(raised.value)
    assert "line 251.steps must be a list, not a string" in message
    assert "line 252: sample 's0' by system 'weak-llm' repeats line 1" in message
    assert not Sample.objects.exists() and not FixStep.objects.exists()
    assert ImportRecord.objects.get().status == ImportStatus.FAILED


def test_a_nul_byte_deep_in_a_jsonl_file_is_refused_with_its_byte_offset(tmp_path):
    first = _jsonl_line("s0").encode()
    path = tmp_path / "nul.jsonl"
    path.write_bytes(first + b'{"sample": "s1\x00"}\n')

    with pytest.raises(CommandError, match=f"nul.jsonl contains a NUL byte at byte offset {len(first) + 14}"):
        run("import_dataset", str(path))
    assert not Sample.objects.exists()


def test_an_export_that_fails_midway_leaves_no_file_behind(tmp_path):
    for key in ("a", "b"):
        FixSessionFactory(translation=TranslationFactory(sample=SampleFactory(key=key)), status="verified")
    FixSession.objects.filter(translation__sample__key="b").update(extra={"score": float("nan")})
    output = tmp_path / "out.jsonl"

    with pytest.raises(CommandError, match="NaN or Infinity"):
        run("export_dataset", "--format", "jsonl", "--output", str(output))

    assert list(tmp_path.iterdir()) == []  # neither the output nor the temporary file it was written to


def test_the_export_file_gets_the_mode_a_plain_write_would_give(tmp_path):
    FixSessionFactory(status="verified")
    output = tmp_path / "out.jsonl"
    run("export_dataset", "--format", "jsonl", "--output", str(output))
    umask = os.umask(0)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask
