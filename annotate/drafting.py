"""Drafting translations with an LLM system: one sample, or a whole batch with progress, cancel and retry.

Rules (issue 6):
- Idempotent and resumable: a sample that already has a translation by the system is skipped, unless forced
  (`force`) or, for failed drafts only, retried (`retry_failed`).
- A translation that has a fix session is never replaced, forced or not: its session's history depends on it.
  Such samples are reported as "kept".
- A forced redraft that fails leaves the previous good draft untouched and reports the failure.
- Every draft, good or failed, stores its provenance: the exact messages sent, the raw answer, the model,
  token usage, latency and the fix steps that went into the prompt.
- LLM calls run in a small thread pool (T2J_LLM_CONCURRENCY); the threads only wait on HTTP, every database
  read and write stays in the calling thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from annotate import jobs, llm, prompting
from annotate.code_extraction import NoCodeFound, extract_code
from annotate.models import DraftStatus, Job, Sample, System, SystemMode, Translation

log = logging.getLogger(__name__)

DRAFT_JOB = "draft"
LLM_MODES = (SystemMode.STANDARD, SystemMode.T2J)

OK, FAILED, SKIPPED, KEPT = "ok", "failed", "skipped", "kept"


class DraftingError(ValueError):
    """A request to draft that cannot be carried out as asked; nothing was changed."""


@dataclass
class DraftOutcome:
    sample_key: str
    status: str
    reason: str = ""


@dataclass
class DraftPlan:
    to_draft: list[Sample] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass
class DraftReport:
    outcomes: list[DraftOutcome] = field(default_factory=list)
    cancelled: bool = False
    not_started: list[str] = field(default_factory=list)

    def keys(self, status: str) -> list[str]:
        return [outcome.sample_key for outcome in self.outcomes if outcome.status == status]

    @property
    def failures(self) -> list[DraftOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == FAILED]

    def summary(self) -> str:
        parts = [f"drafted {len(self.keys(OK))}", f"failed {len(self.keys(FAILED))}"]
        parts.append(f"skipped {len(self.keys(SKIPPED))} (already drafted)")
        kept = self.keys(KEPT)
        parts.append(f"kept {len(kept)} (have a fix session{': ' + ', '.join(kept) if kept else ''})")
        text = "; ".join(parts).capitalize() + "."
        if self.cancelled:
            text += f" Cancelled; {len(self.not_started)} not started."
        return text


# --- Systems --------------------------------------------------------------------------------------------------


def system_for_command(name: str, *, mode: str | None = None, model: str | None = None) -> tuple[System, bool]:
    """The named LLM system, created when missing; refuses one whose mode or model differs from what was asked."""
    try:
        validate_slug(name)
    except ValidationError as error:
        raise DraftingError(f"Invalid system name {name!r}: use letters, digits, hyphens and underscores.") from error
    if mode is not None and mode not in LLM_MODES:
        raise DraftingError(f"Unknown mode {mode!r}: choose standard or t2j.")
    system = System.objects.filter(name=name).first()
    if system is None:
        return System.objects.create(name=name, mode=mode or SystemMode.STANDARD, model=model or ""), True
    ensure_llm_system(system)
    if mode is not None and system.mode != mode:
        raise DraftingError(f"System {name} exists with mode {system.mode}, not {mode}; use another name.")
    if model is not None and system.model != model:
        shown = system.model or "(default OPENAI_MODEL)"
        raise DraftingError(f"System {name} exists with model {shown}, not {model}; use another name.")
    return system, False


def ensure_llm_system(system: System) -> None:
    if system.mode not in LLM_MODES:
        raise DraftingError(f"System {system.name} has mode {system.mode}; only standard and t2j systems draft.")


def token_totals(system: System) -> dict:
    """What a system's drafts cost and how far drafting got, read live from its translations."""
    return token_totals_of([system])[system.pk]


def token_totals_of(systems: Iterable[System]) -> dict[int, dict]:
    """token_totals of each system, keyed by id: two queries however many systems and translations."""
    systems = list(systems)
    samples = Sample.objects.count()
    rows = {
        row["system_id"]: row
        for row in Translation.objects.filter(system__in=systems)
        .order_by()  # the default ordering joins samples and systems into the GROUP BY
        .values("system_id")
        .annotate(
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            drafted=Count("pk"),
            ok=Count("pk", filter=Q(draft_status=DraftStatus.OK)),
            failed=Count("pk", filter=Q(draft_status=DraftStatus.FAILED)),
        )
    }
    totals = {}
    for system in systems:
        row = rows.get(system.pk, {})
        totals[system.pk] = {
            "prompt_tokens": row.get("prompt") or 0,
            "completion_tokens": row.get("completion") or 0,
            "drafts_ok": row.get("ok", 0),
            "drafts_failed": row.get("failed", 0),
            "samples_left": samples - row.get("drafted", 0),
        }
    return totals


