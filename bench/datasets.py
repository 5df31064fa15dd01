"""The data sets the volume benchmarks run on (issue 19), built through the ORM in the database Django is set up on.

- S: the demo (`load_demo`), the demo users and their FixCost.
- L: 2,000 samples × 4 systems, ~107k fix steps (about 14 per verified session, 2% retracted), 20k blind
  comparisons, 20k judgements and 50k sandbox runs, with texts taken from the T2J paper's published
  fix_bugs_dataset.json (../shared/t2j-paper) so row sizes are real ones: each step carries the whole
  program before and after it, as the workspace logs it.
Both get the same users (dev, rev, boss as in the demo, plus more developers and reviewers), stored
CodeBLEU and FixCost figures and a stored dashboard, so every page has what it reads.

Only bench/ imports this; it writes into whatever database is configured, so callers point DATABASE_URL at
a throw-away one first.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from annotate import similarity_index
from annotate.demo import DEMO_DIR
from annotate.models import (
    FixSession,
    FixStep,
    Job,
    JobStatus,
    Run,
    RunKind,
    RunStatus,
    Sample,
    SessionEvent,
    SessionEventKind,
    SessionStatus,
    StepCategory,
    System,
    SystemMode,
    Translation,
)
from annotate.roles import ADMIN, DEVELOPER, REVIEWER
from evaluate import dashboard, review
from evaluate.metrics.fixcost import fixcost_score
from evaluate.models import CodeBLEUScore, Comparison, FixCostRecord, FixCostSource, Judgement, Verdict

PAPER_DATASET = Path("shared") / "t2j-paper" / "fix_bugs_dataset.json"
# Every bench user logs in with this (the load test posts it to the login form); the data is thrown away.
PASSWORD = "bench-password-not-secret"
SYSTEMS = {"weak-llm": SystemMode.STANDARD, "t2j-fewshot": SystemMode.T2J, "t2j-full": SystemMode.T2J,
           "codestral": SystemMode.STANDARD}  # fmt: skip
L_SAMPLES = 2000
L_COMPARISONS = 20_000
L_JUDGEMENTS = 20_000
L_RUNS = 50_000
L_DEVELOPERS = 20
L_REVIEWERS = 20
BATCH = 2000
FRESH_REVIEWER = "rev-new"


def _paper_dataset() -> list[dict]:
    """The paper's examples, from shared/ beside the checkout (or beside a folder above it, for worktrees)."""
    for folder in Path(__file__).resolve().parents:
        if (folder / PAPER_DATASET).exists():
            return json.loads((folder / PAPER_DATASET).read_text())["Pytorch_to_JAX_Examples"]
    raise FileNotFoundError(f"no {PAPER_DATASET} beside the checkout or any folder above it")


def _users(developers: int, reviewers: int) -> dict[str, list]:
    """dev/rev/boss (the demo's names) plus dev1.., rev1..; all with PASSWORD. Existing users are reused."""
    User = get_user_model()
    password = make_password(PASSWORD)
    wanted = {DEVELOPER: ["dev", *(f"dev{i}" for i in range(1, developers))],
              REVIEWER: ["rev", *(f"rev{i}" for i in range(1, reviewers))],
              ADMIN: ["boss"]}  # fmt: skip
    by_role: dict[str, list] = {}
    for role, names in wanted.items():
        group = Group.objects.get_or_create(name=role)[0]
        users = []
        for name in names:
            user, _ = User.objects.get_or_create(username=name)
            user.password = password
            user.is_staff = user.is_superuser = role == ADMIN
            user.save()
            user.groups.add(group)
            users.append(user)
        by_role[role] = users
    return by_role


def build_small() -> dict[str, int]:
    """The demo, its users (bench password) and a few of each record the pages read."""
    call_command("load_demo", verbosity=0)
    users = _users(developers=L_DEVELOPERS, reviewers=L_REVIEWERS)  # people are not data: as many as at L
    _runs_for_sessions(random.Random(0), list(FixSession.objects.all()), users, per_session=3)
    call_command("compute_metrics", metric="fixcost", verbosity=0)
    return _finish(users)


