"""Judgements people and LLMs make about translations: blind pairwise comparisons and 0-4 scores.

Both are append-only: a vote or a score is never edited; a new one is added. A reviewer who changes their
mind adds a row that supersedes their earlier one for the same pair (or translation, aspect and reference):
`current()` keeps only the latest per judge, which rankings and agreement use; superseded rows stay for audit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from annotate.models import AppendOnlyModel, AppendOnlyQuerySet, Sample, Translation


class Verdict(models.TextChoices):
    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"
    BOTH_BAD = "both-bad"  # counts as a tie in scores


class ComparisonQuerySet(AppendOnlyQuerySet):
    def current(self) -> ComparisonQuerySet:
        """Each reviewer's latest vote per pair (either side order), and every LLM verdict: rows a later vote
        of the same reviewer on the same pair superseded are left out."""
        return self.exclude(Exists(later_votes()))

    def superseded(self) -> ComparisonQuerySet:
        return self.filter(Exists(later_votes()))


def later_votes():
    # judge_user = NULL (an LLM) never matches in SQL, so LLM verdicts are never superseded here.
    same_pair = Q(left=OuterRef("left"), right=OuterRef("right")) | Q(left=OuterRef("right"), right=OuterRef("left"))
    return Comparison.objects.filter(same_pair, judge_user=OuterRef("judge_user"), pk__gt=OuterRef("pk"))


class Comparison(AppendOnlyModel):
    """One judge's verdict on two translations of the same sample, shown left and right."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="comparisons")
    left = models.ForeignKey(Translation, on_delete=models.PROTECT, related_name="+")
    right = models.ForeignKey(Translation, on_delete=models.PROTECT, related_name="+")
    judge_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="comparisons"
    )
    judge_model = models.CharField(max_length=200, blank=True, help_text="LLM judge model, when not a person")
    order_seen = models.CharField(
        max_length=20, blank=True, help_text="For LLM judges: which translation the model saw first"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    time_spent_s = models.FloatField(null=True, blank=True)
    comments_stripped = models.BooleanField(default=False)
    inconsistent = models.BooleanField(default=False, help_text="LLM verdict flipped when the order was swapped")
    raw_output = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ComparisonQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Admin lists: newest first, and the distinct judge models of its filter, from indexes.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="comparison_newest_first"),
            models.Index(fields=["judge_model"], name="comparison_judge_model"),
            # Who voted on a pair (either way round), from the index alone: the review queue's next pair.
            models.Index(fields=["left", "right", "judge_user"], name="comparison_pair_judge"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(judge_user__isnull=False) | ~Q(judge_model=""), name="comparison_has_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"comparison {self.pk} on {self.sample_id}: {self.verdict}"

    def save(self, *args, **kwargs):
        if self.judge_user_id is None or not self._state.adding:
            return super().save(*args, **kwargs)
        with transaction.atomic(savepoint=False):
            # The pair's tally row is locked first: two votes on one pair are counted one after the other, and
            # the second sees the first when it asks whether its reviewer voted on the pair before.
            tally = ReviewPair.locked(self.left_id, self.right_id)
            super().save(*args, **kwargs)
            earlier = Comparison.objects.filter(
                Q(left=self.left_id, right=self.right_id) | Q(left=self.right_id, right=self.left_id),
                judge_user=self.judge_user_id,
            ).exclude(pk=self.pk)
            ReviewPair.objects.filter(pk=tally.pk).exclude(Exists(earlier)).update(reviewers=F("reviewers") + 1)


class ReviewPair(models.Model):
    """How many reviewers voted on a pair of translations (either way round), kept by Comparison.save().

    The blind review's queue reads this tally (evaluate.review) instead of grouping every human vote on each
    request. Rows written around save() (bulk_create) are counted by evaluate.review.tally_votes().
    """

    lo = models.ForeignKey(Translation, on_delete=models.CASCADE, related_name="+", help_text="the lower id")
    hi = models.ForeignKey(Translation, on_delete=models.CASCADE, related_name="+", help_text="the higher id")
    reviewers = models.PositiveIntegerField(default=0, help_text="distinct people who voted on the pair")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lo", "hi"], name="review_pair_unique")]
        indexes = [models.Index(fields=["reviewers"], name="review_pair_reviewers")]

    def __str__(self) -> str:
        return f"pair {self.lo_id}/{self.hi_id}: {self.reviewers} reviewers"

    @classmethod
    def locked(cls, first_id: int, second_id: int) -> ReviewPair:
        """The tally row of the pair (made if new), locked until the transaction ends (on PostgreSQL)."""
        lo, hi = sorted((first_id, second_id))
        cls.objects.bulk_create([cls(lo_id=lo, hi_id=hi)], ignore_conflicts=True)
        return cls.objects.select_for_update().only("pk").get(lo_id=lo, hi_id=hi)


class Aspect(models.TextChoices):
    USEFULNESS = "usefulness"
    FUNCTIONAL_CORRECTNESS = "functional-correctness"


class JudgementQuerySet(AppendOnlyQuerySet):
    def current(self) -> JudgementQuerySet:
        """Each reviewer's latest score per (translation, aspect, with or without reference), and every LLM
        judgement (the LLM's own latest is chosen where its scores are read)."""
        return self.exclude(Exists(later_scores()))

    def superseded(self) -> JudgementQuerySet:
        return self.filter(Exists(later_scores()))


def later_scores():
    return Judgement.objects.filter(
        judge_user=OuterRef("judge_user"),
        translation=OuterRef("translation"),
        aspect=OuterRef("aspect"),
        with_reference=OuterRef("with_reference"),
        pk__gt=OuterRef("pk"),
    )


class Judgement(AppendOnlyModel):
    """A CodeTrans (ICE-Score style) 0-4 score of one translation on one aspect."""

    translation = models.ForeignKey(Translation, on_delete=models.PROTECT, related_name="judgements")
    judge_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="judgements"
    )
    judge_model = models.CharField(max_length=200, blank=True)
    aspect = models.CharField(max_length=25, choices=Aspect.choices)
    with_reference = models.BooleanField(default=False)
    score = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(4)],
        help_text="0-4; empty when an LLM answer could not be parsed",
    )
    raw_output = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = JudgementQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="judgement_newest_first"),
            models.Index(fields=["judge_model"], name="judgement_judge_model"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=4), name="judgement_score_0_4"),
            models.CheckConstraint(
                condition=Q(judge_user__isnull=False) | ~Q(judge_model=""), name="judgement_has_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aspect} {self.score} for {self.translation_id}"


class BlindPurpose(models.TextChoices):
    PAIR = "pair"
    SCORE = "score"


class BlindToken(models.Model):
    """The handle a reviewer's page carries instead of translation ids: a random key resolved server side.

    It says nothing (no id, no import order), every showing gets a new one, and it works only for the reviewer
    it was shown to. `created_at` is when the item was shown: a vote's time spent counts from there.
    """

    key = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=5, choices=BlindPurpose.choices)
    first = models.ForeignKey(Translation, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Translation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    with_reference = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.purpose} token of user {self.user_id}"


