"""Core records: samples, systems, translations, fix sessions, fix steps, runs, jobs.

The schema is complete for the whole product (DESIGN.md "Core records"); later features fill fields
rather than reshape tables. FixStep is append-only: the model, its queryset and a database trigger
(migration 0002) refuse updates and deletes; a mistaken step is retracted by a new row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from annotate.fields import OrderedJSONField
from annotate.roles import is_admin


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only record."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """A row that is written once: saving an existing row or deleting one raises."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


# What Python's str.strip() removes (every character whose str.isspace() is true): code made only of these is blank.
# FixSession.has_code's and Sample.has_contract's columns are defined with it: changing it needs a migration that
# redefines them.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class HasText(models.Func):
    """True when the text has a character that is not WHITESPACE, i.e. `text.strip() != ""` in Python.

    Written with deterministic built-ins (SQLite's trim(X, Y), PostgreSQL's btrim), so it can define a
    generated column on both databases; both trim characters, not bytes, of UTF-8 text.
    """

    function = "TRIM"
    template = "%(function)s(%(expressions)s) <> ''"
    output_field = models.BooleanField()

    def __init__(self, text, **extra):
        super().__init__(text, models.Value(WHITESPACE), **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="BTRIM", **extra_context)


class Difficulty(models.TextChoices):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"


class SampleQuerySet(models.QuerySet):
    def filtered(self, *, origin: str = "", difficulty: str = "", search: str = "") -> SampleQuerySet:
        qs = self
        if origin:
            qs = qs.filter(origin=origin)
        if difficulty:
            qs = qs.filter(difficulty=difficulty)
        if search:
            qs = qs.filter(Q(key__icontains=search) | Q(title__icontains=search))
        return qs


