"""Forms of the fix workspace: they only parse and validate; annotate.fixlog decides."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator

from annotate.fixlog import MAX_ERROR_CHARS, MAX_FIX_INFO_CHARS
from annotate.models import Difficulty, StepCategory
from annotate.roles import DEVELOPER

MAX_CODE_CHARS = 1024 * 1024  # the sandbox refuses larger programs anyway


class QueueFilterForm(forms.Form):
    """Only these named filters are read from the query string (no free-form ORM lookups)."""

    system = forms.SlugField(required=False, max_length=100)
    origin = forms.CharField(required=False, max_length=100)
    difficulty = forms.ChoiceField(required=False, choices=[("", "any")] + list(Difficulty.choices))

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"system": "", "origin": "", "difficulty": ""}
        return {name: self.cleaned_data[name] or "" for name in ("system", "origin", "difficulty")}


class CodeForm(forms.Form):
    """The editor content and the version it was based on."""

    code = forms.CharField(required=False, strip=False, max_length=MAX_CODE_CHARS, widget=forms.Textarea)
    version = forms.IntegerField(min_value=0, max_value=2**31)

    def clean_code(self) -> str:
        # Browsers submit a textarea with CRLF line breaks; the editor (and its textarea's value) use LF.
        code = self.cleaned_data["code"].replace("\r\n", "\n")
        if "\x00" in code:
            raise forms.ValidationError("The code contains a NUL character.")
        return code


class RunForm(CodeForm):
    kind = forms.ChoiceField(choices=[("jax", "JAX"), ("pytorch", "PyTorch")], initial="jax")


def _at_most(cap: int, label: str, hint: str) -> list[MaxLengthValidator]:
    # A validator, not max_length: max_length also sets the textarea's maxlength, and a browser silently cuts a
    # longer paste there. Refused whole with a message, the text stays in the form to shorten.
    message = f"The {label} is too long: %(show_value)d characters, at most %(limit_value)d; {hint}. Nothing was saved."
    return [MaxLengthValidator(cap, message=message)]


class StepForm(forms.Form):
    error = forms.CharField(
        required=False,
        strip=False,
        validators=_at_most(MAX_ERROR_CHARS, "error message", "keep the lines that show the error"),
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Error message",
    )
    error_code = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}), label="Erroneous code"
    )
    fixed_code = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}), label="Corrected code"
    )
    fix_info = forms.CharField(
        validators=_at_most(MAX_FIX_INFO_CHARS, "fix description", "describe the fix in a few sentences"),
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Fix description",
        error_messages={"required": "Describe the fix: the fix description is required."},
    )
    category = forms.ChoiceField(required=False, choices=[("", "(suggest)")] + list(StepCategory.choices))
    # The run the error comes from (the template renders the picker of the runs since the last step), or none.
    run = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    no_error = forms.BooleanField(required=False, label="No error: behaviour change")
    # The category the page pre-selected for the person: left as it is, the step takes the suggestion for what
    # the form holds when sent (the error may have been edited since), not a stale one as the person's choice.
    suggested = forms.CharField(required=False, max_length=30, widget=forms.HiddenInput)


class RetractForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class RestoreForm(forms.Form):
    """Setting the code back: to the draft, or to the code after `step`; `version` is what the person saw."""

    version = forms.IntegerField(min_value=0, max_value=2**31)
    step = forms.IntegerField(required=False, min_value=1)
    confirm = forms.TypedChoiceField(
        choices=[("yes", "yes")], coerce=lambda value: value == "yes", required=False, empty_value=False
    )


class VerifyForm(forms.Form):
    confirmed = forms.BooleanField(
        required=False, label="I confirm the output matches the PyTorch program (same results, same behaviour)."
    )


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(), label="Reassign to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            get_user_model().objects.filter(groups__name=DEVELOPER, is_active=True).order_by("username")
        )
