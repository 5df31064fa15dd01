"""The demo data set: what fixtures/demo/demo.json describes of annotate's part is what load_demo creates, once.

The comparisons, the whole demo and the load_demo command: tests/evaluate/test_demo.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotate import fixlog
from annotate.demo import DEMO_DIR, DEMO_USERS, DemoDataError, ensure_demo_users, load_demo
from annotate.models import (
    FixSession,
    FixStep,
    Sample,
    SessionEventKind,
    SessionStatus,
    StepCategory,
    System,
    Translation,
)
from tests.annotate import demo_files
from tests.annotate.demo_files import (
    SESSION_SAMPLES,
    SPEC,
    edit_spec,
    expected_counts,
    table_counts,
)
from tests.annotate.factories import FixSessionFactory, SampleFactory, SystemFactory, TranslationFactory

ALL_PY = sorted(DEMO_DIR.rglob("*.py"))

demo_copy = demo_files.demo_copy


@pytest.fixture(autouse=True)
def _no_demo_password(monkeypatch):
    monkeypatch.delenv("T2J_DEMO_PASSWORD", raising=False)


# --- the files -----------------------------------------------------------------------------------------


def test_demo_has_the_six_kinds_of_sample_with_every_file():
    assert len(SPEC["samples"]) >= 6
    for sample in SPEC["samples"]:
        folder = DEMO_DIR / sample["key"]
        assert (folder / "pytorch.py").is_file()
        assert (folder / "fixed.py").is_file()
        for filename in sample["translations"].values():
            assert (folder / filename).is_file()


@pytest.mark.parametrize("path", ALL_PY, ids=lambda p: str(p.relative_to(DEMO_DIR)))
def test_every_demo_program_compiles(path: Path):
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize(
    "path", [p for p in ALL_PY if p.name in ("pytorch.py", "fixed.py")], ids=lambda p: str(p.relative_to(DEMO_DIR))
)
def test_runnable_programs_guard_their_main(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guards = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", "'__main__' == __name__")
    ]
    assert guards, f"{path} runs code on import"
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize(
    "path", [p for p in ALL_PY if p.name != "contract.py"], ids=lambda p: str(p.relative_to(DEMO_DIR))
)
def test_programs_import_only_their_framework(path: Path):
    # PyTorch sources may use torch and numpy; every JAX file (drafts included) only the JAX stack.
    allowed = {"math", "numpy"} | ({"torch"} if path.name == "pytorch.py" else {"jax", "flax", "optax"})
    assert _imported_roots(path) <= allowed


def test_every_sample_has_a_contract_with_its_three_stages():
    for sample in SPEC["samples"]:
        tree = ast.parse((DEMO_DIR / sample["key"] / "contract.py").read_text(encoding="utf-8"))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert {"spec", "numeric", "behavioral"} <= functions, sample["key"]


# --- loading ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_demo_creates_what_demo_json_describes():
    result = load_demo()

    expected = expected_counts()
    assert table_counts() == expected
    assert {k: result[k] for k in expected} == expected
    assert [s.key for s in Sample.objects.order_by("import_position")] == [s["key"] for s in SPEC["samples"]]
    assert list(Sample.objects.order_by("import_position").values_list("import_position", flat=True)) == list(
        range(len(SPEC["samples"]))
    )


@pytest.mark.django_db
def test_samples_and_drafts_hold_the_files():
    load_demo()
    for spec in SPEC["samples"]:
        sample = Sample.objects.get(key=spec["key"])
        assert sample.title == spec["title"]
        assert sample.difficulty == spec["difficulty"]
        assert sample.pytorch_code == (DEMO_DIR / spec["key"] / "pytorch.py").read_text(encoding="utf-8")
        assert sample.contract == (DEMO_DIR / spec["key"] / "contract.py").read_text(encoding="utf-8")
        assert sample.contract_version == 1
        for system, filename in spec["translations"].items():
            translation = Translation.objects.get(sample=sample, system__name=system)
            assert translation.code == (DEMO_DIR / spec["key"] / filename).read_text(encoding="utf-8")


@pytest.mark.django_db
def test_a_fresh_demo_has_its_system_statistics_counted():
    """QA: a fresh demo's system page said "Statistics: Not counted yet."."""
    load_demo()
    for system in System.objects.all():
        assert system.stats_updated_at is not None
        assert system.stats["translations"] == system.translations.count() > 0
        verified = FixSession.objects.filter(translation__system=system, status=SessionStatus.VERIFIED).count()
        assert system.stats["sessions_verified"] == verified


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    load_demo()
    before = table_counts()
    passwords = dict(get_user_model().objects.values_list("username", "password"))

    result = load_demo()

    assert table_counts() == before
    assert result["new_users"] == []
    assert all(result[k] == 0 for k in ("users", "systems", "samples", "translations", "sessions", "steps"))
    assert dict(get_user_model().objects.values_list("username", "password")) == passwords


