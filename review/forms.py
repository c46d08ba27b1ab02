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