class Sample(models.Model):
    """One PyTorch program to translate, optionally with its equivalence contract."""

    key = models.SlugField(max_length=64, unique=True, help_text="Stable id, e.g. e1")
    title = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=100, blank=True, help_text="Where it comes from, e.g. TorchLeet")
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices, blank=True)
    pytorch_code = models.TextField()
    contract = models.TextField(blank=True, help_text="Equivalence contract module (Python)")
    contract_version = models.PositiveIntegerField(default=0, help_text="Bumped on every contract change")
    # Kept by the database: the contracts page lists the samples without one from an index, not every contract.
    has_contract = models.GeneratedField(
        expression=HasText("contract"), output_field=models.BooleanField(), db_persist=True
    )
    import_position = models.PositiveIntegerField(
        null=True, blank=True, help_text="Order in the dataset file it came from (exports keep it)"
    )
    extra = OrderedJSONField(default=dict, blank=True, help_text="Unknown keys from imports, in order")
    # What its runs get beyond the defaults (set by admins on the sample page; empty: the setting).
    wall_limit_s = models.FloatField(null=True, blank=True, help_text="Wall-clock limit of its runs, seconds")
    cpu_limit_s = models.PositiveIntegerField(null=True, blank=True, help_text="CPU-time limit of its runs, seconds")
    standin_train_examples = models.PositiveIntegerField(
        null=True, blank=True, help_text="Examples per training split of stand-in datasets (MNIST, CIFAR...)"
    )
    standin_test_examples = models.PositiveIntegerField(
        null=True, blank=True, help_text="Examples per test split of stand-in datasets"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SampleQuerySet.as_manager()

    class Meta:
        ordering = ["import_position", "key"]
        indexes = [
            models.Index(fields=["import_position", "key"], name="sample_import_order"),
            models.Index(
                fields=["import_position", "key"], condition=Q(has_contract=False), name="sample_without_contract"
            ),
            # The queue's origin filter lists the distinct origins: from the index, not every sample's row.
            models.Index(fields=["origin"], name="sample_origin"),
        ]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("annotate:sample_detail", args=[self.key])

    def run_limits(self) -> dict[str, float | int]:
        """The sandbox limits its runs ask for beyond the defaults: {"wall_s", "cpu_s"} where set."""
        limits: dict[str, float | int] = {}
        if self.wall_limit_s:
            limits["wall_s"] = self.wall_limit_s
        if self.cpu_limit_s:
            limits["cpu_s"] = self.cpu_limit_s
        return limits

    def standin_counts(self) -> dict[str, int]:
        """The stand-in datasets' example counts its runs ask for: {"train_examples", "test_examples"} where set."""
        counts = {"train_examples": self.standin_train_examples, "test_examples": self.standin_test_examples}
        return {name: count for name, count in counts.items() if count}


class SampleFile(models.Model):
    """A data file an admin attached to a sample (a CSV, images, a checkpoint): read-only in the working folder
    of every run of the sample's programs, under its name (a relative path)."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200, help_text="Path in the working folder, e.g. data/train.csv")
    content = models.BinaryField()
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sample", "name"]
        constraints = [models.UniqueConstraint(fields=["sample", "name"], name="one_file_per_name_per_sample")]

    def __str__(self) -> str:
        return f"{self.sample.key}/{self.name}"


class SystemMode(models.TextChoices):
    STANDARD = "standard"
    T2J = "t2j"
    HUMAN = "human"
    IMPORTED = "imported"


class System(models.Model):
    """Whatever produced translations: an LLM with a prompt mode, a human, or an import."""

    name = models.SlugField(max_length=100, unique=True)
    mode = models.CharField(max_length=10, choices=SystemMode.choices, default=SystemMode.IMPORTED)
    model = models.CharField(max_length=200, blank=True, help_text="LLM model name; empty uses OPENAI_MODEL")
    temperature = models.FloatField(default=0.0)
    token_budget = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prompt token budget; empty uses T2J_PROMPT_TOKEN_BUDGET"
    )
    notes = models.TextField(blank=True)
    stats = models.JSONField(default=dict, blank=True, help_text="Counts kept by the recount task")
    stats_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("annotate:system_detail", args=[self.name])


class DraftStatus(models.TextChoices):
    OK = "ok"
    FAILED = "failed"


class Translation(models.Model):
    """One JAX program for a sample by a system, with the provenance of how it was drafted."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="translations")
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="translations")
    code = models.TextField(blank=True)
    draft_status = models.CharField(max_length=10, choices=DraftStatus.choices, default=DraftStatus.OK)
    failure_reason = models.TextField(blank=True)
    # Provenance of an LLM draft: exactly what was sent and received.
    prompt_messages = models.JSONField(default=list, blank=True)
    raw_answer = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_s = models.FloatField(null=True, blank=True)
    included_steps = models.ManyToManyField(
        "FixStep", blank=True, related_name="used_in_prompts", help_text="Fix steps put into the prompt"
    )
    extra = OrderedJSONField(default=dict, blank=True)
    drafted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sample__import_position", "sample__key", "system__name"]
        constraints = [models.UniqueConstraint(fields=["sample", "system"], name="one_translation_per_system")]
        # The developer queue and the review pairs walk drafted translations by sample from an index: reading
        # the rows would read their code. The few without code are found from their own small index; the
        # models of the drafts (names a reviewer must not see) are read from one too.
        indexes = [
            models.Index(fields=["draft_status", "sample", "id"], name="translation_status_sample"),
            models.Index(fields=["id"], condition=Q(code=""), name="translation_without_code"),
            models.Index(fields=["model"], name="translation_model"),
            # The drafting pages' token totals per system, summed from the index instead of the wide rows (code).
            models.Index(
                fields=["system", "draft_status", "prompt_tokens", "completion_tokens"], name="translation_token_totals"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sample.key} by {self.system.name}"

    def verified_session(self) -> FixSession | None:
        return self.fix_sessions.filter(status=SessionStatus.VERIFIED).first()


class SessionStatus(models.TextChoices):
    OPEN = "open"
    VERIFIED = "verified"
    ABANDONED = "abandoned"


def _sessions_visible_to(user, path: str = "") -> Q:
    """Verified sessions are shared knowledge; open and abandoned ones belong to their owner; an admin sees all.
    `path` leads from the queried model to its session ("session__" for steps)."""
    if is_admin(user):
        return Q()
    return Q(**{f"{path}status": SessionStatus.VERIFIED}) | Q(**{f"{path}owner": user})


class FixSessionQuerySet(models.QuerySet):
    def visible_to(self, user) -> FixSessionQuerySet:
        return self.filter(_sessions_visible_to(user))

    def verified(self) -> FixSessionQuerySet:
        return self.filter(status=SessionStatus.VERIFIED)


class FixSession(models.Model):
    """One developer fixing one translation until it is verified."""

    translation = models.ForeignKey(Translation, on_delete=models.PROTECT, related_name="fix_sessions")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="fix_sessions"
    )
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    current_code = models.TextField(blank=True)
    # Kept by the database however current_code is written (save, update(), bulk writes, imports, raw SQL): a
    # verified session with code is a reference (evaluate.metrics.codebleu), found without reading any code.
    has_code = models.GeneratedField(
        expression=HasText("current_code"), output_field=models.BooleanField(), db_persist=True
    )
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every save; stale saves are refused")
    # How it was verified: {"method": "contract", "stages": [...], "run": id, "contract_version": n}
    # or {"method": "clean-run", "run": id, "confirmed": true}; imports keep what the file says.
    verification = models.JSONField(default=dict, blank=True)
    verified_run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contract_version = models.PositiveIntegerField(null=True, blank=True)
    is_stale = models.BooleanField(default=False, help_text="Verified under a contract that has since changed")
    extra = OrderedJSONField(default=dict, blank=True, help_text="Unknown example keys from imports, in order")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FixSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-claimed_at", "-pk"]
        indexes = [
            models.Index(fields=["-claimed_at", "-id"], name="fixsession_newest_claim"),
            # "Has this translation a verified session?" (the queue, per translation) from the index alone,
            # and the open sessions the queue expires without reading the verified ones.
            models.Index(fields=["translation", "status"], name="fixsession_translation_status"),
            models.Index(fields=["-claimed_at", "-id"], condition=Q(status="open"), name="fixsession_open_claims"),
            # The verified references by translation (codebleu.verified_references) from a small index alone.
            models.Index(
                fields=["translation"], condition=Q(status="verified", has_code=True), name="fixsession_references"
            ),
        ]
        constraints = [
            # At most one live (open or verified) session per translation: two claims cannot both win.
            models.UniqueConstraint(
                fields=["translation"],
                condition=~Q(status="abandoned"),
                name="one_live_session_per_translation",
            )
        ]

    def __str__(self) -> str:
        return f"session {self.pk} on {self.translation}"

    def counted_steps(self):
        return self.steps.counted()

    @property
    def fixcost(self) -> int:
        return self.counted_steps().count()


