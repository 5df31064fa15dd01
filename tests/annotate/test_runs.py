"""Run rows: stored by annotate.runs from what the sandbox returned, and looked up per session."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate import runs, sandbox
from annotate.models import Run, RunKind
from tests.annotate.factories import RunFactory, UserFactory
from tests.annotate.fix_sessions import failing_run, open_session

pytest_plugins = ["tests.annotate.sandbox_fixtures"]  # fixtures: sandbox_settings, host

PASSED = [
    {"name": "spec", "status": "passed", "mismatch": None},
    {"name": "numeric", "status": "passed", "mismatch": None},
]


def test_failing_line_is_the_innermost_frame_of_the_program():
    frames = [
        {"file": "main.py", "line": 9, "function": "<module>"},
        {"file": "main.py", "line": 4, "function": "step"},
        {"file": "/opt/venv/jax/_src/numpy/array_methods.py", "line": 975, "function": "_unimplemented_setitem"},
    ]

    assert runs.failing_line(frames) == 4
    assert runs.failing_line([]) is None


@pytest.mark.django_db
def test_the_last_contract_run_skips_other_kinds_and_runs_without_a_verdict(developer):
    session = open_session(developer)
    checked = RunFactory(session=session, kind=RunKind.CONTRACT, verdict="failed", stages=PASSED)
    RunFactory(session=session, kind=RunKind.CONTRACT, verdict="")  # killed before it reported
    failing_run(session)

    assert runs.last_contract_run(session) == checked


# --- storing what the sandbox returned (real sandbox) ---


@pytest.mark.sandbox
@pytest.mark.django_db
def test_each_run_is_stored(host):
    user = UserFactory()
    result = runs.run("print('stored')", "pytorch", "alice", user=user)
    run = Run.objects.get(pk=result.run_id)
    assert (run.kind, run.status, run.stdout, run.user, run.user_key) == ("pytorch", "ok", "stored\n", user, "alice")
    assert run.code == "print('stored')" and len(run.code_hash) == 64
    assert run.isolation == "full" and run.duration_s is not None and not run.started_warm


@pytest.mark.sandbox
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("print(1)", "rust", "u"), "unknown run kind"),
        ((b"print(1)", "jax", "u"), "code must be text"),
        (("print(1)", "jax", "u", None, {"wall_s": -1}), "positive"),
        (("print(1)", "jax", "u", None, {"gpu": 1}), "unknown sandbox limits"),
    ],
)
def test_bad_input_is_rejected_and_nothing_is_stored(sandbox_settings, args, message):
    with pytest.raises(sandbox.InvalidRunInput, match=message):
        runs.run(*args)
    assert Run.objects.count() == 0


@pytest.mark.sandbox
@pytest.mark.django_db
def test_output_that_is_not_text_is_stored_readable_and_the_page_shows_it(host, developer, client):
    # The bytes of a lone surrogate and a NUL, raw on stdout and on stderr, and a printed lone surrogate
    # (RELIABILITY.md case 38): stored as text a database and a page can take, never a 500.
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'begin \\xed\\xa0\\x80 \\x00 end\\n')\n"
        "sys.stderr.buffer.write(b'\\xff\\xfe\\x00 on stderr\\n')\n"
        "sys.stdout.flush()\n"
        "print('lone \\ud800 surrogate')\n"
    )
    session = open_session(developer)

    result = runs.run(code, "jax", "u", user=developer, session=session)

    run = Run.objects.get(pk=result.run_id)
    assert run.stdout.startswith("begin ") and "on stderr" in run.stderr
    for text in (run.stdout, run.stderr, run.exception_message):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate left: strict UTF-8 takes it
    assert "\ufffd" in run.stdout and "\ufffd" in run.stderr  # replaced, not dropped
    client.force_login(developer)
    page = client.get(reverse("workspace:session_detail", args=[session.pk]))
    assert page.status_code == 200 and "begin " in page.content.decode()


# --- storing without the sandbox ---


@pytest.mark.django_db
def test_a_result_is_stored_as_the_sandbox_reported_it(developer):
    session = open_session(developer)
    result = sandbox.RunResult(
        status="error",
        exit_code=1,
        stdout="out\n",
        stderr="Traceback ...\n",
        exception_type="ValueError",
        exception_message="x",
        traceback=[{"file": "main.py", "line": 2, "function": "<module>"}],
        duration_s=0.5,
        isolation="full",
    )

    run = runs.store(result, "print(1)\n", RunKind.JAX, "dev", user=developer, session=session)

    assert (run.kind, run.status, run.exit_code, run.user, run.session, run.user_key) == (
        "jax",
        "error",
        1,
        developer,
        session,
        "dev",
    )
    assert (run.stdout, run.exception_type, run.traceback[0]["line"], run.duration_s) == ("out\n", "ValueError", 2, 0.5)
    assert run.code == "print(1)\n" and run.code_hash == runs.code_hash("print(1)\n")
    assert runs.clean_run(session) is None


@pytest.mark.django_db
def test_a_contract_verdict_is_stored_on_its_run_with_the_candidate_code(developer):
    session = open_session(developer)
    run = RunFactory(session=session, kind=RunKind.CONTRACT, code="driver")

    runs.record_verdict(
        run.pk, verdict="contract-error", stages=[], code="candidate", contract_version=3, error_message="boom\nhint"
    )

    run.refresh_from_db()
    assert (run.verdict, run.contract_version, run.code, run.code_hash) == (
        "contract-error",
        3,
        "candidate",
        runs.code_hash("candidate"),
    )
    assert (run.exception_type, run.exception_message) == ("ContractError", "boom\nhint")
