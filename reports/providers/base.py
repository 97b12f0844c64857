"""The provider interface and its error classes.

A provider turns a ``CompletionRequest`` into a ``CompletionStream``: an iterator of
text deltas that exposes ``usage`` once it is exhausted and can be ``close()``d from
another thread (cancel), which must stop the model's stream at once.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Usage:
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    system: str
    prompt: str
    max_tokens: int
    json_output: bool = False
    job_type: str = ""
    stage_key: str = ""
    # A deterministic draft of the stage's text, for providers without a model
    # (offline) and fakes; real providers ignore it.
    draft: Callable[[], str] | None = field(default=None, compare=False, repr=False)


class ProviderError(Exception):
    """A model call that went wrong. ``kind`` is short and stable (for analytics)."""

    transient = False

    def __init__(self, message: str, *, kind: str = "error", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after


class TransientError(ProviderError):
    """Worth retrying: 429, 5xx, timeouts, a stream cut mid-way."""

    transient = True


class PermanentError(ProviderError):
    """Retrying will not help: bad credentials, bad request, a missing model."""


class CompletionStream(abc.ABC):
    """An iterator of text deltas; ``usage`` is set once it ends (None if unknown)."""

    usage: Usage | None = None
    model: str = ""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[str]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the stream now (may be called from another thread)."""


class Provider(abc.ABC):
    name: str = ""
    # Capability flags, in the manner of simonw/llm.
    supports_usage: bool = True
    default_model: str = ""

    @abc.abstractmethod
    def stream(self, request: CompletionRequest) -> CompletionStream:
        """Start a completion; raises ``ProviderError`` for failures before the first token."""

    def configuration_errors(self) -> list[str]:
        """Problems that stop this provider from working (for the system check)."""
        return []