class FixStepQuerySet(AppendOnlyQuerySet):
    def visible_to(self, user) -> FixStepQuerySet:
        """Steps of the sessions the user may see, filtered through the join to the session rather than a
        subquery of FixSession.objects.visible_to: SQLite would read every session to build its list."""
        return self.filter(_sessions_visible_to(user, "session__"))

    def counted(self) -> FixStepQuerySet:
        """Steps that count: neither a retraction nor retracted."""
        return self.filter(retracts__isnull=True, retracted_by__isnull=True)

    def shared(self) -> FixStepQuerySet:
        """Steps everyone may learn from: counted steps of verified sessions."""
        return self.counted().filter(session__status=SessionStatus.VERIFIED)


class StepCategory(models.TextChoices):
    PRNG = "prng", "PRNG key misuse"
    NONEXISTENT_API = "nonexistent-api", "Nonexistent API"
    INPLACE_MUTATION = "inplace-mutation", "In-place mutation"
    TRACER = "tracer", "Tracer / concretization"
    SHAPE_DTYPE = "shape-dtype", "Shape / dtype"
    STATEFUL_API = "stateful-api", "Stateful module or optimizer API"
    MISSING_IMPORT = "missing-import", "Missing import"
    NUMERICAL = "numerical", "Numerical mismatch"
    OTHER = "other", "Other"


class ErrorSource(models.TextChoices):
    """Where a step's error came from: the run it answers, or why there is none."""

    RUN = "run", "a JAX run's exception"
    CONTRACT = "contract", "a contract run's first mismatch"
    WRITTEN = "written", "written by the developer"
    NO_ERROR = "no-error", "no error: behaviour change"
    IMPORTED = "imported", "imported (the file does not say)"


class StepFlag(models.TextChoices):
    """Step hygiene: why a step may not be a fix of its own (annotate.hygiene); flagged steps still count."""

    DUPLICATE = "duplicate", "repeats an earlier step exactly"
    NEAR_DUPLICATE = "near-duplicate", "nearly repeats an earlier step"
    REPEAT = "repeat", "repeats an earlier step's error and fix"


