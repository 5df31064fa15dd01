"""Experiments: the paper's protocol as a record (samples, arms, reference, metrics), created from a JSON spec and
run step by step as resumable jobs.

A spec (`manage.py experiment create --spec FILE.json`):
    {"name": "paper-intrinsic", "description": "...",
     "samples": ["e1", "e2", ...] | "all",
     "reference": "groundtruth_before_fix" | "verified",      # what similarity metrics (CodeBLEU) score against
     "metrics": ["codebleu", "fixcost", "codetrans", "runtime", "comparison"],   # registry names, and comparison
     "arms": [
        {"name": "baseline", "prompt": "standard", "model": "M", "temperature": 0.0, "token_budget": 12000},
        {"name": "t2j", "prompt": "t2j-all"},                    # every shared fix step, as the paper
        {"name": "t2j-k5", "prompt": "t2j-relevant", "k": 5},    # the k steps most relevant to the sample
        {"name": "t2j-prng", "prompt": "t2j-categories", "categories": ["prng", "tracer"]},
        {"name": "paper-a", "system": "baseline_before_fix"}],   # an existing system's drafts, not drafted here
     "published": {"source": "t2j-paper", "section": "intrinsic", "arms": {"A": "baseline", "B": "t2j"}},
     "copy_threshold": 0.5, "judge_model": ""}
Every drafting arm drafts with its own system, named `<experiment>-<arm>` (created with the arm's model,
temperature and token budget; one LLM endpoint from settings serves them all).

Steps (STEPS, in this order; each a Job of kind `experiment-<step>` with progress and cancel; running a step again
resumes it: what is done is skipped):
- draft: every drafting arm drafts the samples it lacks (failed drafts are retried).
- run: every draft runs in the sandbox (annotate.batch_runs); drafts whose code already ran are skipped.
- verify: drafts of samples with a contract are checked against it (annotate.contracts); each verdict is kept in
  `Experiment.state` with the code and contract version it was for, so only changed ones run again.
- metrics: the chosen registry metrics other than the LLM judge, against the experiment's reference.
- judge: the LLM judges (CodeTrans, pairwise comparison of the arms in both orders) when an endpoint is set;
  translations and pairs an LLM judge has already judged are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from annotate import batch_runs, contracts, drafting, jobs, llm, runs
from annotate.dataset.errors import DatasetError
from annotate.dataset.reading import decode, parse_json, read_path
from annotate.models import (
    Job,
    JobStatus,
    Run,
    RunKind,
    Sample,
    StepCategory,
    StepIndexEntry,
    System,
    SystemMode,
    Translation,
)
from annotate.similarity import ranked_steps
from evaluate import dashboard, llm_compare, metrics
from evaluate.metrics import ComputeOptions, ComputeReport, codetrans
from evaluate.metrics.codebleu import VERIFIED
from evaluate.models import Comparison, Experiment, ExperimentArm, Judgement, PromptMode

STEPS = ("draft", "run", "verify", "metrics", "judge")
JOB_PREFIX = "experiment-"
COMPARISON = "comparison"
JUDGED_METRICS = ("codetrans",)  # registry metrics that are LLM judgements: the judge step's, not the metrics step's
SPEC_KEYS = {
    "name", "description", "samples", "reference", "metrics", "arms", "published", "copy_threshold", "judge_model",
}  # fmt: skip
ARM_KEYS = {"name", "prompt", "model", "temperature", "token_budget", "k", "categories", "system"}
DRAFTING_MODES = (PromptMode.STANDARD, PromptMode.T2J_ALL, PromptMode.T2J_RELEVANT, PromptMode.T2J_CATEGORIES)
DEFAULT_METRICS = ["codebleu", "fixcost"]
MIN_TOKEN_BUDGET = 500
ARM_NAME_MAX = 40
NAME_MAX = 64


class ExperimentError(DatasetError):
    """A bad spec or a request that cannot run; nothing was changed. `problems` lists each with its place."""


@dataclass
class StepResult:
    """What one step did: a summary line, and whether it stopped on a cancel."""

    message: str
    cancelled: bool = False
    failed: int = 0


# --- the spec ---------------------------------------------------------------------------------------------


@dataclass
class _ArmSpec:
    name: str
    mode: str
    system: System | None = None  # an existing system (mode imported)
    model: str = ""
    temperature: float = 0.0
    token_budget: int | None = None
    k: int | None = None
    categories: list[str] = field(default_factory=list)


def create_from_file(path: Path) -> tuple[Experiment, str]:
    """create() from a JSON file; ExperimentError for an unreadable file or a bad spec."""
    try:
        data = parse_json(decode(read_path(path), path.name), path.name)
    except DatasetError as error:
        raise ExperimentError(error.problems) from None
    return create(data, source=path.name)


def create(data, *, source: str = "spec") -> tuple[Experiment, str]:
    """Store the experiment a spec describes, with a system per drafting arm; returns (experiment, "new" or
    "unchanged"). The same spec again is a no-op; another spec under a stored name is refused (an experiment's
    arms and samples are what its figures mean). ExperimentError lists every problem; nothing is written then."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ExperimentError(f"{source} must hold a JSON object")
    if unknown := sorted(set(data) - SPEC_KEYS):
        problems.append(f"{source}: unknown keys {unknown} (known: {', '.join(sorted(SPEC_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not _is_slug(name, NAME_MAX):
        problems.append(f"{source}.name must be a slug of at most {NAME_MAX} letters, digits, - and _")
        name = ""
    stored = Experiment.objects.filter(name=name).first() if name else None
    if stored is not None:
        if stored.spec == data:
            return stored, "unchanged"
        raise ExperimentError(f"an experiment named {name!r} exists with another spec; choose another name")
    keys = _sample_keys(data.get("samples"), source, problems)
    arms = _arms(data.get("arms"), name, source, problems)
    reference = _reference(data.get("reference", VERIFIED), arms, source, problems)
    chosen = _metrics(data.get("metrics", DEFAULT_METRICS), source, problems)
    published = _published(data.get("published"), arms, source, problems)
    threshold = data.get("copy_threshold", 0.5)
    if not _number(threshold) or not 0 < threshold <= 1:
        problems.append(f"{source}.copy_threshold must be a number in (0, 1]")
    for key in ("description", "judge_model"):
        if not isinstance(data.get(key, ""), str):
            problems.append(f"{source}.{key} must be text")
    if problems:
        raise ExperimentError(problems)
    with transaction.atomic():
        experiment = Experiment.objects.create(
            name=name,
            description=data.get("description", ""),
            sample_keys=keys,
            reference=reference,
            metrics=chosen,
            published_source=published.get("source", ""),
            published_section=published.get("section", ""),
            published_arms=published.get("arms", {}),
            copy_threshold=float(threshold),
            judge_model=data.get("judge_model", "")[:200],
            spec=data,
        )
        for position, arm in enumerate(arms):
            ExperimentArm.objects.create(
                experiment=experiment,
                position=position,
                name=arm.name,
                system=arm.system or _arm_system(experiment, arm),
                prompt_mode=arm.mode,
                relevant_k=arm.k,
                categories=arm.categories,
            )
    return experiment, "new"


def _sample_keys(value, source: str, problems: list[str]) -> list[str]:
    if value == "all":
        return list(Sample.objects.values_list("key", flat=True))
    if not isinstance(value, list) or not value or not all(isinstance(key, str) for key in value):
        problems.append(f'{source}.samples must be a non-empty list of sample keys, or "all"')
        return []
    found = set(Sample.objects.filter(key__in=value).values_list("key", flat=True))
    if missing := [key for key in value if key not in found]:
        problems.append(f"{source}.samples: no stored sample {', '.join(map(repr, missing))}")
    return list(dict.fromkeys(value))


def _arms(value, experiment: str, source: str, problems: list[str]) -> list[_ArmSpec]:
    if not isinstance(value, list) or not value:
        problems.append(f"{source}.arms must be a non-empty list")
        return []
    arms, names = [], set()
    for i, raw in enumerate(value):
        place = f"{source}.arms[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{place} must be an object")
            continue
        if unknown := sorted(set(raw) - ARM_KEYS):
            problems.append(f"{place}: unknown keys {unknown} (known: {', '.join(sorted(ARM_KEYS))})")
        name = raw.get("name")
        if not isinstance(name, str) or not _is_slug(name, ARM_NAME_MAX):
            problems.append(f"{place}.name must be a slug of at most {ARM_NAME_MAX} characters")
            continue
        if name in names:
            problems.append(f"{place}: the arm name {name!r} is used twice")
        names.add(name)
        arm = (
            _existing_arm(raw, name, place, problems) if "system" in raw else _drafting_arm(raw, name, place, problems)
        )
        if arm is not None:
            if arm.system is None and experiment:
                _check_arm_system(experiment, arm, place, problems)
            arms.append(arm)
    return arms


