"""Numbers on import (issue 17, kind 4): every number is checked for type and range at preview, naming the
first bad record; NaN and Infinity are refused; what the preview accepts, confirm imports and both exports
write back as valid JSON; nothing answers 500.

Before: `edit_size: 1e30` or `index: 2**70` passed the preview and made confirm a 500; NaN was accepted and
the T2J export then wrote invalid JSON.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from annotate.dataset.records import MAX_BIG_INT, MAX_INT, MAX_TIME_SPENT_S
from annotate.models import FixSession, FixStep, SessionStatus
from tests.annotate.factories import FixSessionFactory, FixStepFactory

pytestmark = pytest.mark.django_db
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


def jsonl_record(sample: str, **step_numbers) -> dict:
    step = {"error_code": "x = 1", "error": "NameError", "fix_info": "define it", "fixed_code": "x = 2"}
    return {
        "sample": sample,
        "system": "weak-llm",
        "pytorch_code": f"import torch  # {sample}\n",
        "draft_code": "import jax\n",
        "final_code": "import jax  # fixed\n",
        "steps": [{**step, **step_numbers}],
    }


def preview(client, data: bytes, name: str = "data.jsonl"):
    upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post(reverse("dataset:import_preview"), {"file": upload, "format": "auto"})


def confirm(client, previewed):
    return client.post(reverse("dataset:import_confirm"), {"token": previewed.context["token"]})


def errors(response) -> list[str]:
    return response.context["errors"]


def strict_json(text: str):
    """json.loads that refuses what is not JSON (Python's own accepts NaN and Infinity)."""
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"export wrote {token}, which is not JSON"))


# --- the cases of the issue -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ({"edit_size": 1e30}, "line 2.steps[0].edit_size must be an integer or null, not a number"),
        ({"edit_size": 10**30}, "line 2.steps[0].edit_size is 10000000000000000000… (31 digits): it must be"),
        ({"index": 2**70}, "line 2.steps[0].index is 1180591620717411303424: it must be between 1 and 2,147,483,647"),
        ({"time_spent_s": -1}, "line 2.steps[0].time_spent_s is -1: it must be between 0 and 31,536,000"),
        ({"run_id": 2**63}, "line 2.steps[0].run_id is 9223372036854775808: it must be between 1 and"),
    ],
)
def test_out_of_range_numbers_are_refused_at_preview_naming_the_record(admin_client_role, numbers, message):
    lines = [jsonl_record("ok"), jsonl_record("bad", **numbers), jsonl_record("also-bad", **numbers)]
    response = preview(admin_client_role, "\n".join(json.dumps(line) for line in lines).encode())
    assert response.status_code == 400
    assert errors(response)[0].startswith(message)
    assert FixSession.objects.count() == 0


@pytest.mark.parametrize("token", NON_FINITE)
def test_nan_and_infinity_are_refused_in_jsonl_naming_the_line_and_field(admin_client_role, token):
    good = json.dumps(jsonl_record("ok"))
    bad = json.dumps(jsonl_record("bad", extra={"score": "POISON"})).replace('"POISON"', token)
    response = preview(admin_client_role, f"{good}\n{bad}\n".encode())
    assert response.status_code == 400
    assert errors(response) == [
        f"data.jsonl line 2.steps[0].extra.score is {token}: not a finite number "
        "(JSON has no NaN or Infinity; floats end at ±1.8e308)"
    ]


def test_nan_in_a_t2j_file_is_refused_naming_the_example(admin_client_role):
    examples = [
        {"Example_id": key, "Input_Code": "p", "LLM_weak_output": "d", "LLM_fix_output": "f", "Errors": [],
         "score": "POISON" if key == "e2" else 1.5}
        for key in ("e1", "e2")
    ]  # fmt: skip
    data = json.dumps({"Pytorch_to_JAX_Examples": examples}).replace('"POISON"', "NaN").encode()
    response = preview(admin_client_role, data, name="t2j.json")
    assert response.status_code == 400
    assert errors(response)[0].startswith("t2j.json.Pytorch_to_JAX_Examples[1].score is NaN")


def test_a_date_that_leaves_the_calendar_in_utc_is_refused_at_preview(admin_client_role):
    line = {**jsonl_record("late"), "claimed_at": "9999-12-31T23:59:59-05:00"}
    response = preview(admin_client_role, json.dumps(line).encode())
    assert response.status_code == 400
    assert errors(response) == ["line 1.claimed_at '9999-12-31T23:59:59-05:00' is out of range in UTC"]


@pytest.fixture
def session_holding_nan(db):
    """A verified session stored before imports refused NaN (the ORM field writes it as Python's json does)."""
    session = FixSessionFactory(status=SessionStatus.VERIFIED, extra={"score": float("nan")})
    FixStepFactory(session=session)
    return session