# --- Planning -------------------------------------------------------------------------------------------------


def plan_drafts(
    system: System, samples: Iterable[Sample], *, force: bool = False, retry_failed: bool = False
) -> DraftPlan:
    """Which samples to draft, which to skip (already drafted) and which to keep (they have a fix session)."""
    samples = list(samples)
    existing = {
        t.sample_id: t
        for t in Translation.objects.filter(system=system, sample__in=samples).prefetch_related("fix_sessions")
    }
    plan = DraftPlan()
    for sample in samples:
        translation = existing.get(sample.pk)
        if translation is None:
            plan.to_draft.append(sample)
            continue
        wanted = force or (retry_failed and translation.draft_status == DraftStatus.FAILED)
        if not wanted:
            plan.skipped.append(sample.key)
        elif translation.fix_sessions.all():
            plan.kept.append(sample.key)
        else:
            plan.to_draft.append(sample)
    return plan


def samples_by_keys(keys: Sequence[str]) -> list[Sample]:
    """The samples named by `keys` (all samples when empty); unknown keys are an error, not a silent skip."""
    if not keys:
        return list(Sample.objects.all())
    found = {sample.key: sample for sample in Sample.objects.filter(key__in=keys)}
    unknown = [key for key in keys if key not in found]
    if unknown:
        raise DraftingError(f"Unknown sample keys: {', '.join(unknown)}")
    return [found[key] for key in dict.fromkeys(keys)]


# --- Drafting -------------------------------------------------------------------------------------------------