class FixStep(AppendOnlyModel):
    """One logged bug fix: the erroneous code, the error, how it was fixed, the corrected code."""

    session = models.ForeignKey(FixSession, on_delete=models.PROTECT, related_name="steps")
    index = models.PositiveIntegerField()
    error_code = models.TextField(blank=True, help_text="The erroneous code (Error_Code)")
    error = models.TextField(blank=True, help_text="The error message (Error)")
    fix_info = models.TextField(blank=True, help_text="How it was fixed (Fix_info)")
    fixed_code = models.TextField(blank=True, help_text="The corrected code (Fixed_Code)")
    category = models.CharField(max_length=20, choices=StepCategory.choices, blank=True)
    category_reason = models.TextField(blank=True, help_text="Why the category was chosen (suggestion or person)")
    error_source = models.CharField(
        max_length=10, choices=ErrorSource.choices, blank=True, help_text="Empty on steps recorded before it existed"
    )
    # [{"kind": a StepFlag value, "of": index of the earlier step}], computed when the step is written.
    flags = models.JSONField(default=list, blank=True)
    code_before = models.TextField(blank=True)
    code_after = models.TextField(blank=True)
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.PROTECT, related_name="fix_steps")
    time_spent_s = models.FloatField(null=True, blank=True)
    edit_size = models.PositiveIntegerField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="fix_steps"
    )
    extra = OrderedJSONField(default=dict, blank=True, help_text="Unknown keys from imports, in order")
    retracts = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retracted_by"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = FixStepQuerySet.as_manager()

    class Meta:
        ordering = ["session", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="unique_step_index")]
        indexes = [
            # counted() filters `retracts IS NULL` beside the session. With only the unique index on retracts_id,
            # SQLite walks it (every counted step of every session, ~0.3 s at 100k steps) unless ANALYZE has run;
            # this index matches both terms, so the session's own rows are read whatever the statistics say.
            models.Index(fields=["session", "retracts"], name="fixstep_session_retracts")
        ]

    def __str__(self) -> str:
        kind = "retraction" if self.retracts_id else "step"
        return f"{kind} {self.index} of session {self.session_id}"


class RunKind(models.TextChoices):
    JAX = "jax"
    PYTORCH = "pytorch"
    CONTRACT = "contract"


class RunStatus(models.TextChoices):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    KILLED = "killed"
    OUTPUT_LIMIT = "output-limit"
    REFUSED = "refused"


class ContractVerdict(models.TextChoices):
    PASSED = "passed"
    FAILED = "failed"
    CONTRACT_ERROR = "contract-error"


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        if is_admin(user):
            return self
        return self.filter(Q(user=user) | Q(session__status=SessionStatus.VERIFIED))


class Run(models.Model):
    """One execution of a program in the sandbox, as the sandbox reported it."""

    kind = models.CharField(max_length=10, choices=RunKind.choices)
    code_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 of the program")
    code = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    user_key = models.CharField(max_length=150, blank=True, help_text="Whose compile cache the run used")
    session = models.ForeignKey(FixSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    # Set by batch runs of a system: the translation whose code (kind jax) or whose sample's PyTorch program
    # (kind pytorch) ran.
    translation = models.ForeignKey(
        Translation, null=True, blank=True, on_delete=models.SET_NULL, related_name="batch_runs"
    )
    status = models.CharField(max_length=15, choices=RunStatus.choices)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    stdout_truncated = models.BooleanField(default=False)
    stderr_truncated = models.BooleanField(default=False)
    exception_type = models.CharField(max_length=200, blank=True)
    exception_message = models.TextField(blank=True)
    traceback = models.JSONField(default=list, blank=True, help_text="Frames: [{file, line, function}]")
    duration_s = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    isolation = models.CharField(max_length=20, blank=True, help_text="full, reduced, or why it was refused")
    started_warm = models.BooleanField(default=False, help_text="Ran in a pre-warmed interpreter")
    standins = models.JSONField(
        default=list, blank=True, help_text="Stand-ins for downloads: [{what, message, dataset|model, ...}]"
    )
    limits = models.JSONField(default=dict, blank=True, help_text="The limits it ran under (wall_s, cpu_s, ...)")
    session_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The session's code version that ran (JAX and contract runs of a session)"
    )
    # Contract runs only.
    verdict = models.CharField(max_length=15, choices=ContractVerdict.choices, blank=True)
    stages = models.JSONField(
        default=list, blank=True, help_text="[{name, status: passed|failed|not-reached, mismatch}]"
    )
    contract_version = models.PositiveIntegerField(null=True, blank=True)
    # Ordered: the expected shapes are listed in the contract's order (jsonb would sort them).
    contract_report = OrderedJSONField(
        default=dict,
        blank=True,
        help_text="Contract kind, tests, imports and expected shapes (see contracts.clean_report)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="run_newest_first"),
            # The admin filters runs by isolation: its distinct values come from the index, not 50k wide rows.
            models.Index(fields=["isolation"], name="run_isolation"),
            # A system's batch runs, the latest first per translation and kind (batch_runs.summary): only the
            # runs linked to a translation are in it, so a site with no batch runs reads an empty index.
            models.Index(
                fields=["translation", "kind", "-created_at", "-id"],
                condition=Q(translation__isnull=False),
                name="run_latest_batch",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.kind}, {self.status})"

    @property
    def exception_line(self) -> str:
        return exception_line(self.exception_type, self.exception_message)


