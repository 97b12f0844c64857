"""The starmap form: the same rules as the API's input schema, with readable errors.

Django's form fields strip whitespace (so a blank answer is a missing one), enforce the
model's max lengths and choices, and mark ``maxlength`` on the inputs.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms

from starmap.models import BUDGET_MAX, StarmapJob

# "$50,000", "50 000 €", "EUR 12000.50": people type amounts in many ways.
_AMOUNT_NOISE = re.compile(r"[\s,_'$€£]|\b(USD|EUR|GBP|CHF|CAD|AUD)\b", re.IGNORECASE)


class AmountField(forms.DecimalField):
    """A positive amount; thousands separators and currency signs are ignored."""

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if isinstance(value, str):
            value = _AMOUNT_NOISE.sub("", value)
        return super().to_python(value)


class StarmapJobForm(forms.ModelForm[StarmapJob]):
    budget = AmountField(
        required=False,
        min_value=Decimal("0.01"),
        max_value=BUDGET_MAX,
        max_digits=12,
        decimal_places=2,
        error_messages={
            "min_value": "Enter a positive amount.",
            "invalid": "Enter an amount, e.g. 50,000.",
        },
        help_text="A positive amount, e.g. 50,000 (leave empty if there is none yet).",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    class Meta:
        model = StarmapJob
        fields = [
            "title", "organisation", "industry", "size", "roles_audiences", "business_goals",
            "performance_gaps", "timeline", "budget", "currency", "constraints",
            "delivery_preferences",
        ]
        widgets = {
            "roles_audiences": forms.Textarea(attrs={"rows": 3}),
            "business_goals": forms.Textarea(attrs={"rows": 3}),
            "performance_gaps": forms.Textarea(attrs={"rows": 3}),
            "constraints": forms.Textarea(attrs={"rows": 2}),
            "delivery_preferences": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"title": "Starmap title"}