def _existing_arm(raw: dict, name: str, place: str, problems: list[str]) -> _ArmSpec | None:
    if extra := sorted(set(raw) - {"name", "system"}):
        problems.append(f"{place}: an arm of an existing system takes no {', '.join(extra)} (its drafts exist)")
    system = System.objects.filter(name=raw["system"]).first() if isinstance(raw["system"], str) else None
    if system is None:
        problems.append(f"{place}.system: there is no system named {raw['system']!r}")
        return None
    return _ArmSpec(name, PromptMode.IMPORTED, system=system)


def _drafting_arm(raw: dict, name: str, place: str, problems: list[str]) -> _ArmSpec | None:
    mode = raw.get("prompt")
    if mode not in DRAFTING_MODES:
        modes = ", ".join(DRAFTING_MODES)
        problems.append(f"{place}.prompt must be one of {modes} (or give 'system' for existing drafts)")
        return None
    arm = _ArmSpec(name, mode, model=raw.get("model", ""), temperature=raw.get("temperature", 0.0))
    if not isinstance(arm.model, str) or len(arm.model) > 200:
        problems.append(f"{place}.model must be text of at most 200 characters")
    if not _number(arm.temperature) or not 0 <= arm.temperature <= 2:
        problems.append(f"{place}.temperature must be a number in [0, 2]")
    budget = raw.get("token_budget")
    if budget is not None and (not _integer(budget) or budget < MIN_TOKEN_BUDGET):
        problems.append(f"{place}.token_budget must be a whole number of at least {MIN_TOKEN_BUDGET}")
    arm.token_budget = budget
    if mode == PromptMode.T2J_RELEVANT:
        arm.k = raw.get("k")
        if not _integer(arm.k) or arm.k < 1:
            problems.append(f"{place}.k (how many relevant steps) must be a whole number of at least 1")
    elif "k" in raw:
        problems.append(f"{place}.k only applies to prompt t2j-relevant")
    if mode == PromptMode.T2J_CATEGORIES:
        arm.categories = raw.get("categories")
        known = StepCategory.values
        if not isinstance(arm.categories, list) or not arm.categories or not set(arm.categories) <= set(known):
            problems.append(f"{place}.categories must be a non-empty list of {', '.join(known)}")
    elif "categories" in raw:
        problems.append(f"{place}.categories only applies to prompt t2j-categories")
    return arm


