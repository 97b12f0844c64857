"""System checks: a misconfigured model provider is an error at start-up, not a traceback.

``manage.py check`` (and every ``runserver``/``migrate``) fails with a message naming
the setting to fix: an unknown ``LLM_PROVIDER``, a missing API key, a malformed base
URL, budget or per-stage model list. Messages never include a key.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_llm_provider(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The provider named by ``LLM_PROVIDER`` exists and has what it needs."""
    from reports.providers.base import ProviderError
    from reports.providers.registry import get_provider, reset_cache

    reset_cache()
    try:
        provider = get_provider()
    except ProviderError as exc:
        return [
            Error(
                exc.message,
                hint="Set LLM_PROVIDER to offline, openai or anthropic.",
                id="reports.E001",
            )
        ]
    return [
        Error(problem, hint="See the README's Configuration section.", id="reports.E002")
        for problem in provider.configuration_errors()
    ]


@register()
def check_costs(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``STREAM_BUDGET_USD`` is a positive amount; ``LLM_STAGE_MODELS`` is well formed."""
    errors = []
    budget = settings.STREAM_BUDGET_USD
    if budget:
        try:
            valid = Decimal(str(budget)) > 0
        except InvalidOperation:
            valid = False
        if not valid:
            errors.append(
                Error(
                    f"STREAM_BUDGET_USD {budget!r} is not a positive amount in USD.",
                    hint="Use a number such as 0.50, or leave it empty for no budget.",
                    id="reports.E003",
                )
            )
    for item in filter(None, (part.strip() for part in settings.LLM_STAGE_MODELS.split(","))):
        target, _, model = item.partition("=")
        if ":" not in target or not model.strip():
            errors.append(
                Error(
                    f"LLM_STAGE_MODELS item {item!r} is not 'type:stage=model'.",
                    hint="For example: report:outline=gpt-4o-mini,report:sections=gpt-4o",
                    id="reports.E004",
                )
            )
    return errors
