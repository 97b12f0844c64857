"""OpenAI and every server that speaks its chat-completions API (Ollama, vLLM, llama.cpp
server, LM Studio, OpenRouter), on the official ``openai`` SDK.

Streams with ``stream_options={"include_usage": True}``: the last chunk carries usage
and no choices. It never arrives when the stream is cut, and some servers never send
it; usage then stays None and the engine records an estimate marked as such. The SDK
does not retry (our engine owns retries) and every time limit is ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import openai

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

NAME = "OpenAI"
# Sent when OPENAI_BASE_URL points at a server that wants no key (Ollama, llama.cpp).
NO_KEY = "no-key"


class OpenAIStream(SDKCompletionStream):
    def __init__(self, provider: OpenAIProvider, request: CompletionRequest) -> None:
        super().__init__(model=request.model, timeouts=provider.timeouts, secret=provider.api_key)
        self.provider = provider
        self.request = request

    def _open(self) -> Any:
        request = self.request
        messages: list[Any] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        # OpenAI's newer models refuse ``max_tokens``; other servers may not know
        # ``max_completion_tokens``.
        limit = "max_completion_tokens" if self.provider.is_openai else "max_tokens"
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            limit: request.max_tokens,
        }
        return self.provider.client().chat.completions.create(**params)

    def _deltas(self, sdk_stream: Any) -> Iterator[str]:
        finished = False
        for chunk in sdk_stream:
            self.touch()
            if getattr(chunk, "model", None):
                self.model = chunk.model
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.usage = Usage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0))
            for choice in chunk.choices or ():
                if choice.finish_reason:
                    finished = True
                text = choice.delta.content if choice.delta else None
                if text:
                    yield text
        if not finished:
            # A clean end of the body without a finish reason: the stream was cut.
            raise TransientError("the stream ended before the model finished", kind="stream_cut")

    def _map_error(self, exc: Exception) -> ProviderError:
        return map_openai_error(exc, mid_stream=self.response_started)


def map_openai_error(exc: Exception, *, mid_stream: bool) -> ProviderError:
    """Our error (transient or permanent, with a stable kind) for an SDK exception."""
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, _detail(exc), exc.response.headers, provider=NAME)
    if isinstance(exc, openai.APITimeoutError):
        return TransientError(f"{NAME} did not answer in time", kind="timeout")
    if isinstance(exc, openai.APIConnectionError):
        if mid_stream:
            return TransientError("the connection to the model dropped mid-stream",
                                  kind="stream_cut")
        return TransientError(f"could not reach {NAME} ({short(str(exc.__cause__ or exc))})",
                              kind="connection")
    if isinstance(exc, openai.APIError):
        # An error sent inside the stream (``data: {"error": ...}``).
        return TransientError(f"{NAME} reported an error mid-stream: {short(exc.message)}",
                              kind="server_error")
    return transport_error(exc, mid_stream=mid_stream, provider=NAME) or TransientError(
        f"the model's stream failed ({type(exc).__name__})", kind="stream_cut"
    )


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)


class OpenAIProvider(SDKProvider):
    """Chat completions from ``OPENAI_BASE_URL`` (default: api.openai.com)."""

    name = "openai"
    default_model = "gpt-4o-mini"
    key_setting = "OPENAI_API_KEY"
    url_setting = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    _client: openai.OpenAI | None = None

    @property
    def is_openai(self) -> bool:
        host = urlparse(self.base_url).hostname if self.base_url else "api.openai.com"
        return host == "api.openai.com"

    def configuration_errors(self) -> list[str]:
        problems = []
        if self.base_url:
            parsed = urlparse(self.base_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                problems.append(
                    f"OPENAI_BASE_URL {self.base_url!r} is not an http(s) URL "
                    "(for Ollama: http://localhost:11434/v1)."
                )
        if not self.api_key and self.is_openai:
            problems.append(
                "LLM_PROVIDER is 'openai' but OPENAI_API_KEY is not set. Set it, or point "
                "OPENAI_BASE_URL at a server that needs no key (Ollama, llama.cpp)."
            )
        return problems

    def client(self) -> openai.OpenAI:
        """One SDK client per provider (thread-safe); built on first use."""
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self.api_key or NO_KEY,
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
        return OpenAIStream(self, request)
