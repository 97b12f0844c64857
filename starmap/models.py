"""The starmap job: a learning-needs analysis for an organisation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse

from reports.domain.limits import JOB_FIELD_MAX_LENGTH
from reports.models import BaseJob

LIMIT = JOB_FIELD_MAX_LENGTH
ORGANISATION_MAX = 200
INDUSTRY_MAX = 120
ROLES_MAX = 2000
TIMELINE_MAX = 300
DELIVERY_MAX = 1000
# The largest budget a starmap accepts (12 digits, 2 decimals in the database).
BUDGET_MAX = Decimal("9999999999.99")


class OrganisationSize(models.TextChoices):
    MICRO = "1-49", "1-49 people"
    SMALL = "50-249", "50-249 people"
    MEDIUM = "250-999", "250-999 people"
    LARGE = "1000-4999", "1,000-4,999 people"
    ENTERPRISE = "5000+", "5,000 people or more"


class Currency(models.TextChoices):
    USD = "USD", "USD"
    EUR = "EUR", "EUR"
    GBP = "GBP", "GBP"
    CHF = "CHF", "CHF"
    CAD = "CAD", "CAD"
    AUD = "AUD", "AUD"


class StarmapJob(BaseJob):
    """Who needs to learn what, why, how it is delivered and measured, when, for how much."""

    organisation = models.CharField(max_length=ORGANISATION_MAX)
    industry = models.CharField(max_length=INDUSTRY_MAX)
    size = models.CharField(
        "organisation size", max_length=16, choices=OrganisationSize.choices
    )
    roles_audiences = models.TextField(
        "roles and audiences",
        max_length=ROLES_MAX,
        help_text="Who is this for? One role or group a line, with rough head counts.",
    )
    business_goals = models.TextField(
        max_length=LIMIT, help_text="What the organisation wants to achieve, with numbers if any."
    )
    performance_gaps = models.TextField(
        "current performance gaps",
        max_length=LIMIT,
        help_text="What people do today versus what the goals need.",
    )
    constraints = models.TextField(max_length=LIMIT, blank=True)
    timeline = models.CharField(
        max_length=TIMELINE_MAX, help_text="For example: pilot in Q1, everyone trained by Q3."
    )
    budget = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="A positive amount (leave empty if there is none yet).",
    )
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    delivery_preferences = models.TextField(
        max_length=DELIVERY_MAX,
        blank=True,
        help_text="For example: remote first, no more than two hours a week, mobile friendly.",
    )

    job_type = "starmap"
    input_fields = (
        "organisation",
        "industry",
        "size",
        "roles_audiences",
        "business_goals",
        "performance_gaps",
        "constraints",
        "timeline",
        "budget",
        "currency",
        "delivery_preferences",
    )

    class Meta(BaseJob.Meta):
        verbose_name = "starmap"

    def get_absolute_url(self) -> str:
        return reverse("starmap:job_detail", args=[self.pk])

    def input_data(self) -> dict[str, Any]:
        """The snapshot for a stream: JSON-safe (the budget as a string, or None)."""
        data = super().input_data()
        data["budget"] = None if self.budget is None else f"{self.budget:.2f}"
        return data
