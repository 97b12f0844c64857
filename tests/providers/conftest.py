"""The project pointed at a local OpenAI- or Anthropic-speaking server for one test."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypeVar

from devtools.llm_servers import AnthropicServer, OpenAIServer
from reports.providers.registry import reset_cache

S = TypeVar("S", OpenAIServer, AnthropicServer)


def serving(
    settings: Any, server: S, *, key: str, model: str, prices: tuple[Decimal, ...] | None = None
) -> Iterator[S]:
    """Start ``server``, make it the provider (``key``, ``model``, priced at ``prices``
    per million tokens if given), and stop it afterwards: ``yield from`` in a fixture."""
    name = "OPENAI" if isinstance(server, OpenAIServer) else "ANTHROPIC"
    server.start()
    settings.LLM_PROVIDER = name.lower()
    setattr(settings, f"{name}_BASE_URL", server.base_url)
    setattr(settings, f"{name}_API_KEY", key)
    settings.LLM_MODEL = model
    if prices is not None:
        settings.LLM_PRICING = {**settings.LLM_PRICING, model: prices}
    reset_cache()
    try:
        yield server
    finally:
        server.stop()
        reset_cache()
