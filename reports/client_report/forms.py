"""The client-report form."""

from __future__ import annotations

from django import forms

from reports.models import ReportJob


class ReportJobForm(forms.ModelForm[ReportJob]):
    class Meta:
        model = ReportJob
        fields = ["title", "client", "objective", "audience", "context_notes", "constraints"]
        widgets = {
            "objective": forms.Textarea(attrs={"rows": 3}),
            "context_notes": forms.Textarea(attrs={"rows": 4}),
            "constraints": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "objective": "What should the report help the client decide or do?",
            "context_notes": "Anything the writer should know: history, numbers, names.",
        }

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        for name, value in cleaned.items():
            if isinstance(value, str):
                cleaned[name] = value.strip()
        for required in ("title", "client", "objective"):
            if required in cleaned and not cleaned[required]:
                self.add_error(required, "This field cannot be blank.")
        return cleaned
