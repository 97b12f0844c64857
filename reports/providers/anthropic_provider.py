"""Anthropic's Messages API, streamed, on the official ``anthropic`` SDK.

The event stream: ``message_start`` (input tokens), content block deltas (the text),
``message_delta`` (output tokens so far: cumulative, so the last one counts, never a
sum), ``message_stop``, ``ping``; an ``error`` event (``overloaded_error``...) can
arrive mid-stream. A stream that ends without ``message_stop`` was cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import anthropic

from reports.domain.config import config
from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    PermanentError,
    ProviderError,
    TransientError,
    Usage,
    continuation_messages,
)
from reports.providers.http_errors import (
    refused_error,
    retry_after_seconds,
    short,
    status_error,
    transport_error,
    truncated_error,
)
from reports.providers.sdk import (
    SDKCompletionStream,
    SDKProvider,
    http_client,
)
from reports.providers.sse import loads, sse_events

NAME = "Anthropic"
# Error types Anthropic sends (in a body or mid-stream) that are worth retrying.
EPHEMERAL = {"type": "ephemeral"}
# Breakpoints on the user message's stable parts (the system prompt has one more).
MAX_PREFIX_BREAKPOINTS = 3
TRANSIENT_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicStream(SDKCompletionStream):
    def __init__(self, provider: AnthropicProvider, request: CompletionRequest) -> None:
        super().__init__(model=request.model, timeouts=provider.timeouts, secret=provider.api_key)
        self.provider = provider
        self.request = request

    def _open(self) -> Any:
        request = self.request
        caching = config().anthropic_prompt_caching
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": user_content(request, caching=caching)},
                         *continuation_messages(request)],
            "stream": True,
        }
        if request.system:
            params["system"] = (
                [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
                if caching else request.system
            )
        if request.output is not None:
            # Structured output: one tool whose input is the stage's data, and the model
            # made to call it; its input streams as ``input_json_delta``.
            params["tools"] = [{
                "name": request.output.name,
                "description": request.output.description or "The stage's answer.",
                "input_schema": request.output.schema,
            }]
            params["tool_choice"] = {"type": "tool", "name": request.output.name}
        messages = self.provider.client().messages
        if config().lean_streaming:
            # The raw HTTP response, its body not yet read (closed by ``close``).
            return messages.with_streaming_response.create(**params).__enter__()
        return messages.create(**params)

    def _lean_events(self, response: Any) -> Iterator[dict[str, Any]]:
        """The events as orjson dicts from the raw body (no pydantic object per event)."""
        for _, data in sse_events(response.http_response.iter_bytes()):
            event = loads(data)
            if isinstance(event, dict):
                if event.get("type") == "error":
                    raise _stream_error(event.get("error") or {})
                yield event

    def _deltas(self, sdk_stream: Any) -> Iterator[str]:
        """Text deltas from the SDK's events or (lean) plain dicts of the same shape."""
        events = self._lean_events(sdk_stream) if config().lean_streaming else sdk_stream
        tokens_in: int | None = None
        tokens_out: int | None = None
        cached = written = 0
        stopped = False
        stop_reason = ""
        for event in events:
            self.touch()
            kind = _field(event, "type") or ""
            if kind == "message_start":
                message = _field(event, "message")
                self.model = _field(message, "model") or self.model
                usage = _field(message, "usage")
                tokens_in = _input_tokens(usage)
                tokens_out = _field(usage, "output_tokens")
                cached, written = _cache_tokens(usage, cached, written)
            elif kind == "content_block_delta":
                delta = _field(event, "delta")
                # Text, or (structured output) the forced tool's input as JSON.
                text = _field(delta, "text") or _field(delta, "partial_json")
                if text:
                    yield text
            elif kind == "message_delta":
                stop_reason = _field(_field(event, "delta"), "stop_reason") or stop_reason
                usage = _field(event, "usage")
                # Cumulative counts: the latest replaces, it is not added.
                tokens_out = _field(usage, "output_tokens")
                if _field(usage, "input_tokens") is not None:
                    tokens_in = _input_tokens(usage)
                cached, written = _cache_tokens(usage, cached, written)
            elif kind == "message_stop":
                stopped = True
        if tokens_in is not None and tokens_out is not None:
            self.usage = Usage(tokens_in, tokens_out, tokens_cached=cached,
                               tokens_cache_write=written)
        if not stopped:
            raise TransientError("the stream ended before the model finished", kind="stream_cut")
        if stop_reason == "max_tokens":
            raise truncated_error(self.request.max_tokens)
        if stop_reason == "refusal":
            raise refused_error(NAME)

    def _map_error(self, exc: Exception) -> ProviderError:
        return map_anthropic_error(
            exc, mid_stream=self.response_started, structured=self.request.output is not None
        )