def _system_mode(arm: _ArmSpec) -> str:
    return SystemMode.STANDARD if arm.mode == PromptMode.STANDARD else SystemMode.T2J


def _system_name(experiment: str, arm: str) -> str:
    return f"{experiment}-{arm}"


def _check_arm_system(experiment: str, arm: _ArmSpec, place: str, problems: list[str]) -> None:
    """A system of the arm's name that exists must draft the same way (it may be an earlier run's)."""
    system = System.objects.filter(name=_system_name(experiment, arm.name)).first()
    if system is None:
        return
    wanted = (_system_mode(arm), arm.model, float(arm.temperature), arm.token_budget)
    if (system.mode, system.model, system.temperature, system.token_budget) != wanted:
        problems.append(f"{place}: a system named {system.name!r} exists with another mode, model or settings")


def _arm_system(experiment: Experiment, arm: _ArmSpec) -> System:
    system, _ = System.objects.get_or_create(
        name=_system_name(experiment.name, arm.name),
        defaults={
            "mode": _system_mode(arm),
            "model": arm.model,
            "temperature": arm.temperature,
            "token_budget": arm.token_budget,
            "notes": f"Arm {arm.name} of experiment {experiment.name} (prompt {arm.mode}).",
        },
    )
    return system


def _reference(value, arms: list[_ArmSpec], source: str, problems: list[str]) -> str:
    if value == VERIFIED:
        return value
    if not isinstance(value, str) or not System.objects.filter(name=value).exists():
        problems.append(f"{source}.reference must be 'verified' or the name of a stored system, not {value!r}")
        return ""
    if any(arm.system is not None and arm.system.name == value for arm in arms):
        problems.append(f"{source}.reference: {value!r} is also an arm; an arm cannot be its own reference")
    return value


