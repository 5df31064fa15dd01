"""Dashboard GET: served from the stored context against a full rebuild, in one run (issue 12).

    .venv/bin/python bench/dashboard.py [--size 3000] [--runs 7] [--seed 0]

Builds its own data set through the ORM in a throw-away SQLite database (never yours): `--size` translations
over 5 systems, about 60% of them verified with 0–8 fix steps each, stored CodeBLEU, FixCost, CodeTrans
(LLM and reviewer) and runtime figures, and `--size` reviewer votes. Then, logged in as an admin:
- stored: GET /evaluate/ as it is now, reading the context the refresh job stored;
- rebuild: the old path, where every GET built the context from the database (Bradley–Terry with 500
  bootstrap fits, correlations, agreement, means): a GET whose cache misses, which builds the whole
  unfiltered context the same way and renders it (plus one cache write);
- build only: DashboardContext.from_database() without the request around it.
Prints the medians and `ratio` = rebuild median / stored median.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_WORKDIR = tempfile.mkdtemp(prefix="t2j-bench-dashboard-")
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
warnings.filterwarnings("ignore", "No directory at", UserWarning)  # WhiteNoise: no collectstatic here
# Forced, not defaulted: the bench writes thousands of rows and must never write them into a real database.
os.environ["T2J_DATA_DIR"] = _WORKDIR
os.environ["DATABASE_URL"] = f"sqlite:///{_WORKDIR}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from annotate.models import FixSession, FixStep, Sample, SessionStatus, StepCategory, System, Translation  # noqa: E402
from annotate.roles import ADMIN  # noqa: E402
from evaluate import dashboard, review  # noqa: E402
from evaluate.contexts import DashboardContext  # noqa: E402
from evaluate.metrics.fixcost import fixcost_score  # noqa: E402
from evaluate.models import (  # noqa: E402
    CodeBLEUScore,
    Comparison,
    FixCostRecord,
    FixCostSource,
    Judgement,
    RuntimeMeasurement,
    Verdict,
)

SYSTEMS = {"weak-llm": -0.6, "t2j-fewshot": 0.1, "t2j-full": 0.5, "codestral": -0.1, "human-port": 0.9}
ORIGINS = ("TorchLeet", "HuggingFace", "Other")
REVIEWERS = 8


def build(size: int, rng: random.Random) -> dict[str, int]:
    """The data set, bulk-inserted; returns how many rows of each kind."""
    User = get_user_model()
    admin = User.objects.create(username="bench-admin", password="!")
    admin.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    developer = User.objects.create(username="bench-dev", password="!")
    reviewers = User.objects.bulk_create(User(username=f"bench-r{i}", password="!") for i in range(REVIEWERS))
    systems = System.objects.bulk_create(System(name=name, mode="standard") for name in SYSTEMS)
    n_samples = max(2, size // len(systems))
    samples = Sample.objects.bulk_create(
        Sample(
            key=f"b{i}",
            pytorch_code=f"import torch\nprint({i})\n",
            origin=ORIGINS[i % len(ORIGINS)],
            difficulty=("easy", "medium", "hard")[i % 3],
        )
        for i in range(n_samples)
    )
    translations = Translation.objects.bulk_create(
        Translation(sample=sample, system=system, code=f"import jax\nprint({sample.key!r})\n")
        for sample in samples
        for system in systems
    )
    now = timezone.now()
    verified = [t for t in translations if rng.random() < 0.6]
    sessions = FixSession.objects.bulk_create(
        FixSession(
            translation=t,
            owner=developer,
            status=SessionStatus.VERIFIED,
            verified_at=now,
            current_code=t.code,
            claimed_at=now,
            last_activity_at=now,
        )
        for t in verified
    )
    categories = StepCategory.values
    steps, records = [], []
    for session in sessions:
        strength = SYSTEMS[session.translation.system.name]
        n = max(0, min(8, round(rng.gauss(3 - 2 * strength, 1.5))))
        steps += [
            FixStep(session=session, index=i + 1, category=rng.choice(categories), author=developer, time_spent_s=60.0)
            for i in range(n)
        ]
        records.append(_fixcost(session.translation, FixCostSource.HUMAN, n))
        if rng.random() < 0.3:  # an LLM estimate beside some of them
            records.append(_fixcost(session.translation, FixCostSource.LLM, max(0.0, n + rng.gauss(0, 1.5))))
    FixStep.objects.bulk_create(steps, batch_size=2000)
    FixCostRecord.objects.bulk_create(records, batch_size=2000)
    scored = [t for t in translations if rng.random() < 0.9]
    CodeBLEUScore.objects.bulk_create(
        (_codebleu(t, min(1.0, max(0.0, rng.gauss(0.4 + 0.2 * SYSTEMS[t.system.name], 0.1)))) for t in scored),
        batch_size=2000,
    )
    judgements = [
        Judgement(translation=t, judge_model="bench", aspect=aspect, with_reference=ref, score=rng.randint(0, 4))
        for t in translations
        for aspect in ("usefulness", "functional-correctness")
        for ref in (False, True)
    ]
    judgements += [
        Judgement(translation=t, judge_user=rng.choice(reviewers), aspect=aspect, score=rng.randint(0, 4))
        for t in translations
        if rng.random() < 0.2
        for aspect in ("usefulness", "functional-correctness")
    ]
    Judgement.objects.bulk_create(judgements, batch_size=2000)
    RuntimeMeasurement.objects.bulk_create(
        (
            RuntimeMeasurement(sample=t.sample, translation=t, label="whole-program", median_s=rng.uniform(0.5, 3))
            for t in verified
        ),
        batch_size=2000,
    )
    by_sample: dict[int, list[Translation]] = {}
    for t in translations:
        by_sample.setdefault(t.sample_id, []).append(t)
    votes = []
    for _ in range(size):
        left, right = rng.sample(by_sample[rng.choice(samples).pk], 2)
        votes.append(
            Comparison(
                sample_id=left.sample_id,
                left=left,
                right=right,
                judge_user=rng.choice(reviewers),
                verdict=_verdict(SYSTEMS[left.system.name] - SYSTEMS[right.system.name], rng),
                reason="bench",
            )
        )
    Comparison.objects.bulk_create(votes, batch_size=2000)
    review.tally_votes()  # bulk_create skips Comparison.save(), which keeps the tally
    return {
        "translations": len(translations),
        "verified": len(sessions),
        "steps": len(steps),
        "comparisons": len(votes),
        "judgements": len(judgements),
    }


def _fixcost(translation: Translation, source: str, steps: float) -> FixCostRecord:
    return FixCostRecord(translation=translation, source=source, steps=steps, score=fixcost_score(steps))


def _codebleu(translation: Translation, value: float) -> CodeBLEUScore:
    parts = dict.fromkeys(("ngram", "weighted_ngram", "syntax", "dataflow"), value)
    return CodeBLEUScore(translation=translation, reference="verified", codebleu=value, **parts)


def _verdict(edge: float, rng: random.Random) -> str:
    """Ties 15% of the time; otherwise left wins with the Bradley–Terry probability of its strength edge."""
    roll = rng.random()
    if roll < 0.15:
        return Verdict.TIE
    return Verdict.LEFT if roll < 0.15 + 0.85 / (1 + math.exp(-edge)) else Verdict.RIGHT


def timed(action, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000, help="translations (and reviewer votes) to build")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    start = time.perf_counter()
    counts = build(args.size, random.Random(args.seed))
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    print(f"data set: {summary} (built in {time.perf_counter() - start:.1f} s)")

    refresh = timed(lambda _: dashboard.refresh(), 1)[0]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-admin"))

    def get(query: str) -> None:
        response = client.get("/evaluate/" + query)
        assert response.status_code == 200 and b"Bradley" in response.content, response.status_code

    get(""), get("?baseline=warm-up")  # templates, imports and connections warm in both paths
    stored = timed(lambda _: get(""), args.runs)
    # A new baseline each run: the cache always misses, so the GET builds the whole context as before.
    rebuild = timed(lambda i: get(f"?baseline=rebuild-{i}"), args.runs)
    build_only = timed(lambda _: DashboardContext.from_database(), args.runs)

    stored_s, rebuild_s = statistics.median(stored), statistics.median(rebuild)
    print(f"refresh job (build and store, once): {refresh:.3f} s")
    print(f"GET from the stored context: median {stored_s:.4f} s over {args.runs} runs")
    print(f"GET with a full rebuild:     median {rebuild_s:.4f} s over {args.runs} runs")
    print(f"context build alone:         median {statistics.median(build_only):.4f} s")
    print(f"ratio rebuild / stored: {rebuild_s / stored_s:.1f}x")


if __name__ == "__main__":
    main()