def user_content(request: CompletionRequest, *, caching: bool) -> Any:
    """The user message: with caching, its stable parts as text blocks that each end a
    cache breakpoint (with the system's, at most the 4 Anthropic allows), then the rest."""
    prefix = "\n\n".join(request.prefix_parts)
    if not caching or not request.prefix_parts or not request.prompt.startswith(prefix):
        return request.prompt
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": part, "cache_control": EPHEMERAL}
        for part in request.prefix_parts[:MAX_PREFIX_BREAKPOINTS]
    ]
    for part in request.prefix_parts[MAX_PREFIX_BREAKPOINTS:]:
        blocks.append({"type": "text", "text": part})
    rest = request.prompt[len(prefix):].strip()
    if rest:
        blocks.append({"type": "text", "text": rest})
    return blocks


def _field(value: Any, name: str) -> Any:
    """``value.name`` of an SDK object, or ``value[name]`` of a lean path's dict."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _stream_error(error: dict[str, Any]) -> ProviderError:
    """An ``error`` event inside a 200 stream, as the SDK path maps it."""
    error_type = str(error.get("type") or "")
    message = str(error.get("message") or error_type)
    if error_type == "overloaded_error":
        return TransientError(f"{NAME} is overloaded (overloaded_error mid-stream)",
                              kind="overloaded")
    if error_type in TRANSIENT_TYPES:
        kind = "rate_limited" if error_type == "rate_limit_error" else "server_error"
        return TransientError(f"{NAME} reported {error_type} mid-stream", kind=kind)
    return PermanentError(f"{NAME} stopped the stream: {short(message)}", kind="bad_request")


def _cache_tokens(usage: Any, cached: int, written: int) -> tuple[int, int]:
    """Cache reads and writes, where this usage says (later events repeat them)."""
    read = _field(usage, "cache_read_input_tokens")
    created = _field(usage, "cache_creation_input_tokens")
    return (cached if read is None else int(read), written if created is None else int(created))


def _input_tokens(usage: Any) -> int:
    # Every input token: uncached, read from the cache and written to it.
    return sum(
        int(_field(usage, name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def map_anthropic_error(
    exc: Exception, *, mid_stream: bool, structured: bool = False
) -> ProviderError:
    """Our error (transient or permanent, with a stable kind) for an SDK exception;
    ``structured``: the request forced a tool."""
    if isinstance(exc, anthropic.APIStatusError):
        error_type = getattr(exc, "type", None) or ""
        message = getattr(exc, "api_message", None) or exc.message
        lowered = str(message).lower()
        if structured and exc.status_code == 400 and ("tool" in lowered or "schema" in lowered):
            return PermanentError(f"{NAME} refused the forced tool: {short(message)}",
                                  kind="schema_refused")
        if exc.status_code < 400:
            # An ``error`` event inside a 200 stream.
            return _stream_error({"type": error_type, "message": message})
        if error_type == "overloaded_error" or exc.status_code == 529:
            return TransientError(f"{NAME} is overloaded (HTTP {exc.status_code})",
                                  kind="overloaded", retry_after=retry_after_seconds(
                                      exc.response.headers))
        return status_error(exc.status_code, str(message), exc.response.headers, provider=NAME)
    if isinstance(exc, anthropic.APITimeoutError):
        return TransientError(f"{NAME} did not answer in time", kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        if mid_stream:
            return TransientError("the connection to the model dropped mid-stream",
                                  kind="stream_cut")
        return TransientError(f"could not reach {NAME} ({short(str(exc.__cause__ or exc))})",
                              kind="connection")
    return transport_error(exc, mid_stream=mid_stream, provider=NAME) or TransientError(
        f"the model's stream failed ({type(exc).__name__})", kind="stream_cut"
    )


class AnthropicProvider(SDKProvider):
    """Messages from ``ANTHROPIC_BASE_URL`` (default: api.anthropic.com)."""

    name = "anthropic"
    default_model = "claude-sonnet-4-5"
    key_field = "anthropic_api_key"
    url_field = "anthropic_base_url"
    default_base_url = "https://api.anthropic.com"
    _client: anthropic.Anthropic | None = None

    @property
    def supports_structured_output(self) -> bool:  # type: ignore[override]
        """``ANTHROPIC_STRUCTURED_OUTPUT`` (on by default)."""
        return config().anthropic_structured_output

    def configuration_errors(self) -> list[str]:
        problems = []
        if self.base_url:
            parsed = urlparse(self.base_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                problems.append(f"ANTHROPIC_BASE_URL {self.base_url!r} is not an http(s) URL.")
        if not self.api_key:
            problems.append("LLM_PROVIDER is 'anthropic' but ANTHROPIC_API_KEY is not set.")
        return problems

    def client(self) -> anthropic.Anthropic:
        """One SDK client per provider (thread-safe); built on first use."""
        if self._client is None:
            self._client = anthropic.Anthropic(
                api_key=self.api_key,
                base_url=self.base_url or None,
                max_retries=0,  # the engine retries, with backoff and Retry-After
                timeout=self.timeouts.httpx(),
                http_client=http_client(self.timeouts),
            )
        return self._client

    def stream(self, request: CompletionRequest) -> CompletionStream:
        problems = self.configuration_errors()
        if problems:
            raise PermanentError(problems[0], kind="config")
        return AnthropicStream(self, request)
