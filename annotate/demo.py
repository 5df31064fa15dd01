"""The demo data set (fixtures/demo): samples, two LLM systems' drafts, verified fix sessions, demo users.

`fixtures/demo/demo.json` describes it; the programs live beside it as `<key>/pytorch.py`, `<key>/fixed.py`
and one file per draft, with the sample's equivalence contract in `<key>/contract.py`. A fix session's
steps are stored in the JSON as text edits; applying them in order to the draft gives each step's full
code before and after, and the last one must give `fixed.py`, so the logged intermediate programs are
real ones and cannot drift from the files.

Loading is idempotent: everything is matched on natural keys (sample key, system name, the
(sample, system) pair), so a second run creates nothing. The blind comparisons of demo.json are evaluate's
records: evaluate/demo.py checks and loads them after this part (annotate never imports evaluate).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from diff_match_patch import diff_match_patch
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from annotate import system_stats
from annotate.contracts import change_contract
from annotate.models import (
    FixSession,
    FixStep,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    StepCategory,
    System,
    Translation,
)
from annotate.roles import ADMIN, DEVELOPER, REVIEWER

DEMO_DIR = Path(settings.BASE_DIR) / "fixtures" / "demo"
# username -> role; boss is also staff and superuser so the Django admin works for the demo. The demo's
# votes are rev2's, so that rev starts with pairs (and translations) waiting.
DEMO_USERS = {"dev": DEVELOPER, "rev": REVIEWER, "rev2": REVIEWER, "boss": ADMIN}
PASSWORD_ENV = "T2J_DEMO_PASSWORD"


class DemoDataError(Exception):
    """The demo files contradict each other; nothing was written."""


# --- users -----------------------------------------------------------------------------------------


def ensure_demo_users() -> list[tuple[str, str, str | None]]:
    """Create the demo users that are missing; return (username, role, password or None if it existed).

    The password comes from T2J_DEMO_PASSWORD when set, else a fresh random one per user. Existing users
    keep their password and get their demo role added if they lost it.
    """
    shared_password = os.environ.get(PASSWORD_ENV, "")
    result = []
    with transaction.atomic():
        for username, role in DEMO_USERS.items():
            user, password = _ensure_user(username, role, shared_password)
            result.append((user.get_username(), role, password))
    return result


def _ensure_user(username: str, role: str, shared_password: str):
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    password = None
    if user is None:
        password = shared_password or secrets.token_urlsafe(12)
        is_boss = role == ADMIN
        user = User(username=username, is_staff=is_boss, is_superuser=is_boss)
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user, password


# --- reading and checking the files ----------------------------------------------------------------


@dataclass
class StepSpec:
    error_code: str
    error: str
    fix_info: str
    fixed_code: str
    category: str
    time_spent_s: float | None
    code_before: str
    code_after: str


def read_demo(directory: Path | None = None) -> dict[str, Any]:
    """demo.json with every program read in; raises DemoDataError if anything is missing or inconsistent."""
    directory = directory or DEMO_DIR
    path = directory / "demo.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoDataError(f"cannot read {path}: {exc}") from exc
    try:
        _read_programs(data, directory)
    except (KeyError, TypeError) as exc:
        raise DemoDataError(f"{path} lacks or mistypes an entry: {exc!r}") from exc
    return data


def _read_programs(data: dict[str, Any], directory: Path) -> None:
    system_names = {s["name"] for s in data["systems"]}
    for sample in data["samples"]:
        sample_dir = directory / sample["key"]
        sample["pytorch_code"] = _read(sample_dir / "pytorch.py")
        sample["fixed_code"] = _read(sample_dir / "fixed.py")
        # The equivalence contract is optional: verification falls back to a clean run without one.
        contract = sample_dir / "contract.py"
        sample["contract"] = _read(contract) if contract.exists() else ""
        sample["drafts"] = {}
        for system, filename in sample["translations"].items():
            if system not in system_names:
                raise DemoDataError(f"{sample['key']}: unknown system {system!r}")
            sample["drafts"][system] = _read(sample_dir / filename)
        if "session" in sample:
            if sample["session"]["owner"] not in DEMO_USERS:
                raise DemoDataError(f"{sample['key']}: the session owner must be a demo user")
            sample["session"]["step_specs"] = session_steps(sample)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DemoDataError(f"missing demo file {path}") from exc


def session_steps(sample: dict[str, Any]) -> list[StepSpec]:
    """Replay a session's edits on its draft; the result must be the sample's fixed.py."""
    session = sample["session"]
    code = sample["drafts"][session["system"]]
    specs = []
    for number, step in enumerate(session["steps"], start=1):
        where = f"{sample['key']} step {number}"
        if step["category"] not in StepCategory.values:
            raise DemoDataError(f"{where}: unknown category {step['category']!r}")
        before = code
        for old, new in step.get("edits") or [[step["error_code"], step["fixed_code"]]]:
            if code.count(old) != 1:
                raise DemoDataError(f"{where}: edit text must occur exactly once: {old[:60]!r}")
            code = code.replace(old, new, 1)
        if code == before:
            raise DemoDataError(f"{where}: the step changes nothing")
        specs.append(
            StepSpec(
                error_code=step["error_code"],
                error=step["error"],
                fix_info=step["fix_info"],
                fixed_code=step["fixed_code"],
                category=step["category"],
                time_spent_s=step.get("time_spent_s"),
                code_before=before,
                code_after=code,
            )
        )
    if code != sample["fixed_code"]:
        raise DemoDataError(f"{sample['key']}: the steps do not end in fixed.py")
    return specs


# --- loading -----------------------------------------------------------------------------------------


def load_demo(stdout: TextIO | None = None, directory: Path | None = None) -> dict[str, Any]:
    """Create whatever of annotate's part of the demo is missing, in one transaction (see write_demo)."""
    data = read_demo(directory)  # check every file before writing anything
    return write_demo(data, stdout)


