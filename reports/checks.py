"""System checks: a misconfigured model provider is an error at start-up, not a traceback."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register


@register()
def check_llm_provider(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from reports.providers.base import ProviderError
    from reports.providers.registry import get_provider, reset_cache

    reset_cache()
    try:
        provider = get_provider()
    except ProviderError as exc:
        return [Error(exc.message, hint="Set LLM_PROVIDER to offline, openai or anthropic.",
                      id="reports.E001")]
    return [
        Error(problem, hint="See the README's Configuration section.", id="reports.E002")
        for problem in provider.configuration_errors()
    ]
