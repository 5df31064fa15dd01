"""The dataset import/export domain: round trips, collisions, bad input, the --system rule."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection

from annotate.dataset import DatasetError, export_jsonl, export_t2j, import_dataset, preview_dataset
from annotate.dataset.records import KEY_ORDER
from annotate.models import (
    AppendOnlyError,
    FixSession,
    FixStep,
    ImportKind,
    ImportRecord,
    ImportStatus,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    StepCategory,
    System,
    SystemMode,
    Translation,
)
from t2j_site import planner_statistics
from tests.annotate.factories import (
    FixSessionFactory,
    FixStepFactory,
    RunFactory,
    SampleFactory,
    TranslationFactory,
)
from tests.paper import PAPER_DATASET, needs_paper_data

pytestmark = pytest.mark.django_db


def step(n: int = 1, **overrides) -> dict:
    values = {
        "Error_Code": f"bad_{n}()",
        "Error": f"NameError: bad_{n}",
        "Fix_info": f"fix {n}",
        "Fixed_Code": f"good_{n}()",
    }
    return {**values, **overrides}


def example(key: str, steps: list[dict] | None = None, **overrides) -> dict:
    values = {
        "Example_id": key,
        "Input_Code": f"import torch  # {key}\n",
        "LLM_weak_output": f"import jax  # draft {key}\n",
        "LLM_fix_output": f"import jax  # fixed {key}\n",
        "Errors": [step(1), step(2)] if steps is None else steps,
    }
    return {**values, **overrides}


def t2j(*examples: dict) -> bytes:
    return json.dumps({"Pytorch_to_JAX_Examples": list(examples)}, indent=4).encode()


def do_import(data: bytes, **options):
    return import_dataset(data, name="test.json", **options)


def row_counts() -> dict[str, int]:
    models = (Sample, System, Translation, FixSession, FixStep, SessionEvent)
    return {model.__name__: model.objects.count() for model in models}


# --- the paper's file -------------------------------------------------------------------------------------


@needs_paper_data
def test_paper_dataset_exports_back_byte_identical():
    raw = PAPER_DATASET.read_bytes()
    assert len(raw) == 460_961

    plan = import_dataset(raw, name=PAPER_DATASET.name)

    assert plan.counts()["samples"]["new"] == 20
    assert FixStep.objects.count() == 276
    assert export_t2j().encode() == raw


@needs_paper_data
def test_paper_dataset_keeps_error_context_in_its_original_place():
    import_dataset(PAPER_DATASET.read_bytes(), name=PAPER_DATASET.name)

    with_context = FixStep.objects.get(session__translation__sample__key="m6", extra__contains="Error_Context")

    assert list(with_context.extra) == ["Error_Context", KEY_ORDER]
    assert with_context.extra[KEY_ORDER] == ["Error_Code", "Error", "Error_Context", "Fix_info", "Fixed_Code"]
    exported = json.loads(export_t2j())["Pytorch_to_JAX_Examples"]
    m6_steps = next(e for e in exported if e["Example_id"] == "m6")["Errors"]
    assert ["Error_Code", "Error", "Error_Context", "Fix_info", "Fixed_Code"] in [list(s) for s in m6_steps]


@needs_paper_data
def test_paper_dataset_reimport_changes_nothing():
    raw = PAPER_DATASET.read_bytes()
    import_dataset(raw, name=PAPER_DATASET.name)
    before = row_counts()

    plan = import_dataset(raw, name=PAPER_DATASET.name)

    assert row_counts() == before
    assert plan.counts()["sessions"] == {"new": 0, "unchanged": 20, "conflicting": 0}
    assert plan.counts()["steps"]["unchanged"] == 276
    assert not plan.changes_anything


@needs_paper_data
def test_paper_dataset_jsonl_round_trip_is_lossless():
    import_dataset(PAPER_DATASET.read_bytes(), name=PAPER_DATASET.name)
    jsonl = "".join(export_jsonl())
    # Import the same sessions as another system (the samples match and stay), then export that system.
    renamed = jsonl.replace('"system": "weak-llm"', '"system": "weak-llm-copy"')

    import_dataset(renamed.encode(), name="copy.jsonl")

    assert "".join(export_jsonl("weak-llm-copy")) == renamed
    assert export_t2j("weak-llm-copy").encode() == PAPER_DATASET.read_bytes()


# --- what an import creates --------------------------------------------------------------------------------


def test_import_creates_sample_draft_and_verified_session_with_ordered_steps():
    do_import(t2j(example("e1", [step(1), step(2), step(3)])))

    sample = Sample.objects.get(key="e1")
    translation = Translation.objects.get(sample=sample)
    session = FixSession.objects.get(translation=translation)
    assert sample.pytorch_code == "import torch  # e1\n"
    assert sample.import_position == 0
    assert translation.system.name == "weak-llm" and translation.system.mode == SystemMode.IMPORTED
    assert translation.code == "import jax  # draft e1\n"
    assert session.status == SessionStatus.VERIFIED and session.owner is None
    assert session.verification["method"] == "imported"
    assert session.current_code == "import jax  # fixed e1\n"
    assert list(session.steps.values_list("index", "fix_info")) == [(1, "fix 1"), (2, "fix 2"), (3, "fix 3")]
    assert all(s.category in StepCategory.values for s in session.steps.all())
    assert session.events.get().kind == SessionEventKind.IMPORTED


def test_an_import_leaves_the_planner_statistics_counting_its_steps():
    # Statistics of empty tables made the shared-steps join take minutes on PostgreSQL after a large import.
    do_import(t2j(*(example(f"e{n}", [step(k) for k in range(1, 6)]) for n in range(40))))

    assert analysed_rows("annotate_fixstep") == 200


def test_a_rebuilt_table_gets_statistics_again_only_where_the_database_had_some(db):
    """A migration that rebuilds a table restores its statistics on an analysed database; on SQLite it leaves
    a never-analysed one so, as statistics for some tables only misled SQLite's joins (see restore)."""
    FixStepFactory()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # never analysed (a transactional test may have left statistics)
            cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
        planner_statistics.restore(Sample)
        assert analysed_rows("annotate_sample") == 0

    planner_statistics.refresh(FixStep)
    planner_statistics.restore(Sample)
    assert analysed_rows("annotate_sample") == 1


