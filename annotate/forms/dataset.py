"""Forms of the dataset pages: the upload to import and the export choice."""

from __future__ import annotations

from django import forms
from django.conf import settings

from annotate.dataset.reading import key_problem
from annotate.models import Difficulty


class DatasetUploadForm(forms.Form):
    file = forms.FileField(help_text="T2J JSON (the paper's format) or our JSONL")
    system = forms.CharField(
        required=False,
        max_length=100,
        help_text="System holding LLM_weak_output (T2J only; default weak-llm): an existing one or a new name",
        widget=forms.TextInput(attrs={"list": "known-systems"}),
    )
    format = forms.ChoiceField(choices=[("auto", "detect"), ("t2j", "T2J JSON"), ("jsonl", "JSONL")], initial="auto")
    model = forms.CharField(
        required=False, max_length=200, help_text="Model that wrote the drafts, e.g. gpt-4o-mini (empty: unknown)"
    )
    origin = forms.CharField(
        required=False, max_length=100, help_text="Where new samples come from, e.g. TorchLeet (empty: unknown)"
    )
    difficulty = forms.ChoiceField(
        required=False,
        choices=[("", "from the key (e1, m3, h10)"), *Difficulty.choices],
        help_text="Of new samples; their title is the first docstring or comment line of their PyTorch code",
    )
    replace = forms.BooleanField(required=False, help_text="Overwrite records that differ (old sessions are abandoned)")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.T2J_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(f"The file is {upload.size:,} bytes, over the import limit of {limit:,} bytes.")
        return upload

    def clean_system(self) -> str:
        system = self.cleaned_data["system"].strip()
        if system and (problem := key_problem(system)):
            raise forms.ValidationError(f"The system name {problem}.")
        return system


class DatasetExportForm(forms.Form):
    format = forms.ChoiceField(choices=[("t2j", "T2J JSON"), ("jsonl", "JSONL")])
    system = forms.CharField(required=False, max_length=100)
