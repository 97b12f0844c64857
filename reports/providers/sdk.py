"""What the SDK-based providers share: a cancellable HTTP stream and its time limits.

A model call runs on a stage thread that blocks in ``recv``. To stop it at once
(cancel, or a time limit) we shut the socket down from another thread, which wakes the
blocked read; closing the file descriptor alone would not. The socket is captured with
httpcore's ``trace`` extension when the connection is made, so cancel works before the
response headers arrive too (a model loading, a long first-token wait). Connections
are not kept alive for the same reason: every call makes (and owns) its connection,
which costs one handshake per stage, nothing next to minutes of generation.

One watchdog thread per process enforces the first-token, idle and total limits of
every open stream; the HTTP read timeout is only a backstop.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

import httpx2

from reports.domain.config import config
from reports.providers.base import (
    CompletionStream,
    Provider,
    ProviderError,
    TransientError,
)
from reports.providers.http_errors import redact

logger = logging.getLogger(__name__)

_current = threading.local()


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_token: float
    idle: float
    total: float

    @classmethod
    def from_settings(cls) -> Timeouts:
        return cls(
            connect=config().connect_timeout_seconds,
            first_token=config().first_token_timeout_seconds,
            idle=config().idle_timeout_seconds,
            total=config().total_timeout_seconds,
        )

    def httpx(self) -> httpx2.Timeout:
        # The watchdog enforces the real limits; the read timeout only backs it up.
        backstop = max(self.first_token, self.idle) + 5.0
        return httpx2.Timeout(connect=self.connect, read=backstop, write=self.connect,
                              pool=self.connect)


class _TracingTransport(httpx2.HTTPTransport):
    """Hands each new connection's socket to the stream that is being opened."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        stream = getattr(_current, "stream", None)
        if stream is not None:
            request.extensions = {**request.extensions, "trace": stream._trace}
        return super().handle_request(request)


def http_client(timeouts: Timeouts) -> httpx2.Client:
    """An HTTP client for one provider: no keep-alive, so each call owns its socket."""
    return httpx2.Client(
        transport=_TracingTransport(limits=httpx2.Limits(max_keepalive_connections=0)),
        timeout=timeouts.httpx(),
        follow_redirects=True,
    )



class SDKProvider(Provider):
    """A provider on a vendor SDK: its key and base URL from settings, our timeouts."""

    # The ``Config`` fields that hold its key and base URL.
    key_field = ""
    url_field = ""
    default_base_url = ""

    def __init__(self, *, api_key: str, base_url: str, timeouts: Timeouts) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeouts = timeouts

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url or self.default_base_url!r})"

    @classmethod
    def from_settings(cls) -> Self:
        """The provider as the settings describe it (does not fail on a bad config)."""
        return cls(
            api_key=getattr(config(), cls.key_field),
            base_url=getattr(config(), cls.url_field),
            timeouts=Timeouts.from_settings(),
        )


