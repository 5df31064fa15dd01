"""A sample's data files: names, caps, and what its runs get."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate import runs, sample_files
from annotate.models import Sample, SampleFile
from tests.annotate.factories import SampleFactory, SystemFactory, TranslationFactory

pytestmark = pytest.mark.django_db


def test_attached_files_are_what_the_samples_runs_get_read_only():
    sample = SampleFactory(wall_limit_s=120, cpu_limit_s=200, standin_train_examples=1000)
    sample_files.attach(sample, " data/train.csv ", b"x,y\n1,2\n")

    options = runs.sample_run_options(sample, {"memory_bytes": 1024**3})

    assert options["readonly_files"] == {"data/train.csv": b"x,y\n1,2\n"}
    assert options["limits"] == {"wall_s": 120, "cpu_s": 200, "memory_bytes": 1024**3}
    assert options["standins"] == {"train_examples": 1000}
    stored = SampleFile.objects.get()
    assert (stored.size, stored.sha256) == (8, sample_files.sha256(b"x,y\n1,2\n"))


def test_a_translations_run_gets_its_samples_settings_and_a_call_may_still_tighten_them():
    translation = TranslationFactory(system=SystemFactory(), sample=SampleFactory(wall_limit_s=150))

    assert runs.limits_for(translation.sample, {"wall_s": 3}) == {"wall_s": 3}
    assert runs.sample_run_options(None, {"wall_s": 3}) == {"limits": {"wall_s": 3}}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../secret", "must not contain '..'"),
        ("/etc/passwd", "relative path"),
        ("main.py", "reserved"),
        ("contract.py", "name the runs use"),
        ("torch_program.py/x", "name the runs use"),
        ("", "bad file name"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_stored(name, message):
    sample = SampleFactory()
    with pytest.raises(sample_files.SampleFileProblem, match=message):
        sample_files.attach(sample, name, b"x")
    assert not SampleFile.objects.exists()


def test_caps_and_clashes_are_refused(settings):
    settings.T2J_SAMPLE_FILES_MAX_COUNT = 2
    settings.T2J_SAMPLE_FILES_MAX_BYTES = 10
    sample = SampleFactory()
    sample_files.attach(sample, "a.csv", b"12345")

    with pytest.raises(sample_files.SampleFileProblem, match="already has a file 'a.csv'"):
        sample_files.attach(sample, "a.csv", b"1")
    with pytest.raises(sample_files.SampleFileProblem, match="at most 10 bytes"):
        sample_files.attach(sample, "b.csv", b"123456")
    with pytest.raises(sample_files.SampleFileProblem, match="both a file and a folder"):
        sample_files.attach(sample, "a.csv/inner", b"1")
    sample_files.attach(sample, "b.csv", b"1")
    with pytest.raises(sample_files.SampleFileProblem, match="at most 2 files"):
        sample_files.attach(sample, "c.csv", b"1")
    assert sorted(sample_files.contents(sample)) == ["a.csv", "b.csv"]


# --- import_samples brings files ---


def test_import_samples_attaches_files_from_a_folder_beside_each_key(tmp_path):
    (tmp_path / "e2.py").write_text("import pandas\n")
    (tmp_path / "e2" / "data").mkdir(parents=True)
    (tmp_path / "e2" / "data" / "train.csv").write_bytes(b"x\n1\n")
    (tmp_path / "e1.py").write_text("print(1)\n")

    call_command("import_samples", str(tmp_path))

    assert sample_files.contents(Sample.objects.get(key="e2")) == {"data/train.csv": b"x\n1\n"}
    assert sample_files.contents(Sample.objects.get(key="e1")) == {}


def test_import_samples_takes_base64_files_in_jsonl_and_refuses_changed_files_without_replace(tmp_path):
    path = tmp_path / "samples.jsonl"

    def write(content: bytes) -> None:
        record = {"key": "e2", "pytorch_code": "print(1)\n", "files": {"t.csv": base64.b64encode(content).decode()}}
        path.write_text(json.dumps(record) + "\n")

    write(b"old")
    call_command("import_samples", str(path))
    call_command("import_samples", str(path))  # the same again: unchanged
    write(b"new")
    with pytest.raises(CommandError, match="files differs from the stored sample"):
        call_command("import_samples", str(path))
    assert sample_files.contents(Sample.objects.get()) == {"t.csv": b"old"}
    call_command("import_samples", str(path), "--replace")
    assert sample_files.contents(Sample.objects.get()) == {"t.csv": b"new"}


def test_import_samples_refuses_bad_file_names_and_writes_nothing(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({"key": "e2", "pytorch_code": "x", "files": {"../up.csv": "eA=="}}) + "\n")

    with pytest.raises(CommandError, match=r"line 1.files: file name '../up.csv' must not contain"):
        call_command("import_samples", str(path))
    assert not Sample.objects.exists()
