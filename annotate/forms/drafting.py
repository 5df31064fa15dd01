"""The form an admin uses to define an LLM drafting system."""

from __future__ import annotations

from django import forms

from annotate.models import System, SystemMode


class LLMSystemForm(forms.ModelForm):
    """Name, model, prompt mode (standard or t2j), temperature and prompt token budget of a drafting system."""

    mode = forms.ChoiceField(
        choices=[(SystemMode.STANDARD, "standard prompt"), (SystemMode.T2J, "t2j: standard plus the bug-fix dataset")]
    )
    temperature = forms.FloatField(min_value=0.0, max_value=2.0, initial=0.0)
    # Below a few hundred tokens not even the task text fits.
    token_budget = forms.IntegerField(
        required=False, min_value=500, help_text="Prompt token budget; empty uses T2J_PROMPT_TOKEN_BUDGET"
    )

    class Meta:
        model = System
        fields = ["name", "mode", "model", "temperature", "token_budget", "notes"]