def _metrics(value, source: str, problems: list[str]) -> list[str]:
    known = [*metrics.names(), COMPARISON]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append(f"{source}.metrics must be a non-empty list of {', '.join(known)}")
        return []
    if unknown := [v for v in value if v not in known]:
        problems.append(f"{source}.metrics: unknown {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    return list(dict.fromkeys(value))


def _published(value, arms: list[_ArmSpec], source: str, problems: list[str]) -> dict:
    if value is None:
        return {}
    place = f"{source}.published"
    if not isinstance(value, dict) or not isinstance(value.get("source"), str) or not value["source"]:
        problems.append(f"{place} must be {{'source': NAME, 'section'?: NAME, 'arms': {{LABEL: ARM}}}}")
        return {}
    if unknown := sorted(set(value) - {"source", "section", "arms"}):
        problems.append(f"{place}: unknown keys {unknown}")
    names = {arm.name for arm in arms}
    mapping = value.get("arms", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v in names for v in mapping.values()):
        problems.append(f"{place}.arms must map published arm labels to arm names of this experiment")
        mapping = {}
    section = value.get("section", "")
    if not isinstance(section, str):
        problems.append(f"{place}.section must be text")
        section = ""
    return {"source": value["source"], "section": section, "arms": mapping}


def _is_slug(value: str, limit: int) -> bool:
    try:
        validate_slug(value)
    except ValidationError:
        return False
    return len(value) <= limit


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- what an experiment holds -----------------------------------------------------------------------------


def named(name: str) -> Experiment:
    experiment = Experiment.objects.filter(name=name).first()
    if experiment is None:
        raise ExperimentError(f"there is no experiment named {name!r}")
    return experiment


def arms_of(experiment: Experiment) -> list[ExperimentArm]:
    return list(experiment.arms.select_related("system").order_by("position"))


def samples_of(experiment: Experiment) -> list[Sample]:
    """The experiment's samples in the order its spec gave (a sample deleted since is left out)."""
    found = {s.key: s for s in Sample.objects.filter(key__in=experiment.sample_keys)}
    return [found[key] for key in experiment.sample_keys if key in found]


def translations_of(experiment: Experiment) -> QuerySet:
    """The arms' translations of the experiment's samples."""
    systems = [arm.system_id for arm in experiment.arms.all()]
    return Translation.objects.filter(system_id__in=systems, sample__key__in=experiment.sample_keys).select_related(
        "sample", "system"
    )


def reference_system(experiment: Experiment) -> System | None:
    """The system similarity metrics score against; None for 'verified' (each sample's verified code)."""
    if experiment.reference == VERIFIED:
        return None
    system = System.objects.filter(name=experiment.reference).first()
    if system is None:
        raise ExperimentError(f"the reference system {experiment.reference!r} no longer exists")
    return system


def reference_label(experiment: Experiment) -> str:
    if experiment.reference == VERIFIED:
        return "each sample's verified (human-fixed) code"
    return f"the translations of system {experiment.reference}"


def steps_for(arm: ExperimentArm) -> Callable[[Sample], list[int]] | None:
    """How the arm narrows the shared fix steps for one sample's T2J prompt: their ids in priority order;
    None: every step (or no T2J)."""
    if arm.prompt_mode == PromptMode.T2J_RELEVANT:
        k = arm.relevant_k or 1

        def most_relevant(sample: Sample) -> list[int]:
            text = f"{sample.title}\n{sample.pytorch_code}"
            return [step_id for step_id, _, _ in ranked_steps(text, limit=k, exclude_sample=sample.pk)]

        return most_relevant
    if arm.prompt_mode == PromptMode.T2J_CATEGORIES:
        wanted = list(arm.categories)

        def in_categories(sample: Sample) -> list[int]:
            shared = StepIndexEntry.objects.filter(shared=True, category__in=wanted).exclude(sample_id=sample.pk)
            return list(shared.order_by("step_id").values_list("step_id", flat=True))

        return in_categories
    return None


# --- jobs -------------------------------------------------------------------------------------------------


def job_kind(step: str) -> str:
    return f"{JOB_PREFIX}{step}"


def jobs_of(experiment: Experiment) -> QuerySet:
    return Job.objects.filter(kind__startswith=JOB_PREFIX, params__experiment=experiment.name)


def new_job(experiment: Experiment, step: str, user=None) -> Job:
    """A queued Job for one step (annotate.jobs runs it: begin, progress, cancel). ExperimentError for an unknown
    step or while another step of the experiment is queued or running."""
    if step not in STEPS:
        raise ExperimentError(f"unknown step {step!r}; choose from {', '.join(STEPS)}")
    jobs.fail_silent_jobs()
    active = jobs_of(experiment).active().first()
    if active is not None:
        raise ExperimentError(f"step {active.kind.removeprefix(JOB_PREFIX)} of {experiment.name} is {active.status} "
                              f"(job {active.pk}); cancel it or wait")  # fmt: skip
    return Job.objects.create(
        kind=job_kind(step), created_by=user, total=step_total(experiment, step),
        params={"experiment": experiment.name, "step": step},
    )  # fmt: skip


def step_total(experiment: Experiment, step: str) -> int:
    """How many items the step goes through (its progress bar's length)."""
    if step == "draft":
        return len(drafting_arms(experiment)) * len(experiment.sample_keys)
    if step == "run":
        return len(_to_run(experiment)[0])
    if step == "verify":
        return len(_to_verify(experiment)[0])
    if step == "metrics":
        return len(_computed_metrics(experiment))
    return 0  # judge: known once the endpoint is checked


def execute(job: Job) -> StepResult:
    """Run the step a begun Job names and finish the Job (done, cancelled or failed with the reason)."""
    try:
        experiment = named(job.params.get("experiment", ""))
        result = STEP_FUNCTIONS[job.params["step"]](experiment, job)
    except (ExperimentError, llm.LLMNotConfigured, drafting.DraftingError, batch_runs.BatchProblem) as error:
        reason = getattr(error, "message", None) or str(error)
        job.finish(JobStatus.FAILED, reason)
        return StepResult(reason, failed=1)
    except Exception as error:
        job.finish(JobStatus.FAILED, f"Stopped on an unexpected error: {type(error).__name__}: {error}")
        raise
    job.finish(JobStatus.CANCELLED if result.cancelled else JobStatus.DONE, result.message)
    return result


def _stop(job: Job) -> Callable[[], bool]:
    return lambda: jobs.cancelled(job)


# --- the steps --------------------------------------------------------------------------------------------


def drafting_arms(experiment: Experiment) -> list[ExperimentArm]:
    return [arm for arm in arms_of(experiment) if arm.prompt_mode != PromptMode.IMPORTED]


def _draft(experiment: Experiment, job: Job) -> StepResult:
    samples = samples_of(experiment)
    summaries, cancelled = [], False
    for arm in drafting_arms(experiment):
        if cancelled:
            break
        report = drafting.draft_samples(
            arm.system,
            samples,
            retry_failed=True,
            on_outcome=drafting.progress_callback(job),
            should_stop=_stop(job),
            steps_for=steps_for(arm),
        )
        summaries.append(f"{arm.name}: {report.summary()}")
        cancelled = report.cancelled
    if not summaries:
        return StepResult("No arm drafts: every arm holds an existing system's drafts.")
    return StepResult(" ".join(summaries), cancelled=cancelled)


def _to_run(experiment: Experiment) -> tuple[list[Translation], int]:
    """(drafts whose current code has no batch run yet, how many already have one)."""
    todo, done = [], 0
    runs_done = Prefetch("batch_runs", queryset=Run.objects.only("pk", "translation_id", "kind", "code_hash"))
    translations = translations_of(experiment).exclude(code="").prefetch_related(runs_done)
    for t in translations.order_by("system__name", "sample__import_position", "sample__key"):
        ran = {run.code_hash for run in t.batch_runs.all() if run.kind == RunKind.JAX}
        if runs.code_hash(t.code) in ran:
            done += 1
        else:
            todo.append(t)
    return todo, done


def _run(experiment: Experiment, job: Job) -> StepResult:
    todo, done = _to_run(experiment)
    counts: dict[str, int] = {}
    for translation, result in batch_runs.run_all(todo, RunKind.JAX, should_stop=_stop(job)):
        counts[result.status] = counts.get(result.status, 0) + 1
        job.advance(done=1, message=f"{translation.system.name}/{translation.sample.key}: {result.status}")
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    message = f"{sum(counts.values())} run(s) ({by_status}); {done} draft(s) had already run."
    return StepResult(message, cancelled=jobs.cancelled(job))


def _verify_key(translation: Translation) -> dict:
    return {"code": runs.code_hash(translation.code), "contract_version": translation.sample.contract_version}


def _to_verify(experiment: Experiment) -> tuple[list[Translation], int]:
    """(drafts of samples with a contract whose code or contract changed since their last verdict, unchanged)."""
    checked = experiment.state.get("verify", {})
    todo, done = [], 0
    for t in translations_of(experiment).exclude(code="").exclude(sample__contract=""):
        previous = checked.get(str(t.pk))
        if previous and {k: previous.get(k) for k in ("code", "contract_version")} == _verify_key(t):
            done += 1
        else:
            todo.append(t)
    return todo, done


def _verify(experiment: Experiment, job: Job) -> StepResult:
    todo, done = _to_verify(experiment)
    counts: dict[str, int] = {}
    for translation in todo:
        if jobs.cancelled(job):
            break
        verdict = contracts.verify_translation(translation)
        with transaction.atomic():
            locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
            locked.state.setdefault("verify", {})[str(translation.pk)] = {
                **_verify_key(translation), "verdict": verdict.verdict, "run_id": verdict.run_id,
                "message": verdict.message[:500],
            }  # fmt: skip
            locked.save(update_fields=["state"])
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
        job.advance(done=1, message=f"{translation.system.name}/{translation.sample.key}: {verdict.verdict}")
    by_verdict = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "none"
    message = f"{sum(counts.values())} checked ({by_verdict}); {done} unchanged since their verdict."
    return StepResult(message, cancelled=jobs.cancelled(job))


def _computed_metrics(experiment: Experiment) -> list[str]:
    return [name for name in experiment.metrics if name in metrics.names() and name not in JUDGED_METRICS]


def _metrics_step(experiment: Experiment, job: Job) -> StepResult:
    report = ComputeReport()
    options = ComputeOptions(reference=reference_system(experiment), explicit=True, should_stop=_stop(job))
    for name in _computed_metrics(experiment):
        if jobs.cancelled(job):
            return StepResult("Cancelled; " + "; ".join(report.lines), cancelled=True)
        metrics.get(name).compute(translations_of(experiment), report, options)
        job.advance(done=1, message=report.lines[-1] if report.lines else name)
    with transaction.atomic():
        dashboard.mark_stale()
    problems = f" {len(report.problems)} problem(s): " + "; ".join(report.problems[:10]) if report.problems else ""
    return StepResult(("; ".join(report.lines) or "No metric to compute.") + problems, failed=len(report.problems))


def _judge(experiment: Experiment, job: Job) -> StepResult:
    wanted = [name for name in experiment.metrics if name in (*JUDGED_METRICS, COMPARISON)]
    if not wanted:
        return StepResult("Nothing to judge: the experiment's metrics hold neither codetrans nor comparison.")
    if problem := llm.configuration_problem(experiment.judge_model):
        return StepResult(f"Skipped: no LLM judge. {problem}")
    model = llm.resolve_model(experiment.judge_model)
    translations = [t for t in translations_of(experiment).exclude(code="")]
    reference = reference_system(experiment)  # with-reference CodeTrans asks about the experiment's reference
    todo_scores = [t for t in translations if "codetrans" in wanted and not _judged(t)]
    pairs = _pairs_to_compare(experiment, translations) if COMPARISON in wanted else []
    Job.objects.filter(pk=job.pk).update(total=len(todo_scores) + len(pairs))
    errors = 0
    for translation in todo_scores:
        if jobs.cancelled(job):
            return StepResult("Cancelled; the judgements so far are stored.", cancelled=True)
        outcome = codetrans.judge_translation(translation, model=experiment.judge_model, reference_system=reference)
        errors += bool(outcome.error)
        job.advance(done=not outcome.error, failed=bool(outcome.error), message=outcome.error or None)
    for first, second in pairs:
        if jobs.cancelled(job):
            return StepResult("Cancelled; the comparisons so far are stored.", cancelled=True)
        try:
            llm_compare.compare_pair(first, second, model=experiment.judge_model)
            job.advance(done=1, message=f"compared {first.sample.key}")
        except (llm.LLMError, llm_compare.CompareError) as error:
            errors += 1
            job.advance(failed=1, message=f"{first.sample.key}: {getattr(error, 'reason', error)}")
    message = (
        f"Judged {len(todo_scores)} translation(s) (CodeTrans) and {len(pairs)} pair(s) in both orders with {model}"
    )
    return StepResult(message + (f"; {errors} failed." if errors else "."), failed=errors)


def _judged(translation: Translation) -> bool:
    return Judgement.objects.filter(translation=translation, judge_user__isnull=True).exists()


def _pairs_to_compare(experiment: Experiment, translations: list[Translation]) -> list[tuple]:
    by_sample: dict[int, dict[int, Translation]] = {}
    for t in translations:
        by_sample.setdefault(t.sample_id, {})[t.system_id] = t
    systems = [arm.system_id for arm in arms_of(experiment)]
    pairs = []
    for drafts in by_sample.values():
        for a, b in itertools.combinations(systems, 2):
            if a in drafts and b in drafts and not _compared(drafts[a], drafts[b]):
                pairs.append((drafts[a], drafts[b]))
    return pairs


def _compared(a: Translation, b: Translation) -> bool:
    return Comparison.objects.filter(judge_user__isnull=True, left__in=[a, b], right__in=[a, b]).exists()


STEP_FUNCTIONS: dict[str, Callable[[Experiment, Job], StepResult]] = {
    "draft": _draft,
    "run": _run,
    "verify": _verify,
    "metrics": _metrics_step,
    "judge": _judge,
}