# ---------------------------------------------------------------------------------------------------------
# Stored metric values (issue 8). Computed by tasks or commands, read by pages and exports. Unlike votes
# and scores these are derived data: recomputing replaces the row for the same translation and key.
# ---------------------------------------------------------------------------------------------------------


class CodeBLEUScore(models.Model):
    """CodeBLEU of one translation against one reference (the verified code, or a reference system)."""

    translation = models.ForeignKey(Translation, on_delete=models.CASCADE, related_name="codebleu_scores")
    reference = models.CharField(
        max_length=100, help_text="'verified' (the human-fixed code of the sample) or a reference system name"
    )
    codebleu = models.FloatField()
    ngram = models.FloatField()
    weighted_ngram = models.FloatField()
    syntax = models.FloatField()
    dataflow = models.FloatField()
    hash_seed = models.CharField(max_length=20, default="0", help_text="PYTHONHASHSEED of the scoring worker")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["translation", "reference"]
        constraints = [
            models.UniqueConstraint(fields=["translation", "reference"], name="one_codebleu_per_reference")
        ]

    def __str__(self) -> str:
        return f"CodeBLEU {self.codebleu:.4f} of {self.translation_id} vs {self.reference}"


class FixCostSource(models.TextChoices):
    HUMAN = "human"  # counted steps of the verified session
    LLM = "llm"  # an LLM's estimate, for comparison or for translations nobody fixed yet