def exception_line(exception_type: str, exception_message: str | None) -> str:
    """'Type: first line of the message' (at most 200 characters of it), as the batch summaries group errors."""
    first = (exception_message or "").strip().splitlines()[:1]
    return ": ".join(part for part in (exception_type, first[0][:200] if first else "") if part)


class RunPlot(models.Model):
    """A plot a run drew (plt.show() or savefig), as the PNG the host re-encoded."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="plots")
    position = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=10, help_text="show, savefig or plot")
    png = models.BinaryField()

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="one_plot_per_position")]

    def __str__(self) -> str:
        return f"plot {self.position} of run {self.run_id}"

    def get_absolute_url(self) -> str:
        return reverse("annotate:run_plot", args=[self.run_id, self.position])


class SessionEventKind(models.TextChoices):
    CLAIMED = "claimed"
    ABANDONED = "abandoned"
    EXPIRED = "expired"
    REASSIGNED = "reassigned"
    REOPENED = "reopened"
    VERIFIED = "verified"
    STALE = "stale"
    IMPORTED = "imported"
    RESTORED = "restored"  # the code set back to the draft or to a step's, as a new version


class SessionEvent(AppendOnlyModel):
    """The audit trail of a fix session: who claimed, reassigned, reopened or verified it, when."""

    session = models.ForeignKey(FixSession, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=SessionEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["created_at", "id"], name="sessionevent_oldest_first")]

    def __str__(self) -> str:
        return f"{self.kind} on session {self.session_id}"


class WorkerQuerySet(models.QuerySet):
    def gone(self, now) -> WorkerQuerySet:
        """Workers that stopped, or went silent for LOST_AFTER_BEATS heartbeats (killed, machine down)."""
        return self.filter(Q(stopped_at__isnull=False) | Q(lost_after__lt=now))

    def alive(self, now) -> WorkerQuerySet:
        return self.filter(stopped_at__isnull=True, lost_after__gte=now)


class Worker(models.Model):
    """A task worker process (`manage.py run_worker`) and its heartbeat (annotate.workers).

    Its id is the worker id django-tasks-db writes into the queue rows it claims (`DBTaskResult.worker_ids`).
    """

    LOST_AFTER_BEATS = 3

    id = models.CharField(primary_key=True, max_length=64)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    heartbeat_s = models.FloatField(help_text="Seconds between two heartbeats of this worker")
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    lost_after = models.DateTimeField(help_text="last_seen + LOST_AFTER_BEATS heartbeats: silent past it, it is lost")
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="When it stopped cleanly")
    swept_at = models.DateTimeField(
        null=True, blank=True, help_text="When the jobs and queue rows it left behind were marked failed"
    )

    objects = WorkerQuerySet.as_manager()

    def __str__(self) -> str:
        return f"worker {self.id} ({self.hostname}, pid {self.pid})"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobQuerySet(models.QuerySet):
    def active(self) -> JobQuerySet:
        return self.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


class Job(models.Model):
    """A long background job (drafting, judging, metrics, recounts) with progress people can watch."""

    kind = models.CharField(max_length=50)
    system = models.ForeignKey(System, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Who runs it: the queue row (django-tasks-db's DBTaskResult id) and the worker that began it. A job
    # whose worker is lost is failed with its queue row; `attempt` counts the runs, for a re-queue to raise.
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.ForeignKey(Worker, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    attempt = models.PositiveSmallIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == JobStatus.DONE else 0
        return min(100, round(100 * (self.done + self.failed) / self.total))

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def subject(self) -> str:
        """What the job works on beyond its system, from its params: an experiment's step, or the metrics."""
        params = self.params or {}
        if params.get("experiment"):
            return f"experiment {params['experiment']}, step {params.get('step', '?')}"
        if params.get("metrics"):
            return ", ".join(params["metrics"])
        return ""

    def advance(self, *, done: int = 0, failed: int = 0, message: str | None = None) -> None:
        """Count progress atomically in the database, so parallel workers never lose an increment. A bool counts
        as 1 or 0 (PostgreSQL has no integer + boolean)."""
        changes = {
            "done": models.F("done") + int(done),
            "failed": models.F("failed") + int(failed),
            "updated_at": timezone.now(),
        }
        if message is not None:
            changes["message"] = message
        Job.objects.filter(pk=self.pk).update(**changes)
        self.refresh_from_db()

    def finish(self, status: str = JobStatus.DONE, message: str | None = None) -> None:
        self.status = status
        if message is not None:
            self.message = message
        self.save(update_fields=["status", "message", "updated_at"])