def analysed_rows(table: str) -> int:
    """The row count the planner's statistics hold for `table` (0 when never analysed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        else:
            # Each of the table's rows in sqlite_stat1 (made by the first ANALYZE) starts its `stat` with the
            # table's row count.
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return 0
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
        row = cursor.fetchone()
    return int(float(str(row[0]).split()[0])) if row else 0


def test_import_into_named_system():
    do_import(t2j(example("e1")), system="gpt-weak")

    assert Translation.objects.get().system.name == "gpt-weak"


def test_empty_strings_and_unknown_keys_are_kept_in_order():
    odd_step = {"Note": "first!", **step(1, Error=""), "Tags": ["a", {"z": 1, "a": 2}]}
    data = t2j(example("e1", [odd_step], Input_Code="", Source="paper"))

    do_import(data)

    assert FixSession.objects.get().extra == {"Source": "paper"}
    assert export_t2j().encode() == data


def test_examples_export_in_import_order_then_by_key():
    do_import(t2j(example("h10"), example("e2"), example("h3")))
    SampleFactory(key="a0")  # no import position: after the imported ones
    FixSessionFactory(
        translation=TranslationFactory(sample=Sample.objects.get(key="a0"), system=System.objects.get()),
        status=SessionStatus.VERIFIED,
    )

    exported = json.loads(export_t2j())["Pytorch_to_JAX_Examples"]

    assert [e["Example_id"] for e in exported] == ["h10", "e2", "h3", "a0"]


def test_second_file_appends_after_the_first():
    do_import(t2j(example("b1"), example("b2")))
    do_import(t2j(example("a1"), example("b1")))

    assert list(Sample.objects.values_list("key", "import_position")) == [("b1", 0), ("b2", 1), ("a1", 2)]


# --- collisions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("Input_Code", "import torch  # changed\n", "sample 'e1': Input_Code differs"),
        ("LLM_weak_output", "changed draft", "system 'weak-llm': LLM_weak_output differs"),
        ("LLM_fix_output", "changed fix", "LLM_fix_output differs"),
        ("Errors", [step(1), step(2, Fix_info="other")], "Errors differ from the verified session's steps"),
    ],
)
def test_same_key_with_different_content_is_an_error_naming_key_and_field(field, value, message):
    do_import(t2j(example("e1")))
    before = row_counts()

    with pytest.raises(DatasetError) as caught:
        do_import(t2j(example("e1", **{field: value}), example("e9")))

    assert message in caught.value.message
    assert "Pytorch_to_JAX_Examples[0]" in caught.value.message
    assert row_counts() == before  # not even the new e9


def test_replace_updates_draft_and_replaces_the_session_keeping_the_old_one_abandoned():
    do_import(t2j(example("e1")))
    old_session = FixSession.objects.get()

    do_import(t2j(example("e1", [step(7)], LLM_weak_output="new draft", LLM_fix_output="new fix")), replace=True)

    old_session.refresh_from_db()
    assert old_session.status == SessionStatus.ABANDONED
    assert old_session.steps.count() == 2  # append-only: the old steps stay
    assert old_session.events.filter(kind=SessionEventKind.ABANDONED).exists()
    new_session = FixSession.objects.get(status=SessionStatus.VERIFIED)
    assert new_session.translation.code == "new draft"
    assert new_session.current_code == "new fix"
    assert list(new_session.steps.values_list("fix_info", flat=True)) == ["fix 7"]
    assert json.loads(export_t2j())["Pytorch_to_JAX_Examples"][0]["Errors"] == [step(7)]


def test_open_session_on_the_translation_is_a_conflict():
    do_import(t2j(example("e1")))
    session = FixSession.objects.get()
    session.status = SessionStatus.OPEN  # as if reopened by a developer
    session.save()

    with pytest.raises(DatasetError, match="open fix session"):
        do_import(t2j(example("e1")))


def test_preview_lists_conflicts_without_writing():
    do_import(t2j(example("e1")))
    before = row_counts()

    plan = preview_dataset(t2j(example("e1", Input_Code="x"), example("e2")), name="t.json")

    assert plan.counts()["samples"] == {"new": 1, "unchanged": 0, "conflicting": 1}
    assert plan.counts()["steps"] == {"new": 2, "unchanged": 2, "conflicting": 0}  # e1's session itself is the same
    assert len(plan.conflicts) == 1
    assert row_counts() == before


# --- export rules ------------------------------------------------------------------------------------------


def _verified_session(system: str, sample=None) -> FixSession:
    translation = TranslationFactory(system__name=system, **({"sample": sample} if sample else {}))
    return FixSessionFactory(translation=translation, status=SessionStatus.VERIFIED)


def test_t2j_export_needs_a_system_when_several_verified_one_sample():
    first = _verified_session("sys-a")
    _verified_session("sys-b", sample=first.translation.sample)

    with pytest.raises(DatasetError, match=r"choose one system"):
        export_t2j()

    assert len(json.loads(export_t2j("sys-a"))["Pytorch_to_JAX_Examples"]) == 1


def test_t2j_export_unknown_system_is_an_error():
    with pytest.raises(DatasetError, match="no system named 'nope'"):
        export_t2j("nope")


def test_export_leaves_out_retracted_steps_and_unverified_sessions():
    session = _verified_session("sys-a")
    kept = FixStepFactory(session=session, index=1, fix_info="kept")
    wrong = FixStepFactory(session=session, index=2, fix_info="wrong")
    FixStepFactory(session=session, index=3, retracts=wrong, fix_info="retraction")
    FixStepFactory(session=FixSessionFactory(status=SessionStatus.OPEN), index=1)

    examples = json.loads(export_t2j())["Pytorch_to_JAX_Examples"]

    assert len(examples) == 1
    assert [e["Fix_info"] for e in examples[0]["Errors"]] == [kept.fix_info]


def test_jsonl_keeps_history_timing_and_authors(developer):
    session = _verified_session("sys-a")
    run = RunFactory(session=session, kind="contract", verdict="failed")
    first = FixStepFactory(session=session, index=1, author=developer, time_spent_s=12.5, edit_size=3,
                           code_before="a", code_after="b", category=StepCategory.PRNG, run=run,
                           category_reason="chosen by the developer", error_source="contract")  # fmt: skip
    FixStepFactory(session=session, index=2, retracts=first, author=developer)
    again = FixStepFactory(session=session, index=3, author=developer, flags=[{"kind": "duplicate", "of": 1}])

    record = json.loads("".join(export_jsonl()))

    assert record["status"] == "verified" and record["system"] == "sys-a"
    assert [s["retracts"] for s in record["steps"]] == [None, 1, None]
    assert record["steps"][0] | {"created_at": None} == {
        "index": 1, "error_code": first.error_code, "error": first.error, "fix_info": first.fix_info,
        "fixed_code": first.fixed_code, "category": "prng", "category_reason": "chosen by the developer",
        "error_source": "contract", "flags": [], "code_before": "a", "code_after": "b", "author": "dev",
        "created_at": None, "time_spent_s": 12.5, "edit_size": 3, "run_id": run.pk, "retracts": None, "extra": {},
    }  # fmt: skip
    assert record["steps"][2]["flags"] == [{"kind": "duplicate", "of": 1}] == again.flags
    copy = "".join(export_jsonl()).replace('"system": "sys-a"', '"system": "sys-copy"')
    import_dataset(copy.encode(), name="copy.jsonl")
    # Everything comes back but the run: a Run row stays in the database it ran in.
    assert "".join(export_jsonl("sys-copy")) == copy.replace(f'"run_id": {run.pk}', '"run_id": null')


# --- bad input --------------------------------------------------------------------------------------------


def _missing_fix_info() -> bytes:
    examples = [example(f"e{i}") for i in range(7)]
    del examples[5]["Errors"][1]["Fix_info"]
    return t2j(*examples)


BAD_INPUTS = [
    (b'{"Pytorch_to_JAX_Examples": [', "is not valid JSON"),
    (b"[1, 2]", 'top level must be an object with a "Pytorch_to_JAX_Examples" list'),
    (b'{"examples": []}', 'top level must be an object with a "Pytorch_to_JAX_Examples" list'),
    (b'{"Pytorch_to_JAX_Examples": {}}', "Pytorch_to_JAX_Examples must be a list"),
    (_missing_fix_info(), "Pytorch_to_JAX_Examples[5].Errors[1].Fix_info is missing"),
    (t2j(example("e1", Errors="none")), "Pytorch_to_JAX_Examples[0].Errors must be a list, not a string"),
    (
        t2j(example("e1", [step(1, Error=3)])),
        "Pytorch_to_JAX_Examples[0].Errors[0].Error must be a string, not a number",
    ),
    (t2j(example("e1"), example("e2"), example("e1")), "Pytorch_to_JAX_Examples[2].Example_id 'e1' repeats"),
    (t2j(example("e 1")), "Example_id 'e 1' may only hold letters"),
    (t2j(example("e1", Input_Code="a\u0000b")), "Pytorch_to_JAX_Examples[0].Input_Code contains a NUL character"),
    (t2j(example("e1", Input_Code="\ud800")), "contains an unpaired surrogate"),
    (b'{"Pytorch_to_JAX_Examples": []}\x00', "contains a NUL byte at byte offset 31"),
    (b'{"Pytorch_to_JAX_Examples": ["\xff"]}', "is not valid UTF-8 (byte offset 30)"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"Pytorch_to_JAX_Examples": [' + b"9" * 5000 + b"]}", "is not valid JSON"),
    (t2j(example("e1", _key_order=["x"])), "_key_order is a reserved key"),
]


@pytest.mark.parametrize("data, message", BAD_INPUTS)
def test_bad_input_names_the_problem_and_writes_nothing(data, message):
    with pytest.raises(DatasetError) as caught:
        do_import(data)

    assert message in caught.value.message
    assert row_counts() == dict.fromkeys(row_counts(), 0)


def test_files_over_the_size_cap_are_refused(settings):
    settings.T2J_IMPORT_MAX_BYTES = 100

    with pytest.raises(DatasetError, match="over the import limit of 100 bytes"):
        do_import(t2j(example("e1")))

    assert Sample.objects.count() == 0


def test_one_bad_item_among_a_thousand_writes_nothing_but_a_failed_audit_row():
    examples = [example(f"k{i}", [step(1)]) for i in range(1000)]
    examples[998]["Errors"][0]["Fixed_Code"] = None

    with pytest.raises(DatasetError, match=r"Pytorch_to_JAX_Examples\[998\]\.Errors\[0\]\.Fixed_Code must be a string"):
        do_import(t2j(*examples))

    assert row_counts() == dict.fromkeys(row_counts(), 0)
    record = ImportRecord.objects.get()
    assert (record.kind, record.source, record.status) == (ImportKind.DATASET, "test.json", ImportStatus.FAILED)
    assert "Pytorch_to_JAX_Examples[998].Errors[0].Fixed_Code must be a string" in record.errors


def test_all_problems_are_listed_not_only_the_first():
    examples = [example("e1", [{"Error": "x"}]), example("e2", LLM_fix_output=None)]

    with pytest.raises(DatasetError) as caught:
        do_import(t2j(*examples))

    assert len(caught.value.problems) == 4  # three missing keys in e1's step, one mistyped field in e2


JSONL_LINE = {"sample": "s1", "system": "sys", "pytorch_code": "p", "draft_code": "d", "final_code": "f", "steps": []}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": "open"}, "line 1.status is 'open': only verified sessions can be imported"),
        ({"colour": "red"}, "line 1 has an unknown key 'colour'"),
        ({"verified_at": "yesterday"}, "line 1.verified_at 'yesterday' is not an ISO 8601 date and time"),
        ({"steps": [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "", "retracts": 4}]},
         "line 1.steps[0].retracts 4 names no earlier step"),
        ({"steps": [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "", "category": "typo"}]},
         "line 1.steps[0].category 'typo' is not one of"),
        ({"pytorch_code": None}, "line 1.pytorch_code must be a string, not null"),
        ({"steps": [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "", "error_source": "guess"}]},
         "line 1.steps[0].error_source 'guess' is not one of run, contract"),
        ({"steps": [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "",
                     "flags": [{"kind": "twin", "of": 1}]}]},
         'line 1.steps[0].flags must be a list of {"kind": duplicate | near-duplicate | repeat'),
        ({"steps": [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "", "flags": [{"kind": "repeat"}]}]},
         "line 1.steps[0].flags must be a list of"),
    ],
)  # fmt: skip
def test_bad_jsonl_records_name_the_line(change, message):
    data = json.dumps({**JSONL_LINE, **change}) + "\n" + json.dumps({**JSONL_LINE, "system": "other"}) + "\n"

    with pytest.raises(DatasetError) as caught:
        import_dataset(data.encode(), name="x.jsonl")

    assert message in caught.value.message
    assert Sample.objects.count() == 0


def test_t2j_steps_come_in_as_imported_with_the_category_reason_and_flags():
    steps = [step(1), step(2), step(1) | {"Fix_info": "fix 1"}]
    do_import(t2j(example("e1", steps)))

    stored = list(FixStep.objects.order_by("index"))
    assert {s.error_source for s in stored} == {"imported"}
    assert all(s.category_reason.startswith("suggested: ") for s in stored)
    assert [s.flags for s in stored] == [[], [], [{"kind": "duplicate", "of": 1}]]


def test_jsonl_without_flags_gets_them_computed_and_with_flags_keeps_them():
    repeated = {"error_code": "a", "error": "E", "fix_info": "f", "fixed_code": "b"}
    line = {**JSONL_LINE, "steps": [repeated, repeated, {**repeated, "flags": []}]}

    import_dataset((json.dumps(line) + "\n").encode(), name="x.jsonl")

    assert [s.flags for s in FixStep.objects.order_by("index")] == [[], [{"kind": "duplicate", "of": 1}], []]
    assert {s.error_source for s in FixStep.objects.all()} == {""}  # the file does not say


def test_jsonl_repeated_session_is_an_error():
    data = (json.dumps(JSONL_LINE) + "\n") * 2

    with pytest.raises(DatasetError, match="line 2: sample 's1' by system 'sys' repeats line 1"):
        import_dataset(data.encode(), name="x.jsonl")


def test_system_option_is_refused_for_jsonl():
    with pytest.raises(DatasetError, match="a system name applies to T2J files only"):
        import_dataset(json.dumps(JSONL_LINE).encode(), name="x.jsonl", system="other")


def test_jsonl_is_detected_whatever_the_file_is_called():
    line = {"system": "sys", **JSONL_LINE}  # "sample" is not the first key
    data = json.dumps(line) + "\n" + json.dumps({**line, "sample": "s2"}) + "\n"

    plan = import_dataset(data.encode(), name="sessions.json")

    assert plan.format == "jsonl"
    assert Sample.objects.count() == 2


def test_jsonl_owners_without_an_account_are_imported_as_null_and_reported(developer):
    steps = [{"error_code": "", "error": "", "fix_info": "", "fixed_code": "", "author": "dev"}]
    data = json.dumps({**JSONL_LINE, "owner": "ghost", "steps": steps})

    plan = import_dataset(data.encode(), name="x.jsonl")

    assert plan.unknown_users == ["ghost"]
    session = FixSession.objects.get()
    assert session.owner is None and session.steps.get().author == developer


# --- the import audit trail (RELIABILITY.md case 32) --------------------------------------------------------


def test_a_good_import_leaves_one_ok_audit_row_with_its_counts(developer):
    plan = do_import(t2j(example("e1"), example("e2")), actor=developer)

    record = ImportRecord.objects.get()
    assert (record.status, record.format, record.actor, record.errors) == (ImportStatus.OK, "t2j", developer, "")
    assert record.summary == plan.counts()
    assert record.summary["samples"]["new"] == 2 and record.summary["steps"]["new"] == 4


def test_a_dry_run_and_a_preview_leave_no_audit_row():
    do_import(t2j(example("e1")), dry_run=True)
    with pytest.raises(DatasetError):
        do_import(b"not json", dry_run=True)
    preview_dataset(t2j(example("e1")), name="test.json")

    assert ImportRecord.objects.count() == 0
    assert Sample.objects.count() == 0


def test_a_refused_collision_is_audited_as_failed_and_writes_nothing():
    do_import(t2j(example("e1")))
    before = row_counts()

    with pytest.raises(DatasetError):
        do_import(t2j(example("e2"), example("e1", Input_Code="changed\n")))

    assert row_counts() == before
    failed = ImportRecord.objects.get(status=ImportStatus.FAILED)
    assert "Pytorch_to_JAX_Examples[1]: sample 'e1': Input_Code differs" in failed.errors


REFUSED_FIX = "the database refuses this one"
# A real refusal by the database mid-import (as a full disk or a constraint would give), in each dialect.
REFUSING_TRIGGER = {
    "sqlite": (
        [
            "CREATE TEMP TRIGGER refuse_step BEFORE INSERT ON annotate_fixstep "
            f"WHEN NEW.fix_info = '{REFUSED_FIX}' BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        ],
        ["DROP TRIGGER refuse_step"],
    ),
    "postgresql": (
        [
            "CREATE FUNCTION refuse_step() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.fix_info = '{REFUSED_FIX}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END; $$;",
            "CREATE TRIGGER refuse_step BEFORE INSERT ON annotate_fixstep FOR EACH ROW EXECUTE FUNCTION refuse_step();",
        ],
        ["DROP TRIGGER refuse_step ON annotate_fixstep", "DROP FUNCTION refuse_step()"],
    ),
}


def test_a_database_failure_at_item_999_rolls_back_all_998_before_it_and_names_the_item():
    examples = [example(f"k{i}", [step(1)]) for i in range(1000)]
    examples[998]["Errors"][0]["Fix_info"] = REFUSED_FIX
    create, drop = REFUSING_TRIGGER[connection.vendor]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    try:
        with pytest.raises(DatasetError, match=r"Pytorch_to_JAX_Examples\[998\] could not be written: refused"):
            do_import(t2j(*examples))
    finally:
        with connection.cursor() as cursor:
            for statement in drop:
                cursor.execute(statement)

    assert row_counts() == dict.fromkeys(row_counts(), 0)
    record = ImportRecord.objects.get()
    assert record.status == ImportStatus.FAILED and "Pytorch_to_JAX_Examples[998]" in record.errors


def test_audit_rows_cannot_be_changed_or_deleted():
    do_import(t2j(example("e1")))
    record = ImportRecord.objects.get()

    with pytest.raises(AppendOnlyError):
        ImportRecord.objects.update(status=ImportStatus.FAILED)
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("UPDATE annotate_importrecord SET status = 'failed'")
