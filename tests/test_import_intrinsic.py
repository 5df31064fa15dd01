"""scripts/import_intrinsic.py: the paper's intrinsic set in one command, its conflicts with the bug-fix dataset,
and the paper's CodeBLEU reproduced against `groundtruth_before_fix`."""

from __future__ import annotations

import importlib.util
import io
import json
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from annotate.dataset import import_dataset_file
from annotate.dataset.errors import DatasetError
from annotate.models import ImportRecord, Sample, System, Translation
from evaluate.published import beside, codebleu_by_sample, import_results, summarize
from tests.paper import INTRINSIC, PAPER_DATASET, RESULTS, needs_paper_data

# The samples whose `pytorch` in intrinsic.json is another program than the bug-fix dataset's Input_Code.
DIFFERENT_PROGRAMS = ["e1", "h1", "h10", "h6", "m1", "m3", "m4", "m8"]
DRAFT_SYSTEMS = {
    "baseline_before_fix",
    "baseline_after_fix",
    "t2j_before_fix",
    "t2j_after_fix",
    "groundtruth_before_fix",
    "groundtruth_after_fix",
}

pytestmark = [pytest.mark.django_db, needs_paper_data]


def _script():
    path = settings.BASE_DIR / "scripts" / "import_intrinsic.py"
    spec = importlib.util.spec_from_file_location("import_intrinsic", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


script = _script()


@pytest.fixture
def bug_fix_dataset(db):
    import_dataset_file(PAPER_DATASET, system="paper-dataset")
    return {key: code for key, code in Sample.objects.values_list("key", "pytorch_code")}


def test_the_whole_set_imports_as_samples_and_one_system_per_draft_field():
    outcome = script.import_intrinsic(INTRINSIC)
    assert outcome.samples == {"new": 22, "unchanged": 0, "replaced": 0}
    assert set(System.objects.values_list("name", flat=True)) == DRAFT_SYSTEMS
    e1 = Sample.objects.get(key="e1")
    assert (e1.origin, e1.difficulty) == ("TorchLeet", "easy") and Sample.objects.get(key="h9").difficulty == "hard"
    paper = json.loads(INTRINSIC.read_text())["samples"]
    assert (
        Translation.objects.get(sample=e1, system__name="groundtruth_before_fix").code
        == paper["e1"]["groundtruth_before_fix"]
    )
    assert Translation.objects.filter(system__name="t2j_after_fix").count() == 9
    again = script.import_intrinsic(INTRINSIC)  # the same file again: nothing to do
    assert again.samples["unchanged"] == 22 and again.systems["t2j_before_fix"]["unchanged"] == 20


def test_programs_that_differ_from_the_bug_fix_dataset_stop_the_import_and_are_named(bug_fix_dataset):
    records = ImportRecord.objects.count()
    with pytest.raises(DatasetError) as error:
        script.import_intrinsic(INTRINSIC)
    named = [p.split("'")[1] for p in error.value.problems if p.startswith("sample ")]
    # Only those 8: the others differ in whitespace only (trailing spaces, blank lines at the end).
    assert named == DIFFERENT_PROGRAMS
    assert "--replace" in error.value.message and "--key-prefix" in error.value.message
    assert dict(Sample.objects.values_list("key", "pytorch_code")) == bug_fix_dataset
    assert set(System.objects.values_list("name", flat=True)) == {"paper-dataset"}
    assert ImportRecord.objects.count() == records


def test_key_prefix_imports_the_set_beside_the_stored_samples(bug_fix_dataset):
    outcome = script.import_intrinsic(INTRINSIC, key_prefix="paper-")
    assert outcome.samples["new"] == 22
    assert dict(Sample.objects.filter(key__in=bug_fix_dataset).values_list("key", "pytorch_code")) == bug_fix_dataset
    assert Sample.objects.get(key="paper-m4").difficulty == "medium"
    assert Translation.objects.filter(sample__key="paper-e1", system__name="baseline_before_fix").exists()


def test_replace_overwrites_only_the_differing_programs(bug_fix_dataset):
    outcome = script.import_intrinsic(INTRINSIC, replace=True)
    assert outcome.samples == {"new": 2, "unchanged": 12, "replaced": 8}  # h9 and m2 are new
    paper = json.loads(INTRINSIC.read_text())["samples"]
    assert Sample.objects.get(key="e1").pytorch_code == paper["e1"]["pytorch"]
    assert Sample.objects.get(key="e3").pytorch_code == bug_fix_dataset["e3"]  # whitespace-only: kept as stored


def test_dry_run_and_the_command_line(bug_fix_dataset, capsys):
    assert script.main([str(INTRINSIC), "--key-prefix", "p-", "--dry-run"]) == 0
    assert "Would import:\nsamples: 22 new" in capsys.readouterr().out
    assert not Sample.objects.filter(key__startswith="p-").exists()
    assert script.main([str(INTRINSIC)]) == 1
    assert "sample 'm8': the PyTorch program differs" in capsys.readouterr().err


def test_a_malformed_file_is_refused_naming_the_place(tmp_path):
    bad = tmp_path / "intrinsic.json"
    bad.write_text(json.dumps({"samples": {"e1": {"pytorch": "x = 1", "bad name!": "y = 2"}, "e2": {"t2j": 3}}}))
    with pytest.raises(DatasetError) as error:
        script.import_intrinsic(bad)
    assert "intrinsic.json.samples.e1.bad name!: the system name may only hold" in error.value.message
    assert "intrinsic.json.samples.e2 must be an object with a 'pytorch' program" in error.value.message
    assert not Sample.objects.exists()


def test_whitespace_differences_are_not_conflicts():
    assert script.same_program("a = 1  \nb = 2\n\n    ", "a = 1\r\nb = 2")
    assert not script.same_program("a = 1\nb = 2", "a = 1\nb = 3")
    assert not script.same_program("if x:\n    y", "if x:\ny")  # indentation is meaning


# A few samples: CodeBLEU is slow. e2, m1 and h5 are those whose recomputed figure moves most (up to 0.0019).
REPRODUCED = ("e1", "e2", "m1", "h5")


def test_codebleu_against_groundtruth_before_fix_reproduces_the_papers_figures():
    script.import_intrinsic(INTRINSIC, only=REPRODUCED)
    for system in ("baseline_before_fix", "t2j_before_fix"):
        call_command(
            "compute_metrics",
            "--metric",
            "codebleu",
            "--reference-system",
            "groundtruth_before_fix",
            "--system",
            system,
            stdout=io.StringIO(),
        )
    import_results(RESULTS, source="t2j-paper")
    ours = codebleu_by_sample({"A": "baseline_before_fix", "B": "t2j_before_fix"}, "groundtruth_before_fix")
    rows = [r for r in beside("t2j-paper", "codebleu", ours, section="intrinsic") if r.sample in REPRODUCED]
    assert len(rows) == 8 and all(r.difference is not None for r in rows)
    for row in rows:
        assert abs(row.difference) <= 0.002, row
    for arm in summarize(rows):
        assert arm.n == 4 and abs(arm.recomputed_mean - arm.published_mean) <= 0.001, arm
