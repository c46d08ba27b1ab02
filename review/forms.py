from typing import Any

from django import forms

from review.models import ReviewRound, Scope, Tier, Verdict


class IssueKeyForm(forms.Form):
    # One-time token: reloading the result page must not issue a second live key.
    nonce = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(
        max_length=100, required=False, help_text="What this key is for, e.g. 'prod proxy'."
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.INGEST],
    )


class LabelForm(forms.Form):
    verdict = forms.ChoiceField(choices=Verdict.choices, widget=forms.RadioSelect)
    right_tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(),
        to_field_name="name",
        required=False,
        empty_label="suggested by the verdict",
        help_text="Left blank: one tier down for cheaper, one up for stronger, the served tier "
        "for correct.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )


class OpenRoundForm(forms.ModelForm):
    class Meta:
        model = ReviewRound
        fields = [
            "week_start",
            "size",
            "per_kind_cap",
            "sample_size",
            "labels_per_item",
            "lock_minutes",
        ]
        widgets = {"week_start": forms.DateInput(attrs={"type": "date"})}


class ProposeForm(forms.Form):
    max_should_be_stronger = forms.DecimalField(
        label="Max. share should be stronger (%)",
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial=1,
        help_text="The share of labelled queries the proposal may send below their right tier.",
    )


class PolicyRulesForm(forms.Form):
    rules = forms.JSONField(widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))
    note = forms.CharField(max_length=500, required=False, help_text="Why this version.")


class ReplayForm(forms.Form):
    since = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            self.add_error("until", "must be later than since")
        return data


class ActivateForm(forms.Form):
    note = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this version goes live; kept with the version.",
    )