def draft_samples(
    system: System,
    samples: Iterable[Sample],
    *,
    force: bool = False,
    retry_failed: bool = False,
    on_outcome: Callable[[DraftOutcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    concurrency: int | None = None,
    steps_for: Callable[[Sample], list[int]] | None = None,
) -> DraftReport:
    """Draft `samples` with `system` (a few LLM calls at a time), reporting each outcome as it lands.

    `steps_for(sample)` gives the ids of the shared fix steps a T2J prompt may draw on for one sample, in
    priority order (an experiment's arm: the k most relevant, or chosen error categories); the prompt's
    leave-one-out and token budget rules apply to them.
    """
    ensure_llm_system(system)
    problem = llm.configuration_problem(system.model)
    if problem:
        raise llm.LLMNotConfigured(problem)
    report = DraftReport()

    def emit(outcome: DraftOutcome) -> None:
        report.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    plan = plan_drafts(system, samples, force=force, retry_failed=retry_failed)
    for key in plan.skipped:
        emit(DraftOutcome(key, SKIPPED, "Already has a translation by this system."))
    for key in plan.kept:
        emit(DraftOutcome(key, KEPT, "Its translation has a fix session, so it is never replaced."))
    limit = concurrency or settings.T2J_LLM_CONCURRENCY
    _run_pool(system, plan.to_draft, limit, emit, should_stop or (lambda: False), report, steps_for)
    return report


def draft_one(system: System, sample: Sample, *, force: bool = False) -> DraftOutcome:
    """Draft a single sample in the foreground."""
    return draft_samples(system, [sample], force=force, retry_failed=True, concurrency=1).outcomes[0]


def _run_pool(system, samples, limit, emit, should_stop, report: DraftReport, steps_for=None) -> None:
    queue = list(samples)
    in_flight: dict[Future, tuple[Sample, prompting.Prompt]] = {}
    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="t2j-draft") as pool:

        def fill() -> None:
            while queue and len(in_flight) < limit and not report.cancelled:
                if should_stop():
                    report.cancelled = True
                    break
                sample = queue.pop(0)
                try:
                    chosen = steps_for(sample) if steps_for and system.mode == SystemMode.T2J else None
                    prompt = prompting.build_prompt(system, sample, step_ids=chosen)
                except prompting.PromptTooLarge as error:
                    emit(_save_failure(system, sample, None, str(error)))
                    continue
                future = pool.submit(llm.chat, prompt.messages, model=system.model, temperature=system.temperature)
                in_flight[future] = (sample, prompt)

        fill()
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                sample, prompt = in_flight.pop(future)
                emit(_save(system, sample, prompt, future))
            fill()
    report.not_started = [sample.key for sample in queue]


def _save(system: System, sample: Sample, prompt: prompting.Prompt, future: Future) -> DraftOutcome:
    try:
        result = future.result()
    except llm.LLMError as error:
        return _save_failure(system, sample, prompt, error.reason, raw_answer=error.raw_answer)
    except Exception as error:  # a bug in the client path must fail one draft, not the whole batch
        log.exception("drafting %s for %s crashed", sample.key, system.name)
        return _save_failure(system, sample, prompt, f"Unexpected error: {type(error).__name__}: {error}")
    try:
        code = extract_code(result.text)
    except NoCodeFound as error:
        return _save_failure(system, sample, prompt, str(error), raw_answer=result.text, result=result)
    return _store(system, sample, prompt, DraftStatus.OK, code=code, raw_answer=result.text, result=result)


def _save_failure(system, sample, prompt, reason: str, *, raw_answer: str = "", result=None) -> DraftOutcome:
    return _store(system, sample, prompt, DraftStatus.FAILED, reason=reason, raw_answer=raw_answer, result=result)


@transaction.atomic
def _store(
    system: System,
    sample: Sample,
    prompt: prompting.Prompt | None,
    status: str,
    *,
    code: str = "",
    reason: str = "",
    raw_answer: str = "",
    result: llm.ChatResult | None = None,
) -> DraftOutcome:
    """Write one draft with its provenance, re-checking the keep rules inside the transaction."""
    translation = Translation.objects.select_for_update().filter(sample=sample, system=system).first()
    if translation is not None and translation.fix_sessions.exists():
        # A developer claimed it while the LLM was answering: their session wins.
        return DraftOutcome(sample.key, KEPT, "A fix session started while drafting; the translation was kept.")
    if status == DraftStatus.FAILED and translation is not None and translation.draft_status == DraftStatus.OK:
        return DraftOutcome(sample.key, FAILED, f"{reason} (the previous draft was kept)")
    translation = translation or Translation(sample=sample, system=system)
    translation.code = code
    translation.draft_status = status
    translation.failure_reason = reason
    translation.prompt_messages = prompt.messages if prompt else []
    translation.raw_answer = raw_answer
    translation.model = (result.model if result else llm.resolve_model(system.model))[:200]
    translation.prompt_tokens = result.prompt_tokens if result else None
    translation.completion_tokens = result.completion_tokens if result else None
    translation.latency_s = result.latency_s if result else None
    translation.drafted_at = timezone.now()
    translation.save()
    translation.included_steps.set(prompt.steps if prompt else [])
    return DraftOutcome(sample.key, OK if status == DraftStatus.OK else FAILED, reason)


# --- Background jobs ------------------------------------------------------------------------------------------


def draft_job_keys(system: System, *, retry_failed: bool = False) -> list[str]:
    """The keys of the samples a "draft all" (or "retry the failed drafts") job would draft.

    Raises DraftingError when the job cannot run: not an LLM system, no endpoint, a draft job already
    active, or nothing left to draft. annotate.tasks.start_draft_job queues the job with these keys.
    """
    ensure_llm_system(system)
    problem = llm.configuration_problem(system.model)
    if problem:
        raise DraftingError(problem)
    active = active_draft_job(system)
    if active is not None:
        raise DraftingError(f"A drafting job for {system.name} is already {active.status} (job {active.pk}).")
    samples = Sample.objects.all()
    if retry_failed:  # the retry button touches failed drafts only, not samples never drafted
        samples = samples.filter(translations__system=system, translations__draft_status=DraftStatus.FAILED)
    plan = plan_drafts(system, samples, retry_failed=retry_failed)
    if not plan.to_draft:
        what = "failed drafts to retry" if retry_failed else "samples left to draft"
        raise DraftingError(f"No {what} for {system.name}.")
    return [sample.key for sample in plan.to_draft]


def active_draft_job(system: System) -> Job | None:
    """The system's running draft job; one whose worker went silent is marked failed first, so drafting can resume."""
    jobs.fail_silent_jobs()
    return system.jobs.active().filter(kind=DRAFT_JOB).first()


def latest_draft_job(system: System) -> Job | None:
    jobs.fail_silent_jobs()  # the drafting page shows a job whose worker died as failed, not running
    return system.jobs.filter(kind=DRAFT_JOB).first()


def progress_callback(job: Job) -> Callable[[DraftOutcome], None]:
    def advance(outcome: DraftOutcome) -> None:
        failed = int(outcome.status == FAILED)
        job.advance(done=1 - failed, failed=failed, message=f"{outcome.sample_key}: {outcome.status}")

    return advance
