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

import httpx
import openai

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
    CONTEXT_LENGTH_MARKS,
    context_length_error,
    filtered_error,
    refused_error,
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
        messages += continuation_messages(request)
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
        if request.cache_key and config().openai_prompt_cache_key:
            # One key per stream: its stages share a prefix (system, brief, outputs).
            params["prompt_cache_key"] = request.cache_key
        if request.output is not None:
            json_schema: dict[str, Any] = {
                "name": request.output.name,
                "schema": request.output.schema,
                "strict": request.output.strict,
            }
            if request.output.description:
                json_schema["description"] = request.output.description
            params["response_format"] = {"type": "json_schema", "json_schema": json_schema}
        completions = self.provider.client().chat.completions
        if config().lean_streaming:
            # The raw HTTP response, its body not yet read (closed by ``close``).
            return completions.with_streaming_response.create(**params).__enter__()
        return completions.create(**params)

    def _deltas(self, sdk_stream: Any) -> Iterator[str]:
        if config().lean_streaming:
            return self._lean_deltas(sdk_stream)
        return self._sdk_deltas(sdk_stream)

    def _lean_deltas(self, response: Any) -> Iterator[str]:
        """The same as ``_sdk_deltas`` from the raw body: orjson dicts, no pydantic."""
        finish_reason = ""
        refusal: list[str] = []
        for _, data in sse_events(response.http_response.iter_bytes()):
            self.touch()
            if data == b"[DONE]":
                break
            chunk = loads(data)
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise _stream_error(chunk["error"])
            if chunk.get("model"):
                self.model = chunk["model"]
            usage = chunk.get("usage")
            if usage:
                details = usage.get("prompt_tokens_details") or {}
                self.usage = Usage(int(usage.get("prompt_tokens") or 0),
                                   int(usage.get("completion_tokens") or 0),
                                   tokens_cached=int(details.get("cached_tokens") or 0))
            for choice in chunk.get("choices") or ():
                if choice.get("finish_reason"):
                    finish_reason = str(choice["finish_reason"])
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    yield text
                if delta.get("refusal"):
                    refusal.append(delta["refusal"])
        self._end(finish_reason, refusal)

    def _sdk_deltas(self, sdk_stream: Any) -> Iterator[str]:
        finish_reason = ""
        refusal: list[str] = []
        for chunk in sdk_stream:
            self.touch()
            if getattr(chunk, "model", None):
                self.model = chunk.model
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                details = getattr(usage, "prompt_tokens_details", None)
                cached = getattr(details, "cached_tokens", None) or 0
                self.usage = Usage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0),
                                   tokens_cached=int(cached))
            for choice in chunk.choices or ():
                if choice.finish_reason:
                    finish_reason = str(choice.finish_reason)
                text = choice.delta.content if choice.delta else None
                if text:
                    yield text
                said_no = getattr(choice.delta, "refusal", None) if choice.delta else None
                if said_no:  # structured output: the model declined, in its own words
                    refusal.append(said_no)
        self._end(finish_reason, refusal)

    def _end(self, finish_reason: str, refusal: list[str]) -> None:
        """How the stream ended, as an error when it did not end well."""
        if refusal:
            raise refused_error(NAME, "".join(refusal))
        if finish_reason == "length":
            raise truncated_error(self.request.max_tokens)
        if finish_reason == "content_filter":
            raise filtered_error(NAME)
        if not finish_reason:
            # A clean end of the body without a finish reason: the stream was cut.
            raise TransientError("the stream ended before the model finished", kind="stream_cut")

    def _map_error(self, exc: Exception) -> ProviderError:
        return map_openai_error(
            exc, mid_stream=self.response_started, structured=self.request.output is not None
        )


def map_openai_error(
    exc: Exception, *, mid_stream: bool, structured: bool = False
) -> ProviderError:
    """Our error (transient or permanent, with a stable kind) for an SDK exception;
    ``structured``: the request carried a JSON schema."""
    if isinstance(exc, openai.APIStatusError):
        detail = _detail(exc)
        if structured and exc.status_code == 400 and refuses_schema(detail):
            return PermanentError(f"{NAME} refused the JSON schema: {short(detail)}",
                                  kind="schema_refused")
        return status_error(exc.status_code, detail, exc.response.headers, provider=NAME)
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
        lowered = str(exc.message).lower()
        if any(mark in lowered for mark in CONTEXT_LENGTH_MARKS):
            return context_length_error(NAME, str(exc.message))
        return TransientError(f"{NAME} reported an error mid-stream: {short(exc.message)}",
                              kind="server_error")
    return transport_error(exc, mid_stream=mid_stream, provider=NAME) or TransientError(
        f"the model's stream failed ({type(exc).__name__})", kind="stream_cut"
    )


def _stream_error(error: Any) -> ProviderError:
    """An error sent inside the stream (``data: {"error": ...}``), as the SDK path maps it."""
    message = str(error.get("message", error) if isinstance(error, dict) else error)
    if any(mark in message.lower() for mark in CONTEXT_LENGTH_MARKS):
        return context_length_error(NAME, message)
    return TransientError(f"{NAME} reported an error mid-stream: {short(message)}",
                          kind="server_error")


def server_context_length(base_url: str, timeout: float) -> int:
    """The context window (tokens per slot) a llama.cpp server reports at ``/props``
    beside its ``/v1`` API; 0 when the server has no such page or says nothing."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        response = httpx.get(f"{root}/props", timeout=min(timeout, 5.0))
        props = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return 0
    settings = props.get("default_generation_settings") or {} if isinstance(props, dict) else {}
    found = settings.get("n_ctx") or (props.get("n_ctx") if isinstance(props, dict) else 0)
    return int(found) if isinstance(found, int) and found > 0 else 0


def refuses_schema(detail: str) -> bool:
    """A 400 that is about ``response_format`` (a server or model without json_schema)."""
    lowered = detail.lower()
    return "response_format" in lowered or "json_schema" in lowered


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
    key_field = "openai_api_key"
    url_field = "openai_base_url"
    default_base_url = "https://api.openai.com/v1"
    _client: openai.OpenAI | None = None
    _server_context: int | None = None  # 0: the server does not say

    @property
    def supports_structured_output(self) -> bool:  # type: ignore[override]
        """``OPENAI_STRUCTURED_OUTPUT`` (on by default)."""
        return config().openai_structured_output

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

    def context_length(self, model: str) -> int | None:
        """``LLM_CONTEXT_TOKENS``, else what a llama.cpp server says in ``GET /props``
        (asked once per provider; another server answers 404 and is not asked again)."""
        if config().context_tokens or self.is_openai or not self.base_url:
            return config().context_tokens or None
        if self._server_context is None:
            self._server_context = server_context_length(self.base_url, self.timeouts.connect)
        return self._server_context or None

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