def write_demo(data: dict[str, Any], stdout: TextIO | None = None) -> dict[str, Any]:
    """Create what is missing of `data` (from read_demo) in one transaction; how many rows of each were made.

    Returns {"users", "systems", "samples", "translations", "sessions", "steps": int, "new_users": the demo
    users created now as (username, role, password)}. Per sample, one line goes to `stdout` when given.
    """
    counts = {"users": 0, "systems": 0, "samples": 0, "translations": 0, "sessions": 0, "steps": 0}
    with transaction.atomic():
        users = ensure_demo_users()
        new_users = [(name, role, password) for name, role, password in users if password]
        counts["users"] = len(new_users)
        systems = {spec["name"]: _ensure_system(spec, counts) for spec in data["systems"]}
        for position, spec in enumerate(data["samples"]):
            before = dict(counts)
            sample = _ensure_sample(spec, position, counts)
            translations = {
                name: _ensure_translation(sample, systems[name], code, counts) for name, code in spec["drafts"].items()
            }
            if "session" in spec:
                _ensure_session(translations[spec["session"]["system"]], spec, counts)
            new = {kind: counts[kind] - before[kind] for kind in ("samples", "translations", "sessions", "steps")}
            _say(stdout, f"{sample.key}: " + ", ".join(f"{n} new {kind}" for kind, n in new.items()))
        for system in systems.values():
            system_stats.recount(system)  # a fresh demo's system pages show counted statistics
    return {**counts, "new_users": new_users}


def _say(stdout: TextIO | None, line: str) -> None:
    if stdout is not None:
        stdout.write(line + "\n")


def _ensure_system(spec: dict[str, Any], counts: dict[str, int]) -> System:
    system, created = System.objects.get_or_create(
        name=spec["name"],
        defaults={
            "mode": spec["mode"],
            "model": spec.get("model", ""),
            "temperature": spec.get("temperature", 0.0),
            "notes": spec.get("notes", ""),
        },
    )
    counts["systems"] += created
    return system


def _ensure_sample(spec: dict[str, Any], position: int, counts: dict[str, int]) -> Sample:
    sample, created = Sample.objects.get_or_create(
        key=spec["key"],
        defaults={
            "title": spec["title"],
            "origin": spec.get("origin", "demo"),
            "difficulty": spec.get("difficulty", ""),
            "pytorch_code": spec["pytorch_code"],
            "contract": spec["contract"],
            "contract_version": 1 if spec["contract"] else 0,
            "import_position": position,
        },
    )
    counts["samples"] += created
    if not created and spec["contract"] and not sample.contract:
        # A demo loaded before contracts existed gets them; a contract someone wrote is left alone.
        change_contract(sample, spec["contract"], based_on=sample.contract_version)
    return sample


def _ensure_translation(sample: Sample, system: System, code: str, counts: dict[str, int]) -> Translation:
    translation, created = Translation.objects.get_or_create(
        sample=sample,
        system=system,
        defaults={"code": code, "model": system.model, "drafted_at": timezone.now()},
    )
    counts["translations"] += created
    return translation


def _ensure_session(translation: Translation, spec: dict[str, Any], counts: dict[str, int]) -> None:
    # Any session on the draft (ours from an earlier run, or someone's real work) means: leave it alone.
    if translation.fix_sessions.exists():
        return
    session_spec = spec["session"]
    owner = get_user_model().objects.get(username=session_spec["owner"])
    steps: list[StepSpec] = session_spec["step_specs"]
    # Spread the steps over the time they took, ending now, so effort metrics have real timings.
    total = sum(step.time_spent_s or 0 for step in steps)
    clock = timezone.now() - timedelta(seconds=total)
    session = FixSession.objects.create(
        translation=translation,
        owner=owner,
        status=SessionStatus.VERIFIED,
        claimed_at=clock,
        current_code=spec["fixed_code"],
        version=len(steps) + 1,
        verification={"method": "demo"},
    )
    dmp = diff_match_patch()
    for index, step in enumerate(steps, start=1):
        clock += timedelta(seconds=step.time_spent_s or 0)
        FixStep.objects.create(
            session=session,
            index=index,
            error_code=step.error_code,
            error=step.error,
            fix_info=step.fix_info,
            fixed_code=step.fixed_code,
            category=step.category,
            code_before=step.code_before,
            code_after=step.code_after,
            time_spent_s=step.time_spent_s,
            edit_size=dmp.diff_levenshtein(dmp.diff_main(step.code_before, step.code_after)),
            author=owner,
            created_at=clock,
        )
    session.last_activity_at = session.verified_at = clock
    session.save(update_fields=["last_activity_at", "verified_at"])
    SessionEvent.objects.create(session=session, kind=SessionEventKind.IMPORTED, detail={"source": "demo"})
    counts["sessions"] += 1
    counts["steps"] += len(steps)