class FixCostRecord(models.Model):
    """FixCost of one translation: the human figure from its verified session, or an LLM estimate beside it."""

    translation = models.ForeignKey(Translation, on_delete=models.CASCADE, related_name="fixcost_records")
    source = models.CharField(max_length=10, choices=FixCostSource.choices)
    steps = models.FloatField(help_text="Counted fix steps (an LLM estimate may be fractional)")
    score = models.FloatField(help_text="FixCost Score = 1 / (1 + steps)")
    time_spent_s = models.FloatField(null=True, blank=True)
    edit_size = models.PositiveIntegerField(null=True, blank=True)
    runs = models.PositiveIntegerField(null=True, blank=True)
    flagged_steps = models.PositiveIntegerField(
        null=True, blank=True, help_text="Of the counted steps, how many step hygiene flagged (still counted)"
    )
    judge_model = models.CharField(max_length=200, blank=True)
    raw_output = models.TextField(blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["translation", "source"]
        constraints = [models.UniqueConstraint(fields=["translation", "source"], name="one_fixcost_per_source")]

    def __str__(self) -> str:
        return f"FixCost {self.steps} ({self.source}) of {self.translation_id}"


class RuntimeMeasurement(models.Model):
    """Timing of a verified translation, or of the sample's PyTorch program (translation empty), in the sandbox."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="runtime_measurements")
    translation = models.ForeignKey(
        Translation, null=True, blank=True, on_delete=models.CASCADE, related_name="runtime_measurements"
    )
    label = models.CharField(max_length=20, help_text="'function' (a contract-named function) or 'whole-program'")
    function = models.CharField(max_length=200, blank=True)
    median_s = models.FloatField(null=True, blank=True)
    compile_s = models.FloatField(null=True, blank=True, help_text="First call (JIT compile), kept apart")
    repeats = models.JSONField(default=list, blank=True, help_text="Each timed repeat, seconds")
    status = models.CharField(max_length=20, default="ok")
    message = models.TextField(blank=True)
    environment = models.JSONField(default=dict, blank=True, help_text="Library versions and CPU")
    run = models.ForeignKey("annotate.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sample", "translation"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "translation"], name="one_runtime_per_translation"),
            models.UniqueConstraint(
                fields=["sample"], condition=Q(translation__isnull=True), name="one_runtime_per_pytorch_program"
            ),
        ]

    def __str__(self) -> str:
        return f"runtime {self.median_s} s ({self.label}) of {self.translation_id or 'pytorch'}"


# ---------------------------------------------------------------------------------------------------------
# The stored dashboard (evaluate/dashboard.py). Pages read the snapshot; the generation tells them whether
# votes, scores, imports or metric batches came in since it was built. Both live in the database so the
# web processes and the worker agree on them.
# ---------------------------------------------------------------------------------------------------------


class DashboardGeneration(models.Model):
    """One row (pk 1): a counter every change to what the dashboard shows moves on, and the refresh job queued."""

    value = models.PositiveBigIntegerField(default=0)
    refresh_job = models.ForeignKey(
        "annotate.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The one dashboard refresh queued or running; no other is queued before it ends",
    )

    def __str__(self) -> str:
        return f"dashboard generation {self.value}"


class DashboardSnapshot(models.Model):
    """One row (pk 1): the unfiltered dashboard context as the last refresh built it."""

    # Text, not a JSONField: PostgreSQL's jsonb reorders keys, and the order of a table's columns is its meaning.
    payload = models.TextField(help_text="The DashboardContext as JSON")
    generation = models.PositiveBigIntegerField(help_text="The DashboardGeneration value it was built from")
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"dashboard of generation {self.generation}, computed {self.computed_at:%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------------------------------------
# Published figures (issue 16): per-sample figures a paper published, imported by `manage.py import_results`
# as a named source and kept apart from everything this app computes or people record. They are never turned
# into fix steps, votes or scores; reports show them beside ours (evaluate/published.py).
# ---------------------------------------------------------------------------------------------------------


class PublishedSource(models.Model):
    """A named set of published figures, e.g. the T2J paper's results.json."""

    name = models.CharField(max_length=64, unique=True)
    file_name = models.CharField(max_length=255, help_text="The file the figures were imported from")
    sha256 = models.CharField(max_length=64, help_text="Of the imported file's bytes")
    about = models.TextField(blank=True, help_text="The file's own description, when it has one")
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"published source {self.name}"


class PublishedFigure(models.Model):
    """One published per-sample figure, as the source names things (not linked to our samples or systems).

    `metric` is our registry column where there is one (codebleu, fixcost_steps, codetrans_func_ref, ...) or
    'comparison'. For a comparison `arm` is the pair ("A/B") and `verdict` the source's verdict ("A", "B",
    "tie", "both-bad"); `value` is then the points of the pair's second arm (1, 0 or 0.5).
    """

    source = models.ForeignKey(PublishedSource, on_delete=models.CASCADE, related_name="figures")
    section = models.CharField(max_length=64, blank=True, help_text="e.g. 'intrinsic', as the source groups it")
    sample_key = models.CharField(max_length=64)
    arm = models.CharField(max_length=64, help_text="The system or column as the source names it ('A', 'T2J')")
    metric = models.CharField(max_length=64)
    value = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["source", "section", "metric", "sample_key", "arm"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "section", "sample_key", "arm", "metric"], name="one_published_figure_per_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.section} {self.sample_key} {self.arm} {self.metric} = {self.value}"


# ---------------------------------------------------------------------------------------------------------
# Experiments: the paper's protocol as a record (evaluate/experiment.py runs it, experiment_report.py reports it).
# ---------------------------------------------------------------------------------------------------------


class PromptMode(models.TextChoices):
    STANDARD = "standard", "Standard prompt"
    T2J_ALL = "t2j-all", "T2J, all shared fix steps (the paper)"
    T2J_RELEVANT = "t2j-relevant", "T2J, the k most relevant steps"
    T2J_CATEGORIES = "t2j-categories", "T2J, steps of chosen error categories"
    IMPORTED = "imported", "Imported drafts (not drafted here)"


class Experiment(models.Model):
    """Samples, arms and the reference of one experiment; `spec` is the JSON it was created from, as given.

    `reference` is 'verified' (each sample's human-verified code) or the name of the system whose translations
    similarity metrics score against (the paper's CodeBLEU: 'groundtruth_before_fix'). `state` holds what the
    verify step found per translation, so a resumed run skips what is checked. `report` is the report as the last
    step (or a rebuild) left it: the page reads it, never builds it.
    """

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    sample_keys = models.JSONField(default=list, help_text="The selected samples, in order")
    reference = models.CharField(max_length=100, default="verified")
    metrics = models.JSONField(default=list, help_text="Registry metric names, and 'comparison'")
    published_source = models.CharField(max_length=64, blank=True)
    published_section = models.CharField(max_length=64, blank=True)
    published_arms = models.JSONField(default=dict, blank=True, help_text="{published arm label: our arm name}")
    copy_threshold = models.FloatField(default=0.5)
    judge_model = models.CharField(max_length=200, blank=True, help_text="Empty: OPENAI_MODEL")
    spec = models.JSONField(default=dict)
    state = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="The report as last built (its page reads it)")
    report_built_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"experiment {self.name}"


class ExperimentArm(models.Model):
    """One arm: a system (model, temperature, token budget live on it) and the prompt mode it drafts with."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField()
    name = models.SlugField(max_length=40)
    system = models.ForeignKey("annotate.System", on_delete=models.PROTECT, related_name="experiment_arms")
    prompt_mode = models.CharField(max_length=20, choices=PromptMode.choices)
    relevant_k = models.PositiveSmallIntegerField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="one_arm_name_per_experiment")]

    def __str__(self) -> str:
        return f"{self.experiment.name}/{self.name}"
