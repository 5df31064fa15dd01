"""manage.py set_contract (either kind, detected; bad files refused with the reason, nothing changed) and
manage.py verify for one translation (--json with each test) and for a whole system (the batch check)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotate.contracts import BatchReport, SampleVerdict
from annotate.models import FixSession, Sample, SessionStatus
from tests.annotate.contract_support import contract_file, demo_file, demo_sample
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

pytest_plugins = ["tests.annotate.sandbox_fixtures", "tests.annotate.contract_fixtures"]
pytestmark = pytest.mark.django_db

STAGED = "def spec(torch_program, jax_program):\n    pass\n"


def set_contract(key: str, path) -> str:
    out = StringIO()
    call_command("set_contract", str(path), sample=key, stdout=out)
    return out.getvalue()


# --- set_contract -----------------------------------------------------------------------------------------------


def test_set_contract_takes_a_pytest_style_module_and_marks_old_verifications_stale(tmp_path):
    sample = SampleFactory(key="linreg", contract=STAGED, contract_version=1)
    verified = FixSessionFactory(
        translation=TranslationFactory(sample=sample), status=SessionStatus.VERIFIED, contract_version=1
    )
    path = tmp_path / "test_linreg.py"
    path.write_text(contract_file("linreg_equivalence.py"), encoding="utf-8")

    output = set_contract("linreg", path)

    sample.refresh_from_db()
    assert sample.contract == contract_file("linreg_equivalence.py") and sample.contract_version == 2
    assert output.strip() == (
        f"linreg: contract set from {path} (pytest-style test module), version 2; 1 verified session(s) marked stale"
    )
    assert FixSession.objects.get(pk=verified.pk).is_stale
    assert "unchanged" in set_contract("linreg", path)  # the same file again changes nothing


def test_set_contract_takes_a_staged_contract(tmp_path):
    SampleFactory(key="cnn", contract="")
    path = tmp_path / "contract.py"
    path.write_text(demo_file("cnn", "contract.py"), encoding="utf-8")

    assert "(staged contract), version 1" in set_contract("cnn", path)
    assert Sample.objects.get(key="cnn").contract == demo_file("cnn", "contract.py")


@pytest.mark.parametrize(
    "content, words",
    [
        ("TOLERANCE = 1e-5\n\ndef helper():\n    return 1\n", "neither a staged contract"),
        ("def spec(t, j):\n    pass\n\ndef test_x():\n    pass\n", "both stage functions"),
        ("def test_x(:\n    pass\n", "not valid Python: line 1"),
        ("", "is empty"),
        ("   \n", "is empty"),
        (b"def test_x():\n    s = '\xff'\n", "not UTF-8 text"),
        ("def test_x():\n    return '\x00'\n", "without NUL characters"),
    ],
)
def test_set_contract_refuses_a_file_that_is_no_contract_and_changes_nothing(tmp_path, content, words):
    sample = SampleFactory(key="linreg", contract=STAGED, contract_version=3)
    path = tmp_path / "contract.py"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    with pytest.raises(CommandError, match=words) as error:
        set_contract("linreg", path)

    assert "nothing changed" in str(error.value)
    sample.refresh_from_db()
    assert (sample.contract, sample.contract_version) == (STAGED, 3)


def test_set_contract_refuses_a_missing_file_or_an_unknown_sample(tmp_path):
    SampleFactory(key="linreg", contract=STAGED, contract_version=1)
    with pytest.raises(CommandError, match="no such file; nothing changed"):
        set_contract("linreg", tmp_path / "absent.py")
    with pytest.raises(CommandError, match="is a folder"):
        set_contract("linreg", tmp_path)
    path = tmp_path / "contract.py"
    path.write_text(STAGED, encoding="utf-8")
    with pytest.raises(CommandError, match="no sample with the key 'nope'"):
        set_contract("nope", path)
    assert Sample.objects.get(key="linreg").contract_version == 1


# --- verify ------------------------------------------------------------------------------------------------------


def test_a_batch_exits_by_its_worst_verdict_and_nothing_checked_is_an_error():
    def report(*verdicts: str) -> BatchReport:
        return BatchReport(system="s", results=[SampleVerdict(f"k{i}", "draft", v) for i, v in enumerate(verdicts)])

    assert report("passed", "passed").exit_code == 0
    assert report("passed", "failed").exit_code == 1
    assert report("failed", "contract-error").exit_code == 2
    assert report().exit_code == 2


def test_verify_of_an_unknown_system_exits_2():
    with pytest.raises(CommandError, match="no system named 'nope'") as error:
        call_command("verify", system="nope", stdout=StringIO())
    assert error.value.returncode == 2


@pytest.mark.sandbox
def test_verify_json_prints_the_verdict_stages_and_each_test(real_program_settings):
    sample = demo_sample("linreg", contract_file("linreg_equivalence.py"))
    TranslationFactory(sample=sample, system=SystemFactory(name="weak-llm"), code=demo_file("linreg", "draft_weak.py"))
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", sample="linreg", system="weak-llm", as_json=True, stdout=out)

    assert exit_info.value.code == 1
    document = json.loads(out.getvalue())
    assert (document["verdict"], document["kind"], document["source"]) == ("failed", "pytest", "draft")
    assert [(s["name"], s["status"]) for s in document["stages"]] == [
        ("spec", "passed"),
        ("numeric", "failed"),
        ("behavioral", "not-reached"),
    ]
    tests = {test["name"]: test for test in document["tests"]}
    assert tests["test_train_step"]["outcome"] == "failed" and "zero_grad" in tests["test_train_step"]["message"]
    assert tests["test_convergence"]["outcome"] == "not-reached"
    assert {entry["module"] for entry in document["imports"]} == {"torch_program", "jax_program"}


@pytest.mark.sandbox
def test_verify_of_a_system_checks_every_sample_with_a_contract_and_lists_the_others(real_program_settings):
    system = SystemFactory(name="weak-llm")
    TranslationFactory(
        sample=demo_sample("linreg", contract_file("linreg_equivalence.py")),
        system=system,
        code=demo_file("linreg", "fixed.py"),
    )
    TranslationFactory(sample=demo_sample("focal"), system=system, code=demo_file("focal", "draft_weak.py"))
    TranslationFactory(sample=SampleFactory(key="plain", contract=""), system=system, code="x = 1\n")
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("verify", system="weak-llm", stdout=out)

    assert exit_info.value.code == 1
    lines = out.getvalue().splitlines()
    # In the samples' order (by key here), one line each as it is checked.
    assert lines[0].startswith("  failed         focal (draft code, run ")
    assert lines[1].startswith("  passed         linreg (draft code, run ")
    assert lines[2:] == ["no contract (not counted): plain", "weak-llm: 1 passed, 1 failed, 0 contract error"]

    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("verify", system="weak-llm", as_json=True, stdout=out)
    document = json.loads(out.getvalue())
    assert document["counts"] == {"passed": 1, "failed": 1, "contract-error": 0}
    assert [row["sample"] for row in document["results"]] == ["focal", "linreg"] and document["no_contract"] == [
        "plain"
    ]
