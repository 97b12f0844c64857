"""A provider for tests: scripted replies and failures, and a history of every call."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    Provider,
    ProviderError,
    Usage,
)
from reports.providers.offline import TOKEN_RE, count_tokens


@dataclass
class Call:
    request: CompletionRequest
    stream: FakeStream | None = None


class FakeStream(CompletionStream):
    def __init__(
        self,
        text: str,
        *,
        tokens_in: int,
        chunk_tokens: int,
        delay: float,
        fail_after: ProviderError | None,
        usage: bool,
        gate: threading.Event | None,
    ):
        self.text = text
        self.tokens_in = tokens_in
        self.chunk_tokens = chunk_tokens
        self.delay = delay
        self.fail_after = fail_after
        self.report_usage = usage
        self.gate = gate
        self.closed = threading.Event()
        self.sent = ""
        self.model = "fake"

    def __iter__(self) -> Iterator[str]:
        tokens = TOKEN_RE.findall(self.text)
        for start in range(0, len(tokens), self.chunk_tokens):
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    if self.closed.is_set():
                        return
            if self.closed.wait(self.delay) if self.delay else self.closed.is_set():
                return
            if self.fail_after is not None and start >= len(tokens) // 2:
                raise self.fail_after
            chunk = "".join(tokens[start : start + self.chunk_tokens])
            self.sent += chunk
            yield chunk
        if self.report_usage:
            self.usage = Usage(self.tokens_in, count_tokens(self.text))

    def close(self) -> None:
        self.closed.set()


@dataclass
class Script:
    """What the fake does for one call of a stage."""

    text: str | None = None  # None: stream the stage's draft
    error: ProviderError | None = None  # raised before the first token
    fail_mid_stream: ProviderError | None = None
    usage: bool = True
    gate: threading.Event | None = None  # the stream waits for this before each chunk
    delay: float | None = None  # seconds between chunks for this call (None: the provider's)


@dataclass
class FakeProvider(Provider):
    """Replays drafts (or scripted text) and records every request in ``history``."""

    name: str = "fake"
    default_model: str = "fake-model"
    delay: float = 0.0
    chunk_tokens: int = 8
    history: list[Call] = field(default_factory=list)
    scripts: dict[str, deque[Script]] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, stage_key: str, *scripts: Script) -> None:
        """Queue what the next calls for ``stage_key`` do (then: stream the draft)."""
        self.scripts[stage_key].extend(scripts)

    def calls_for(self, stage_key: str) -> list[Call]:
        return [call for call in self.history if call.request.stage_key == stage_key]

    @property
    def stage_keys(self) -> list[str]:
        return [call.request.stage_key for call in self.history]

    def stream(self, request: CompletionRequest) -> CompletionStream:
        with self.lock:
            call = Call(request)
            self.history.append(call)
            queue = self.scripts.get(request.stage_key)
            script = queue.popleft() if queue else Script()
        if script.error is not None:
            raise script.error
        text = script.text
        if text is None:
            text = request.draft() if request.draft else f"Fake output for {request.stage_key}."
        stream = FakeStream(
            text,
            tokens_in=count_tokens(request.system) + count_tokens(request.prompt),
            chunk_tokens=self.chunk_tokens,
            delay=self.delay if script.delay is None else script.delay,
            fail_after=script.fail_mid_stream,
            usage=script.usage,
            gate=script.gate,
        )
        stream.model = request.model
        call.stream = stream
        return stream
