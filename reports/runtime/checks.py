"""System checks: a misconfigured site is an error at start-up, not a traceback.

``manage.py check`` (and every ``runserver``/``migrate``) fails with a message naming
the setting to fix: an unknown ``LLM_PROVIDER``, a missing API key, a malformed base
URL, budget or per-stage model list, a runner backend that cannot be loaded. They read
the same parsed settings as the code (``reports.domain.config``). Messages never
include a key.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from reports.domain.config import config
from reports.providers import ProviderError, get_provider
from reports.providers.registry import reset_cache
from reports.runtime.runners.base import backend_class

HINTS = {
    "STREAM_BUDGET_USD": "Use a number such as 0.50, or leave it empty for no budget.",
    "LLM_STAGE_MODELS": "For example: report:outline=gpt-4o-mini,report:sections=gpt-4o",
    "LLM_PRICING": 'For example: "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"), '
    'Decimal("0.075"), Decimal("0.15")).',
    "LLM_PRICES": 'For example: LLM_PRICES="my-model=0.5/1.5,other=1/2/0.1/1.25" (USD per '
    "million tokens: input/output[/cached input[/cache write]]).",
    "LLM_OUTPUT_LIMITS": "For example: report:sections=800,starmap:learners=400",
}
IDS = {"STREAM_BUDGET_USD": "reports.E003", "LLM_STAGE_MODELS": "reports.E004"}


@register()
def check_llm_provider(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The provider named by ``LLM_PROVIDER`` exists and has what it needs."""
    reset_cache()
    try:
        provider = get_provider()
    except ProviderError as exc:
        return [
            Error(
                exc.message,
                hint="Set LLM_PROVIDER to offline, local, openai or anthropic.",
                id="reports.E001",
            )
        ]
    return [
        Error(problem, hint="See docs/configuration.md.", id="reports.E002")
        for problem in provider.configuration_errors()
    ]


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every setting the core parses could be parsed (``STREAM_BUDGET_USD``,
    ``LLM_STAGE_MODELS``)."""
    return [
        Error(f"{name} {problem}.", hint=HINTS.get(name, ""), id=IDS.get(name, "reports.E005"))
        for name, problem in config().problems
    ]


@register()
def check_runner(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``STREAM_RUNNER`` names a loadable runner backend."""
    try:
        backend_class(config().stream_runner)
    except (ImportError, TypeError) as exc:
        return [
            Error(
                f"STREAM_RUNNER {config().stream_runner!r} cannot be loaded ({exc}).",
                hint="Use embedded, celery, manual, or the dotted path of a RunnerBackend.",
                id="reports.E006",
            )
        ]
    return []
