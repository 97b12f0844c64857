"""The client-report form: made from ``ReportInput``, so it validates as the API does."""

from __future__ import annotations

from django import forms

from reports.client_report.pipeline import ReportInput
from reports.web.forms import JobForm


class ReportJobForm(JobForm):
    schema = ReportInput
    labels = {"client": "Client / organisation"}
    review_points = {"outline": "Let me review the outline before the sections are written"}
    widgets = {
        "objective": forms.Textarea(attrs={"rows": 3}),
        "context_notes": forms.Textarea(attrs={"rows": 4}),
        "constraints": forms.Textarea(attrs={"rows": 2}),
    }
    placeholders = {
        "title": "e.g. Customer retention plan",
        "client": "e.g. Acme Ltd",
        "objective": "e.g. Reduce customer churn by 20% within a year, starting with onboarding.",
        "audience": "e.g. the board, the head of customer success",
        "context_notes": "e.g. Churn rose from 8% to 12% after the price change in March.",
        "constraints": "e.g. No new hires this year; decisions by the end of Q2.",
    }
    help_texts = {
        "objective": "What should the report help the client decide or do?",
        "context_notes": "Anything the writer should know: history, numbers, names.",
    }
