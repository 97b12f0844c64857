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

from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    PermanentError,
    ProviderError,
    TransientError,
    Usage,
)
from reports.providers.sdk import (
    SDKCompletionStream,
    SDKProvider,
    http_client,
    short,
    status_error,
    transport_error,
)

NAME = "Anthropic"
# Error types Anthropic sends (in a body or mid-stream) that are worth retrying.
TRANSIENT_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicStream(SDKCompletionStream):
    def __init__(self, provider: AnthropicProvider, request: CompletionRequest) -> None:
        super().__init__(model=request.model, timeouts=provider.timeouts, secret=provider.api_key)
        self.provider = provider
        self.request = request

    def _open(self) -> Any:
        request = self.request
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
            "stream": True,
        }
        if request.system:
            params["system"] = request.system
        return self.provider.client().messages.create(**params)

    def _deltas(self, sdk_stream: Any) -> Iterator[str]:
        tokens_in: int | None = None
        tokens_out: int | None = None
        stopped = False
        for event in sdk_stream:
            self.touch()
            kind = getattr(event, "type", "")
            if kind == "message_start":
                message = event.message
                self.model = getattr(message, "model", "") or self.model
                tokens_in = _input_tokens(message.usage)
                tokens_out = getattr(message.usage, "output_tokens", None)
            elif kind == "content_block_delta":
                text = getattr(event.delta, "text", None)
                if text:
                    yield text
            elif kind == "message_delta":
                usage = event.usage
                # Cumulative counts: the latest replaces, it is not added.
                tokens_out = usage.output_tokens
                if getattr(usage, "input_tokens", None) is not None:
                    tokens_in = _input_tokens(usage)
            elif kind == "message_stop":
                stopped = True
        if tokens_in is not None and tokens_out is not None:
            self.usage = Usage(tokens_in, tokens_out)
        if not stopped:
            raise TransientError("the stream ended before the model finished", kind="stream_cut")

    def _map_error(self, exc: Exception) -> ProviderError:
        return map_anthropic_error(exc, mid_stream=self.response_started)


def _input_tokens(usage: Any) -> int:
    # Cache writes and reads are input too (priced alike here: we do not use caching).
    return sum(
        int(getattr(usage, name, None) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


def map_anthropic_error(exc: Exception, *, mid_stream: bool) -> ProviderError:
    """Our error (transient or permanent, with a stable kind) for an SDK exception."""
    if isinstance(exc, anthropic.APIStatusError):
        error_type = getattr(exc, "type", None) or ""
        message = getattr(exc, "api_message", None) or exc.message
        if exc.status_code < 400:
            # An ``error`` event inside a 200 stream.
            if error_type in TRANSIENT_TYPES:
                kind = "rate_limited" if error_type == "rate_limit_error" else "server_error"
                return TransientError(f"{NAME} reported {error_type} mid-stream", kind=kind)
            return PermanentError(f"{NAME} stopped the stream: {short(message)}",
                                  kind="bad_request")
        if error_type == "overloaded_error" and exc.status_code < 500:
            return TransientError(f"{NAME} is overloaded", kind="server_error")
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
    key_setting = "ANTHROPIC_API_KEY"
    url_setting = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"
    _client: anthropic.Anthropic | None = None

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
