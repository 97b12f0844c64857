"""Language-model providers: one interface (stream text deltas, then usage)."""

from __future__ import annotations

from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    PermanentError,
    Provider,
    ProviderError,
    TransientError,
    Usage,
)
from reports.providers.registry import get_provider, override_provider

__all__ = [
    "CompletionRequest",
    "CompletionStream",
    "PermanentError",
    "Provider",
    "ProviderError",
    "TransientError",
    "Usage",
    "get_provider",
    "override_provider",
]