def build_large(seed: int = 0) -> dict[str, int]:
    """L: bulk-inserted, in a few minutes."""
    rng = random.Random(seed)
    paper = _paper_dataset()
    paper_steps = [step for example in paper for step in example["Errors"]]
    users = _users(L_DEVELOPERS, L_REVIEWERS)
    developers, reviewers = users[DEVELOPER], users[REVIEWER]
    # Every demo sample has an equivalence contract: so do these (the demo's, in turn).
    contracts = [path.read_text() for path in sorted(DEMO_DIR.glob("*/contract.py"))]
    systems = System.objects.bulk_create(System(name=name, mode=mode) for name, mode in SYSTEMS.items())
    samples = Sample.objects.bulk_create(
        (
            Sample(
                key=f"l{i:04d}",
                title=f"Sample {i}",
                origin=("TorchLeet", "HuggingFace", "Other")[i % 3],
                difficulty=("easy", "medium", "hard")[i % 3],
                pytorch_code=f"# sample {i}\n" + paper[i % len(paper)]["Input_Code"],
                contract=contracts[i % len(contracts)],
                contract_version=1,
                import_position=i,
            )
            for i in range(L_SAMPLES)
        ),
        batch_size=BATCH,
    )
    translations = Translation.objects.bulk_create(
        (
            Translation(
                sample=sample, system=system, code=f"# {system.name}\n" + paper[i % len(paper)]["LLM_weak_output"]
            )
            for i, sample in enumerate(samples)
            for system in systems
        ),
        batch_size=BATCH,
    )
    now = timezone.now()
    # 92% verified, 3% open (owned by developers), the rest never claimed.
    sessions, plans = [], []
    for t in translations:
        roll = rng.random()
        if roll >= 0.95:
            continue
        status = SessionStatus.VERIFIED if roll < 0.92 else SessionStatus.OPEN
        owner = rng.choice(developers)
        claimed = now - timedelta(days=rng.uniform(1, 300))
        sessions.append(
            FixSession(
                translation=t,
                owner=owner,
                status=status,
                claimed_at=claimed,
                last_activity_at=now if status == SessionStatus.OPEN else claimed,
                verified_at=claimed + timedelta(hours=2) if status == SessionStatus.VERIFIED else None,
                current_code=paper[t.sample_id % len(paper)]["LLM_fix_output"],
                verification={"method": "clean-run", "confirmed": True} if status == SessionStatus.VERIFIED else {},
            )
        )
        plans.append(rng.randint(6, 23) if status == SessionStatus.VERIFIED else rng.randint(0, 6))
    sessions = FixSession.objects.bulk_create(sessions, batch_size=BATCH)
    runs_by_session = _runs_for_sessions(rng, sessions, users, total=L_RUNS)
    _steps(rng, sessions, plans, paper, paper_steps, runs_by_session)
    # Bulk inserts send no signals: index the steps as an import does (annotate.similarity_index).
    started = time.perf_counter()
    indexed = similarity_index.sync()
    print(f"similar-fix index: {indexed:,} steps in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    _events(sessions)
    _reviews(rng, translations, reviewers)
    # What the metric jobs would have stored: CodeBLEU for every translation, FixCost for the verified ones.
    CodeBLEUScore.objects.bulk_create(
        (
            CodeBLEUScore(
                translation=t, reference="verified", codebleu=v, ngram=v, weighted_ngram=v, syntax=v, dataflow=v
            )
            for t in translations
            for v in [round(rng.uniform(0.2, 0.8), 4)]
        ),
        batch_size=BATCH,
    )
    counted = _counted_per_translation()
    FixCostRecord.objects.bulk_create(
        (
            FixCostRecord(translation_id=tid, source=FixCostSource.HUMAN, steps=n, score=fixcost_score(n))
            for tid, n in counted.items()
        ),
        batch_size=BATCH,
    )
    return _finish(users)


def _counted_per_translation() -> dict[int, int]:
    rows = (
        FixStep.objects.counted()
        .filter(session__status=SessionStatus.VERIFIED)
        .values("session__translation_id")
        .annotate(n=Count("pk"))
        .values_list("session__translation_id", "n")
    )
    return dict(rows)


def _runs_for_sessions(rng, sessions, users, *, total: int | None = None, per_session: int = 0) -> dict[int, list]:
    """Sandbox runs of the sessions' owners: `total` spread over the sessions, or `per_session` each."""
    runs = []
    chosen = (
        [rng.choice(sessions) for _ in range(total)] if total else [s for s in sessions for _ in range(per_session)]
    )
    for session in chosen:
        failed = rng.random() < 0.6
        runs.append(
            Run(
                kind=RunKind.JAX,
                code_hash=f"{rng.getrandbits(128):032x}",
                code=session.current_code,
                user=session.owner or users[DEVELOPER][0],
                user_key=(session.owner or users[DEVELOPER][0]).username,
                session=session,
                status=RunStatus.ERROR if failed else RunStatus.OK,
                exit_code=1 if failed else 0,
                stdout="loss 0.123\n" * 5,
                stderr="Traceback (most recent call last):\n  ...\nTypeError: bench\n" if failed else "",
                exception_type="TypeError" if failed else "",
                exception_message="bench" if failed else "",
                duration_s=rng.uniform(0.05, 3),
                isolation="full",
            )
        )
    created = Run.objects.bulk_create(runs, batch_size=BATCH)
    # created_at is auto_now_add: spread it afterwards so orderings and date filters see real spreads.
    by_session: dict[int, list] = {}
    for run in created:
        by_session.setdefault(run.session_id, []).append(run.pk)
    with connection.cursor() as cursor:
        table = Run._meta.db_table
        if connection.vendor == "postgresql":
            cursor.execute(f"UPDATE {table} SET created_at = now() - (id % 20000) * interval '1 minute'")
        else:
            cursor.execute(f"UPDATE {table} SET created_at = datetime('now', '-' || (id % 20000) || ' minutes')")
    return by_session


def _steps(rng, sessions, plans, paper, paper_steps, runs_by_session) -> None:
    """Counted steps with real texts and whole programs before/after; 2% of them retracted by a later step."""
    categories = StepCategory.values
    steps: list[FixStep] = []
    retract: list[tuple[FixSession, int, int]] = []  # (session, index of the retraction, index it retracts)
    for session, n in zip(sessions, plans, strict=True):
        program = paper[session.translation.sample_id % len(paper)]
        runs = runs_by_session.get(session.pk, [])
        for i in range(1, n + 1):
            text = paper_steps[rng.randrange(len(paper_steps))]
            steps.append(
                FixStep(
                    session=session,
                    index=i,
                    error_code=text["Error_Code"],
                    error=text["Error"],
                    fix_info=text["Fix_info"],
                    fixed_code=text["Fixed_Code"],
                    category=rng.choice(categories),
                    code_before=f"# step {i}\n" + program["LLM_weak_output"],
                    code_after=f"# step {i} fixed\n" + program["LLM_weak_output"],
                    run_id=rng.choice(runs) if runs and rng.random() < 0.5 else None,
                    time_spent_s=rng.uniform(20, 600),
                    edit_size=rng.randint(1, 400),
                    author=session.owner,
                    created_at=session.claimed_at + timedelta(minutes=i),
                )
            )
        if n >= 2 and rng.random() < 0.2:
            retract.append((session, n + 1, rng.randint(1, n)))
    FixStep.objects.bulk_create(steps, batch_size=BATCH)
    if not retract:
        return
    targets = {
        (session_id, index): pk
        for session_id, index, pk in FixStep.objects.filter(session__in=[s for s, _, _ in retract]).values_list(
            "session_id", "index", "pk"
        )
    }
    FixStep.objects.bulk_create(
        (
            FixStep(
                session=session,
                index=index,
                fix_info="retracted: logged by mistake",
                author=session.owner,
                retracts_id=targets[(session.pk, retracted)],
            )
            for session, index, retracted in retract
        ),
        batch_size=BATCH,
    )


def _events(sessions) -> None:
    events = []
    for s in sessions:
        events.append(SessionEvent(session=s, kind=SessionEventKind.CLAIMED, actor=s.owner, created_at=s.claimed_at))
        if s.status == SessionStatus.VERIFIED:
            events.append(
                SessionEvent(session=s, kind=SessionEventKind.VERIFIED, actor=s.owner, created_at=s.verified_at)
            )
    SessionEvent.objects.bulk_create(events, batch_size=BATCH)


def _reviews(rng, translations, reviewers) -> None:
    by_sample: dict[int, list[Translation]] = {}
    for t in translations:
        by_sample.setdefault(t.sample_id, []).append(t)
    sample_ids = list(by_sample)
    verdicts = Verdict.values
    comparisons = []
    for i in range(L_COMPARISONS):
        left, right = rng.sample(by_sample[rng.choice(sample_ids)], 2)
        by_llm = i % 4 == 0
        comparisons.append(
            Comparison(
                sample_id=left.sample_id,
                left=left,
                right=right,
                judge_user=None if by_llm else rng.choice(reviewers),
                judge_model="bench-judge" if by_llm else "",
                verdict=rng.choice(verdicts),
                reason="left keeps the PRNG key explicit",
                time_spent_s=rng.uniform(20, 300),
            )
        )
    Comparison.objects.bulk_create(comparisons, batch_size=BATCH)
    review.tally_votes()  # bulk_create skips Comparison.save(), which keeps the tally
    judgements = []
    for i in range(L_JUDGEMENTS):
        t = rng.choice(translations)
        by_llm = i % 2 == 0
        judgements.append(
            Judgement(
                translation=t,
                judge_user=None if by_llm else rng.choice(reviewers),
                judge_model="bench-judge" if by_llm else "",
                aspect=("usefulness", "functional-correctness")[i % 4 // 2],
                with_reference=rng.random() < 0.5,
                score=rng.randint(0, 4),
                raw_output="Score: 3" if by_llm else "",
            )
        )
    Judgement.objects.bulk_create(judgements, batch_size=BATCH)


def _finish(users) -> dict[str, int]:
    """A finished job for the job pages, the stored dashboard, and the counts of what was built."""
    Job.objects.create(kind="metrics", status=JobStatus.DONE, total=1, done=1, created_by=users[ADMIN][0])
    # A reviewer who has voted on nothing yet: the review pages show a pair at every size.
    fresh = get_user_model().objects.create(username=FRESH_REVIEWER, password=make_password(PASSWORD))
    fresh.groups.add(Group.objects.get(name=REVIEWER))
    with transaction.atomic():
        dashboard.refresh(changed=True)
    return {
        "samples": Sample.objects.count(),
        "translations": Translation.objects.count(),
        "sessions": FixSession.objects.count(),
        "steps": FixStep.objects.count(),
        "comparisons": Comparison.objects.count(),
        "judgements": Judgement.objects.count(),
        "runs": Run.objects.count(),
    }
