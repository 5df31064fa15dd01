"""Judgements people and LLMs make about translations: blind pairwise comparisons and 0-4 scores.

Both are append-only: a vote or a score is never edited; a new one is added.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotate.models import AppendOnlyModel, Sample, Translation


class Verdict(models.TextChoices):
    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"
    BOTH_BAD = "both-bad"  # counts as a tie in scores


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

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(judge_user__isnull=False) | ~Q(judge_model=""), name="comparison_has_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"comparison {self.pk} on {self.sample_id}: {self.verdict}"


class Aspect(models.TextChoices):
    USEFULNESS = "usefulness"
    FUNCTIONAL_CORRECTNESS = "functional-correctness"


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

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=4), name="judgement_score_0_4"),
            models.CheckConstraint(
                condition=Q(judge_user__isnull=False) | ~Q(judge_model=""), name="judgement_has_judge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aspect} {self.score} for {self.translation_id}"
