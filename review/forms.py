from django import forms

from review.models import Scope


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