@pytest.mark.parametrize("fmt", ["t2j", "jsonl"])
def test_exporting_a_stored_nan_is_refused_with_a_message_not_invalid_json(admin_client_role, session_holding_nan, fmt):
    response = admin_client_role.get(reverse("dataset:export_download"), {"format": fmt})
    assert response.status_code == 400
    assert any(f"verified session {session_holding_nan.pk}" in error for error in errors(response))
    with pytest.raises(CommandError, match="NaN or Infinity"):
        call_command("export_dataset", "--format", fmt)


# --- property: whatever the preview accepts, confirm imports and the exports write as JSON -------------------

ints = st.one_of(
    st.integers(min_value=-5, max_value=100),
    st.integers(min_value=MAX_INT - 2, max_value=MAX_INT + 2),
    st.integers(min_value=MAX_BIG_INT - 2, max_value=MAX_BIG_INT + 2),
    st.integers(min_value=-(2**80), max_value=2**80),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=MAX_TIME_SPENT_S - 1, max_value=MAX_TIME_SPENT_S + 1),
)
json_numbers = st.one_of(ints, floats)
json_values = st.recursive(
    st.none() | st.booleans() | json_numbers | st.text(alphabet="ab é", max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="ab é", max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
step_numbers = st.fixed_dictionaries(
    {},
    optional={
        "index": ints | floats,
        "edit_size": ints | floats,
        "run_id": ints,
        "time_spent_s": json_numbers,
        "extra": st.dictionaries(st.text(alphabet="ab é", min_size=1, max_size=5), json_values, max_size=3),
    },
)
records = st.lists(st.tuples(step_numbers, st.sampled_from((None, *NON_FINITE))), min_size=1, max_size=3)


def _in_range(value, low, high, kinds) -> bool:
    return value is None or (isinstance(value, kinds) and low <= value <= high)


def _acceptable(numbers: dict) -> bool:
    """The documented ranges (records.py), restated independently of the code under test."""
    return (
        _in_range(numbers.get("index"), 1, MAX_INT, int)
        and _in_range(numbers.get("edit_size"), 0, MAX_INT, int)
        and _in_range(numbers.get("run_id"), 1, MAX_BIG_INT, int)
        and _in_range(numbers.get("time_spent_s"), 0, MAX_TIME_SPENT_S, (int, float))
    )


def _lines(generated) -> tuple[bytes, list[str], int | None]:
    """The file, the sample keys, and the line number the preview must name first (None: all acceptable)."""
    lines, keys, poisoned, out_of_range = [], [], [], []
    for number, (numbers, poison) in enumerate(generated, start=1):
        key = f"s-{uuid.uuid4().hex[:12]}"
        record = jsonl_record(key, **numbers)
        if poison:
            record["extra"] = {"poison": "POISON"}
            poisoned.append(number)
        elif not _acceptable(numbers):
            out_of_range.append(number)
        lines.append(json.dumps(record).replace('"POISON"', poison or '"POISON"'))
        keys.append(key)
    # The file is parsed (NaN and Infinity found) before its records' fields are checked.
    first_bad = (poisoned or out_of_range or [None])[0]
    return "\n".join(lines).encode(), keys, first_bad


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=records)
def test_preview_and_confirm_agree_on_every_number_and_exports_stay_json(admin_client_role, generated):
    data, keys, first_bad = _lines(generated)
    with transaction.atomic():
        previewed = preview(admin_client_role, data)
        if first_bad is not None:
            assert previewed.status_code == 400
            assert f"line {first_bad}." in errors(previewed)[0]
            assert not FixSession.objects.filter(translation__sample__key__in=keys).exists()
        else:
            assert previewed.status_code == 200, errors(previewed)
            confirmed = confirm(admin_client_role, previewed)
            assert confirmed.status_code == 302
            assert FixStep.objects.filter(session__translation__sample__key__in=keys).count() == len(keys)
            _assert_exports_carry_the_numbers(admin_client_role, generated, keys)
        transaction.set_rollback(True)


def _assert_exports_carry_the_numbers(client, generated, keys) -> None:
    t2j = client.get(reverse("dataset:export_download"), {"format": "t2j"})
    assert t2j.status_code == 200
    strict_json(t2j.getvalue().decode())
    jsonl = client.get(reverse("dataset:export_download"), {"format": "jsonl"})
    assert jsonl.status_code == 200
    exported = {record["sample"]: record for record in map(strict_json, jsonl.getvalue().decode().splitlines())}
    for (numbers, _), key in zip(generated, keys, strict=True):
        step = exported[key]["steps"][0]
        assert step["index"] == numbers.get("index", 1)
        assert step["edit_size"] == numbers.get("edit_size")
        assert step["extra"] == numbers.get("extra", {})
        if "time_spent_s" in numbers:
            assert step["time_spent_s"] == float(numbers["time_spent_s"])