class ImportKind(models.TextChoices):
    DATASET = "dataset"
    SAMPLES = "samples"
    TRANSLATIONS = "translations"


class ImportStatus(models.TextChoices):
    OK = "ok"
    FAILED = "failed"


class ImportRecord(AppendOnlyModel):
    """The audit trail of imports (RELIABILITY.md case 32): every attempt, failed ones kept after their rollback."""

    kind = models.CharField(max_length=12, choices=ImportKind.choices)
    source = models.CharField(max_length=255, help_text="The file or folder name")
    format = models.CharField(max_length=10, blank=True, help_text="t2j, jsonl or folder; empty when unreadable")
    status = models.CharField(max_length=6, choices=ImportStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    summary = models.JSONField(default=dict, blank=True, help_text="Counts of what was written")
    errors = models.TextField(blank=True, help_text="Why it failed, each problem with its place")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} import of {self.source} ({self.status})"

    def summary_text(self) -> str:
        """The counts as one line, e.g. "samples: 3 new, 0 unchanged, 0 conflicting; ..."."""
        parts = []
        for name, value in self.summary.items():
            if isinstance(value, dict):
                value = ", ".join(f"{count} {state}" for state, count in value.items())
            parts.append(f"{name}: {value}")
        return "; ".join(parts)


class StepIndexEntry(models.Model):
    """A fix step in the similar-fix index (annotate.similarity_index): derived from the step, never edited by
    hand; `shared` follows the step's session (counted steps of verified sessions)."""

    step = models.OneToOneField(FixStep, primary_key=True, on_delete=models.CASCADE, related_name="index_entry")
    session = models.ForeignKey(FixSession, on_delete=models.CASCADE, related_name="+")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    counted = models.BooleanField()
    shared = models.BooleanField()
    exception_type = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=20, blank=True, help_text="The step's category, else the suggested one")
    length = models.PositiveIntegerField(help_text="Search tokens (BM25's document length)")
    size = models.PositiveIntegerField(help_text="Characters of Error_Code, Error, Fix_info and Fixed_Code")

    class Meta:
        indexes = [
            models.Index(fields=["shared", "length"], name="stepindex_shared_length"),
            models.Index(fields=["shared", "category", "step"], name="stepindex_shared_category"),
        ]

    def __str__(self) -> str:
        return f"index entry of step {self.step_id}"


class StepIndexTerm(models.Model):
    """One search token of an indexed step (a posting), with what BM25 scores it by; `shared` and `doc_length`
    are the entry's, copied so a query reads only this table's index."""

    entry = models.ForeignKey(StepIndexEntry, on_delete=models.CASCADE, related_name="terms")
    token = models.CharField(max_length=100)
    tf = models.PositiveIntegerField()
    doc_length = models.PositiveIntegerField()
    shared = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(fields=["token", "shared", "entry", "tf", "doc_length"], name="stepindex_term_postings")
        ]

    def __str__(self) -> str:
        return f"{self.token} ×{self.tf} in step {self.entry_id}"


class StepIndexToken(models.Model):
    """A search token of the similar-fix index and its document frequency among shared steps (BM25's df), kept
    by annotate.similarity_index as steps are shared and unshared: a search reads it instead of counting."""

    token = models.CharField(max_length=100, primary_key=True)
    df = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.token} in {self.df} shared steps"
