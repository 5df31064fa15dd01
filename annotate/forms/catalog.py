"""Forms of the sample page: a sample's run settings (limits, stand-in counts) and attaching a data file."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator

from annotate.models import Sample
from annotate.sandbox.inputs import MAX_STANDIN_EXAMPLES


class SampleRunSettingsForm(forms.ModelForm):
    """Raise a sample's time limits up to the operator maxima, set its stand-in example counts; empty: defaults."""

    class Meta:
        model = Sample
        fields = ["wall_limit_s", "cpu_limit_s", "standin_train_examples", "standin_test_examples"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        bounds = {
            "wall_limit_s": (0.1, settings.T2J_RUN_MAX_WALL_S),
            "cpu_limit_s": (1, settings.T2J_RUN_MAX_CPU_S),
            "standin_train_examples": (1, MAX_STANDIN_EXAMPLES),
            "standin_test_examples": (1, MAX_STANDIN_EXAMPLES),
        }
        for name, (low, high) in bounds.items():
            field = self.fields[name]
            field.widget.attrs.update(min=low, max=high)
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]


class SampleFileForm(forms.Form):
    file = forms.FileField(allow_empty_file=True)
    name = forms.CharField(
        required=False,
        max_length=200,
        help_text="Path in the working folder, e.g. data/train.csv; empty: the file's name",
    )

    def chosen_name(self) -> str:
        return self.cleaned_data["name"].strip() or self.cleaned_data["file"].name
