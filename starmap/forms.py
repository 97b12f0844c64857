"""The starmap form: made from ``StarmapInput``, so it validates as the API does
(amounts such as "$50,000" included: the model reads them)."""

from __future__ import annotations

from django import forms

from reports.web.forms import JobForm
from starmap.pipeline import StarmapInput


class StarmapJobForm(JobForm):
    schema = StarmapInput
    review_points = {
        "objectives": "Let me review the learning objectives before the rest is planned"
    }
    labels = {
        "title": "Starmap title",
        "size": "Organisation size",
        "roles_audiences": "Roles and audiences",
        "performance_gaps": "Current performance gaps",
    }
    # Examples where the help text gives none (timeline, budget and delivery have one).
    placeholders = {
        "title": "e.g. Service excellence",
        "organisation": "e.g. Northwind Health",
        "industry": "e.g. Healthcare",
        "roles_audiences": "e.g. Front-desk staff (120)\nTeam leads (15)",
        "business_goals": "e.g. Raise patient satisfaction from 72% to 85% by year end.",
        "performance_gaps": "e.g. Staff do not know the new booking system.",
        "constraints": "e.g. No overtime budget; shifts run 24/7.",
    }
    help_texts = {
        "roles_audiences": "Who is this for? One role or group a line, with rough head counts.",
        "business_goals": "What the organisation wants to achieve, with numbers if any.",
        "performance_gaps": "What people do today versus what the goals need.",
        "timeline": "For example: pilot in Q1, everyone trained by Q3.",
        "budget": "A positive amount, e.g. 50,000 (leave empty if there is none yet).",
        "delivery_preferences": (
            "For example: remote first, no more than two hours a week, mobile friendly."
        ),
    }
    widgets = {
        "roles_audiences": forms.Textarea(attrs={"rows": 3}),
        "business_goals": forms.Textarea(attrs={"rows": 3}),
        "performance_gaps": forms.Textarea(attrs={"rows": 3}),
        "budget": forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        "constraints": forms.Textarea(attrs={"rows": 2}),
        "delivery_preferences": forms.Textarea(attrs={"rows": 2}),
    }
