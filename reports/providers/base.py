"""The provider interface and its error classes.

A provider turns a ``CompletionRequest`` into a ``CompletionStream``: an iterator of
text deltas that exposes ``usage`` once it is exhausted and can be ``close()``d from
another thread (cancel), which must stop the model's stream at once.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reports.domain.config import config

if TYPE_CHECKING:
    from reports.pipelines.structured import OutputSchema


@dataclass(frozen=True)
class Usage:
    """What one call used. ``tokens_in`` counts every input token, cached or not;
    ``tokens_cached`` of them were read from the provider's prompt cache and
    ``tokens_cache_write`` were written to it (Anthropic charges a premium for those)."""

    tokens_in: int
    tokens_out: int
    tokens_cached: int = 0
    tokens_cache_write: int = 0


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    system: str
    # The whole user message; it starts with ``prefix_parts`` (joined by blank lines),
    # the stable part that prompt caches can keep (Anthropic marks each with a
    # cache_control breakpoint).
    prompt: str
    max_tokens: int
    json_output: bool = False
    # The schema the provider must hold the answer to (OpenAI ``response_format``,
    # Anthropic's forced tool). None: free text, or JSON asked for in the prompt.
    output: OutputSchema | None = None
    job_type: str = ""
    stage_key: str = ""
    prefix_parts: tuple[str, ...] = ()
    # One per stream (OpenAI's ``prompt_cache_key``: routes its calls to one cache).
    cache_key: str = ""
    # A deterministic draft of the stage's text, for providers without a model
    # (offline) and fakes; real providers ignore it.
    draft: Callable[[], str] | None = field(default=None, compare=False, repr=False)
    # The offline model's behaviour for this stream (``StreamingJob.offline_model``).
    offline_model: str = ""


_refused_lock = threading.RLock()


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
    # Takes a JSON schema and holds the answer to it (``structured_output`` per model).
    supports_structured_output: bool = False
    default_model: str = ""

    def structured_output(self, model: str) -> bool:
        """Whether a JSON stage on ``model`` sends its schema (else: the fallback,
        instructions plus validation plus re-ask)."""
        if not self.supports_structured_output or config().structured_output_off(model):
            return False
        return model not in self._refused_schema

    def refuse_structured_output(self, model: str) -> None:
        """``model`` refused a schema at run time: this process falls back from now on."""
        with _refused_lock:
            self._refused_schema.add(model)

    @property
    def _refused_schema(self) -> set[str]:
        with _refused_lock:
            found: set[str] | None = self.__dict__.get("_schema_refused_by")
            if found is None:
                found = self.__dict__["_schema_refused_by"] = set()
            return found

    @abc.abstractmethod
    def stream(self, request: CompletionRequest) -> CompletionStream:
        """Start a completion; raises ``ProviderError`` for failures before the first token."""

    def configuration_errors(self) -> list[str]:
        """Problems that stop this provider from working (for the system check)."""
        return []