class SDKCompletionStream(CompletionStream, abc.ABC):
    """A completion whose HTTP request starts on first iteration and stops on ``close``.

    Subclasses implement ``_open`` (make the SDK call, return its stream object),
    ``_deltas`` (turn it into text, setting ``usage``) and ``_map_error``.
    """

    def __init__(self, *, model: str, timeouts: Timeouts, secret: str = "") -> None:
        self.model = model
        self.usage = None
        self.timeouts = timeouts
        self._secret = secret
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._sdk_stream: Any = None
        self._timed_out = ""
        self.started = time.monotonic()
        self.first_text_at: float | None = None
        self.last_activity = self.started
        self.received_text = False

    # --- the SDK-specific parts -------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> Any:
        """Send the request; returns the SDK's stream (raises the SDK's errors)."""

    @abc.abstractmethod
    def _deltas(self, sdk_stream: Any) -> Iterator[str]:
        """Text deltas from the SDK's stream; sets ``self.usage`` when it is known."""

    @abc.abstractmethod
    def _map_error(self, exc: Exception) -> ProviderError:
        """Our error for one of the SDK's."""

    # --- iteration --------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        if self._closed.is_set():
            return
        watchdog.watch(self)
        try:
            _current.stream = self
            try:
                sdk_stream = self._open()
            finally:
                _current.stream = None
            with self._lock:
                self._sdk_stream = sdk_stream
            if self._closed.is_set():
                return
            for delta in self._deltas(sdk_stream):
                if self._closed.is_set():
                    return
                self.last_activity = time.monotonic()
                if delta:
                    if self.first_text_at is None:
                        self.first_text_at = self.last_activity
                    self.received_text = True
                    yield delta
        except ProviderError as exc:
            if self._closed.is_set():
                return
            raise self._timeout_error() or self._scrubbed(exc) from None
        except Exception as exc:
            if self._closed.is_set():
                return  # we closed it: the read error is ours, not the model's
            raise self._timeout_error() or self._scrubbed(self._map_error(exc)) from exc
        finally:
            watchdog.unwatch(self)
            self._close_response()

    @property
    def response_started(self) -> bool:
        """The server answered 200 and began streaming (a failure now is a cut)."""
        return self._sdk_stream is not None

    def touch(self) -> None:
        """Something arrived (a ping, an empty chunk): the model is not idle."""
        self.last_activity = time.monotonic()

    def close(self) -> None:
        """Stop now, from any thread: the server sees the connection close at once."""
        self._closed.set()
        self._abort_socket()
        self._close_response()

    # --- limits -----------------------------------------------------------------
    def overdue(self, now: float) -> str:
        """Which time limit this stream has passed ("" if none)."""
        t = self.timeouts
        if now - self.started > t.total:
            return f"the model took longer than the total limit of {t.total:g} s"
        if self.first_text_at is None:
            if now - self.started > t.first_token:
                return f"no text from the model within {t.first_token:g} s"
        elif now - self.last_activity > t.idle:
            return f"the model went silent for more than {t.idle:g} s"
        return ""

    def expire(self, reason: str) -> None:
        """Called by the watchdog: remember why, then cut the connection."""
        self._timed_out = reason
        self._abort_socket()

    def _timeout_error(self) -> TransientError | None:
        return TransientError(self._timed_out, kind="timeout") if self._timed_out else None

    # --- sockets and responses --------------------------------------------------
    def _trace(self, event: str, info: dict[str, Any]) -> None:
        network_stream = info.get("return_value")
        if event == "connection.connect_tcp.complete":
            sock = network_stream.get_extra_info("socket") if network_stream else None
            with self._lock:
                self._sock = sock
            if self._closed.is_set() or self._timed_out:
                self._abort_socket()
        tcp_or_tls = {"connection.connect_tcp.complete", "connection.start_tls.complete"}
        if event in tcp_or_tls and network_stream is not None:
            self._pace_reads(network_stream)

    def _pace_reads(self, network_stream: Any) -> None:
        """Read the connection at most once per ``read_interval_seconds``.

        Deltas are published once per coalescing window anyway, so a socket read per
        token is work nobody sees (a wake-up, a ``recv``, httpcore's and h11's calls):
        between reads the kernel keeps the bytes and the next read takes them all (a
        model at 50 tokens/s: 2-3 tokens a read, not one; a fast one: dozens). A slow
        model is not slowed down, as the time a read waits for bytes counts toward the
        interval; cancel ends a pause at once. Both the lean and the SDK paths read
        through here (httpcore's network stream; the TLS one for https).
        """
        interval = config().read_interval_seconds
        if interval <= 0:
            return
        read = network_stream.read
        last = 0.0

        def paced_read(max_bytes: int, timeout: float | None = None) -> bytes:
            nonlocal last
            pause = last + interval - time.monotonic()
            if pause > 0:
                self._closed.wait(pause)  # a cancel reads at once (the socket is shut)
            last = time.monotonic()
            data: bytes = read(max_bytes, timeout)
            return data

        network_stream.read = paced_read

    def _abort_socket(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is None:
            return
        # shutdown (not close) wakes a thread blocked in recv on this socket.
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    def _close_response(self) -> None:
        with self._lock:
            sdk_stream = self._sdk_stream
        if sdk_stream is None:
            return
        try:
            sdk_stream.close()
        except Exception:  # a half-closed connection may complain; it is closed now
            logger.debug("Closing a model stream raised", exc_info=True)

    def _scrubbed(self, error: ProviderError) -> ProviderError:
        """The same error with the API key removed from its message, just in case."""
        message = redact(error.message, self._secret)
        if message == error.message:
            return error
        return type(error)(message, kind=error.kind, retry_after=error.retry_after)


class Watchdog:
    """One thread per process that expires streams past their time limits."""

    INTERVAL = 0.05

    def __init__(self) -> None:
        self._streams: set[SDKCompletionStream] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, stream: SDKCompletionStream) -> None:
        with self._lock:
            self._streams.add(stream)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="llm-watchdog",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def unwatch(self, stream: SDKCompletionStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _run(self) -> None:
        while True:
            with self._lock:
                streams = list(self._streams)
            if not streams:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            now = time.monotonic()
            for stream in streams:
                reason = stream.overdue(now)
                if reason:
                    self.unwatch(stream)
                    stream.expire(reason)
            time.sleep(self.INTERVAL)


watchdog = Watchdog()
