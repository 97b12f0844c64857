"""Which provider the site uses: ``LLM_PROVIDER``, or an override (tests, demos)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module

from reports.domain.config import config
from reports.providers.base import PermanentError, Provider
from reports.providers.offline import OfflineProvider

_factories: dict[str, Callable[[], Provider]] = {}
_override: Provider | None = None
_cache: dict[str, Provider] = {}
_lock = threading.Lock()


def register_provider(name: str, factory: Callable[[], Provider]) -> None:
    _factories[name] = factory


def provider_names() -> list[str]:
    _load_builtins()
    return sorted(_factories)


def get_provider() -> Provider:
    """The provider to call now; raises ``PermanentError`` when misconfigured."""
    if _override is not None:
        return _override
    _load_builtins()
    name = config().llm_provider
    with _lock:
        if name not in _cache:
            factory = _factories.get(name)
            if factory is None:
                raise PermanentError(
                    f"Unknown LLM_PROVIDER {name!r}. Use one of: {', '.join(sorted(_factories))}.",
                    kind="config",
                )
            _cache[name] = factory()
        return _cache[name]


def reset_cache() -> None:
    with _lock:
        _cache.clear()


@contextmanager
def override_provider(provider: Provider) -> Iterator[Provider]:
    """Use ``provider`` for every stage while the block runs (tests, benchmarks)."""
    global _override
    previous, _override = _override, provider
    try:
        yield provider
    finally:
        _override = previous


def _imported_when_used(module: str, class_name: str) -> Callable[[], Provider]:
    """A factory that imports its provider's module (and SDK) on first use only: the
    SDKs take seconds to import, which a site on another provider never needs."""

    def factory() -> Provider:
        provider: Provider = getattr(import_module(module), class_name).from_settings()
        return provider

    return factory


def _load_builtins() -> None:
    if "offline" in _factories:
        return
    register_provider("offline", OfflineProvider.from_settings)
    register_provider(
        "openai", _imported_when_used("reports.providers.openai_provider", "OpenAIProvider")
    )
    register_provider(
        "anthropic",
        _imported_when_used("reports.providers.anthropic_provider", "AnthropicProvider"),
    )
    register_provider(
        "local", _imported_when_used("reports.providers.local_provider", "LocalProvider")
    )