@pytest.mark.django_db
@pytest.mark.parametrize("spec", SESSION_SAMPLES, ids=lambda s: s["key"])
def test_fix_session_steps_turn_the_draft_into_the_fixed_program(spec):
    load_demo()
    draft = Translation.objects.get(sample__key=spec["key"], system__name=spec["session"]["system"])
    session = draft.fix_sessions.get()
    steps = list(session.steps.order_by("index"))
    fixed = (DEMO_DIR / spec["key"] / "fixed.py").read_text(encoding="utf-8")

    assert [step.index for step in steps] == list(range(1, len(spec["session"]["steps"]) + 1))
    assert steps[0].code_before == draft.code
    assert steps[-1].code_after == fixed == session.current_code
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert earlier.code_after == later.code_before
    for step in steps:
        assert step.category in StepCategory.values
        assert step.code_before != step.code_after
        assert step.error and step.fix_info
        assert step.author.username == spec["session"]["owner"]


@pytest.mark.django_db
def test_demo_sessions_are_verified_shared_knowledge():
    load_demo()
    sessions = FixSession.objects.all()
    for session in sessions:
        assert session.status == SessionStatus.VERIFIED
        assert session.verification == {"method": "demo"}
        assert session.verified_at is not None
        assert [e.kind for e in session.events.all()] == [SessionEventKind.IMPORTED]
    assert FixStep.objects.shared().count() == FixStep.objects.count()


@pytest.mark.django_db
def test_drafts_without_a_session_are_left_for_developers():
    load_demo()
    claimed = {(s["key"], s["session"]["system"]) for s in SESSION_SAMPLES}
    open_drafts = {(t.sample.key, t.system.name) for t in fixlog.queue()}
    every_draft = {(s["key"], system) for s in SPEC["samples"] for system in s["translations"]}
    assert open_drafts == every_draft - claimed
    assert open_drafts


@pytest.mark.django_db
def test_load_demo_leaves_an_existing_session_alone(other_developer):
    # Someone claimed the weak linreg draft before the demo was loaded: their session stays the only one.
    spec = SESSION_SAMPLES[0]
    sample = SampleFactory(key=spec["key"])
    system = SystemFactory(name=spec["session"]["system"])
    claimed = FixSessionFactory(translation=TranslationFactory(sample=sample, system=system), owner=other_developer)

    load_demo()

    assert list(claimed.translation.fix_sessions.all()) == [claimed]
    assert FixSession.objects.verified().count() == len(SESSION_SAMPLES) - 1


@pytest.mark.django_db
def test_loading_again_adds_contracts_to_samples_loaded_without_them():
    load_demo()
    Sample.objects.update(contract="", contract_version=0)
    mine = Sample.objects.get(key=SPEC["samples"][0]["key"])
    mine.contract = "def spec(torch_program, jax_program):\n    pass\n"
    mine.contract_version = 4
    mine.save()

    load_demo()

    for spec in SPEC["samples"][1:]:
        sample = Sample.objects.get(key=spec["key"])
        assert sample.contract == (DEMO_DIR / spec["key"] / "contract.py").read_text(encoding="utf-8")
        assert sample.contract_version == 1
    mine.refresh_from_db()
    assert mine.contract_version == 4 and mine.contract.startswith("def spec")


@pytest.mark.django_db
def test_steps_that_do_not_end_in_the_fixed_program_are_refused(demo_copy):
    fixed = demo_copy / SESSION_SAMPLES[0]["key"] / "fixed.py"
    fixed.write_text(fixed.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")

    with pytest.raises(DemoDataError, match="do not end in fixed.py"):
        load_demo(directory=demo_copy)
    assert Sample.objects.count() == 0
    assert get_user_model().objects.count() == 0


@pytest.mark.django_db
def test_an_unknown_category_is_refused(demo_copy):
    edit_spec(
        demo_copy,
        lambda d: next(s for s in d["samples"] if "session" in s)["session"]["steps"][0].update(category="typo"),
    )

    with pytest.raises(DemoDataError, match="unknown category 'typo'"):
        load_demo(directory=demo_copy)
    assert Sample.objects.count() == 0


@pytest.mark.django_db
def test_a_missing_entry_is_reported_not_crashed_on(demo_copy):
    edit_spec(demo_copy, lambda d: d["samples"][0].pop("translations"))

    with pytest.raises(DemoDataError, match="'translations'"):
        load_demo(directory=demo_copy)
    assert Sample.objects.count() == 0


# --- users -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_demo_users_gives_each_user_exactly_its_role():
    created = ensure_demo_users()

    assert [(name, role) for name, role, _ in created] == list(DEMO_USERS.items())
    User = get_user_model()
    for username, role, password in created:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.check_password(password)
        assert user.is_staff == user.is_superuser == (username == "boss")
    assert len({password for _, _, password in created}) == len(created)


@pytest.mark.django_db
def test_ensure_demo_users_uses_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("T2J_DEMO_PASSWORD", "demo-pass-from-env")

    created = ensure_demo_users()

    assert {password for _, _, password in created} == {"demo-pass-from-env"}
    assert get_user_model().objects.get(username="rev").check_password("demo-pass-from-env")


@pytest.mark.django_db
def test_ensure_demo_users_keeps_an_existing_password(developer):
    developer.set_password("chosen-by-dev")
    developer.save()

    created = dict((name, password) for name, _, password in ensure_demo_users())

    assert created["dev"] is None
    developer.refresh_from_db()
    assert developer.check_password("chosen-by-dev")
    assert list(developer.groups.values_list("name", flat=True)) == ["developer"]
    assert created["rev"] and created["boss"]
