"""What a model API's failures mean: HTTP statuses, error bodies and transport errors
turned into our errors (transient or permanent, with a stable kind), and the messages
shortened and scrubbed before they reach a page."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx2

from reports.providers.base import PermanentError, ProviderError, TransientError
from reports.providers.base import truncated_error as truncated_error  # (used from here too)

MESSAGE_LIMIT = 300


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), if present."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secret: str) -> str:
    """``text`` without ``secret`` (an API key) in it."""
    if len(secret) >= 8 and secret in text:
        text = text.replace(secret, "[redacted]")
    return text


def short(text: str) -> str:
    """A server's error message, cut to a length that fits on a card."""
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def transport_error(exc: Exception, *, mid_stream: bool, provider: str) -> ProviderError | None:
    """Our error for an HTTP-level failure the SDK let through unwrapped (or None)."""
    if isinstance(exc, httpx2.TimeoutException):
        return TransientError(f"{provider} did not answer in time", kind="timeout")
    if isinstance(exc, httpx2.TransportError):
        if mid_stream:
            return TransientError("the connection to the model dropped mid-stream",
                                  kind="stream_cut")
        return TransientError(f"could not reach {provider} ({short(str(exc))})",
                              kind="connection")
    return None


# What servers say when a prompt does not fit the model's context window (OpenAI's
# code context_length_exceeded, Anthropic's "prompt is too long", vLLM, Ollama...).
CONTEXT_LENGTH_MARKS = (
    "context_length_exceeded", "maximum context length", "context length", "context window",
    "prompt is too long", "too many tokens", "input is too long",
)
CONTENT_FILTER_MARKS = ("content_filter", "content_policy_violation", "content management policy")


def context_length_error(provider: str, detail: str) -> PermanentError:
    return PermanentError(
        f"the prompt is longer than the model's context window ({provider}: {short(detail)})",
        kind="context_length",
    )


def filtered_error(provider: str, detail: str = "") -> PermanentError:
    said = f": {short(detail)}" if detail else ""
    return PermanentError(f"{provider}'s content filter stopped the answer{said}",
                          kind="content_filtered")


def refused_error(provider: str, detail: str = "") -> PermanentError:
    said = f": {short(detail)}" if detail else ""
    return PermanentError(f"the model refused to answer ({provider}){said}", kind="refused")


def status_error(status: int, detail: str, headers: Any, *, provider: str) -> ProviderError:
    """Our error for an HTTP error status from a model API."""
    lowered = detail.lower()
    if status in (400, 413) and any(mark in lowered for mark in CONTEXT_LENGTH_MARKS):
        return context_length_error(provider, detail)
    if status == 400 and any(mark in lowered for mark in CONTENT_FILTER_MARKS):
        return filtered_error(provider, detail)
    if status == 529 or (status == 503 and "overloaded" in lowered):
        return TransientError(f"{provider} is overloaded (HTTP {status})", kind="overloaded",
                              retry_after=retry_after_seconds(headers))
    if status == 429:
        return TransientError(f"{provider} is rate limiting us (HTTP 429)", kind="rate_limited",
                              retry_after=retry_after_seconds(headers))
    if status >= 500 or status in (408, 409):
        return TransientError(f"{provider} had a server error (HTTP {status})",
                              kind="server_error", retry_after=retry_after_seconds(headers))
    if status in (401, 403):
        # Never echo the body: some servers quote (part of) the key back.
        return PermanentError(f"{provider} refused the API key (HTTP {status})", kind="auth")
    return PermanentError(f"{provider} rejected the request (HTTP {status}): {short(detail)}",
                          kind="bad_request")
