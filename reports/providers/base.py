"""The provider interface and its error classes.

A provider turns a ``CompletionRequest`` into a ``CompletionStream``: an iterator of
text deltas that exposes ``usage`` once it is exhausted and can be ``close()``d from
another thread (cancel), which must stop the model's stream at once.
"""

from __future__ import annotations

import abc
import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    # The answer so far, when this call continues one cut off at its output limit: the
    # model goes on from its last word (a local model and Anthropic take it as the start
    # of their answer; OpenAI-compatible servers are asked to continue it).
    continue_from: str = ""
    # A deterministic draft of the stage's text, for providers without a model
    # (offline) and fakes; real providers ignore it.
    draft: Callable[[], str] | None = field(default=None, compare=False, repr=False)
    # The offline model's behaviour for this stream (``StreamingJob.offline_model``).
    offline_model: str = ""


@functools.cache
def continue_instruction() -> str:
    """What a chat API is told after the answer it is asked to continue (a prompt file)."""
    return (Path(__file__).resolve().parent / "prompts" / "continue.txt").read_text().strip()


def continuation_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    """The messages that follow the user's, for a call that continues ``continue_from``:
    the answer so far (the model's own turn), then the request to go on ([] otherwise)."""
    if not request.continue_from:
        return []
    return [{"role": "assistant", "content": request.continue_from},
            {"role": "user", "content": continue_instruction()}]


_refused_lock = threading.RLock()


class ProviderError(Exception):
    """A model call that went wrong. ``kind`` is short and stable (for analytics)."""

    transient = False

    def __init__(self, message: str, *, kind: str = "error", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after


def truncated_error(max_tokens: int) -> PermanentError:
    """The model stopped at its output limit: the answer is cut off (the engine continues
    a prose answer, and asks for a shorter JSON one)."""
    return PermanentError(
        f"the answer was cut off at the output limit of {max_tokens} tokens", kind="truncated"
    )


class TransientError(ProviderError):
    """Worth retrying: 429, 5xx, timeouts, a stream cut mid-way."""

    transient = True


class PermanentError(ProviderError):
    """Retrying will not help: bad credentials, bad request, a missing model."""


class CompletionStream(abc.ABC):
    """An iterator of text deltas; ``usage`` is set once it ends (None if unknown).
    ``on_wait``, when the caller sets it, is told (in words) that the stream waits for
    the model before it can start (a local model busy with another stage)."""

    usage: Usage | None = None
    model: str = ""
    on_wait: Callable[[str], None] | None = None

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
    # Runs one model whatever a stage asks for (a local GGUF file): ``default_model``.
    serves_one_model: bool = False
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

    def context_length(self, model: str) -> int | None:
        """The model's context window in tokens: ``LLM_CONTEXT_TOKENS``, None if unknown
        (providers that can ask the model or its server do)."""
        return config().context_tokens or None

    def count_tokens(self, text: str) -> int:
        """``text``'s length in tokens (an estimate unless the provider has a tokenizer)."""
        return rough_tokens(text)


def rough_tokens(text: str) -> int:
    """A rough token count (about four characters a token), the same everywhere."""
    return max(1, (len(text) + 3) // 4) if text else 0
