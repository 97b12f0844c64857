"""The offline provider: deterministic text, no network, streamed at a set rate.

It streams each stage's *draft* (composed from the inputs and earlier stages by the
pipeline) so the whole product works without a model. ``OFFLINE_FAULTS`` injects
failures for demos and tests: a comma-separated list of ``stage:fault[:n]`` where
fault is ``429``, ``500``, ``cut`` (stream dropped half-way), ``length`` (stopped
half-way at the output limit, as a model that runs on), ``timeout``, ``auth``,
``badrequest`` or ``invalid`` (malformed output), each the first ``n`` times (default
1), or ``slow`` (stream ``n`` times slower). A call that continues an answer cut off at
the limit streams the rest of the draft.

A stream may carry its own behaviour (``StreamingJob.offline_model``, set from the
``X-Offline-Model`` header where ``OFFLINE_MODEL_HEADER`` allows it): ``rate=400
faults=outline:auth:1`` replaces the settings' speed and faults for that stream alone, so
one server can run a fast stream, a slow one and a failing one side by side (demos and
tests; docs/failures-and-recovery.md, "Fault injection").
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from reports.domain.config import config
from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    PermanentError,
    Provider,
    TransientError,
    Usage,
    rough_tokens,
    truncated_error,
)

TOKEN_RE = re.compile(r"\S+\s*|\s+")
TICK_SECONDS = 0.05


count_tokens = rough_tokens


@dataclass
class Fault:
    stage: str
    kind: str
    count: int


def parse_faults(spec: str) -> list[Fault]:
    """Parse ``OFFLINE_FAULTS``; raises ValueError with a readable message."""
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise ValueError(f"OFFLINE_FAULTS item {item!r} is not 'stage:fault[:n]'")
        stage, kind = parts[0], parts[1]
        if kind not in {"429", "500", "cut", "length", "timeout", "auth", "badrequest", "invalid",
                        "slow"}:
            raise ValueError(f"OFFLINE_FAULTS: unknown fault {kind!r} in {item!r}")
        try:
            count = int(parts[2]) if len(parts) == 3 else 1
        except ValueError:
            message = f"OFFLINE_FAULTS: the count in {item!r} must be a whole number"
            raise ValueError(message) from None
        faults.append(Fault(stage, kind, count))
    return faults


@dataclass(frozen=True)
class OfflineBehaviour:
    """How the offline model streams: tokens per second and the faults to inject."""

    rate: float
    faults: tuple[Fault, ...] = ()


def parse_offline_model(spec: str, *, default_rate: float) -> OfflineBehaviour:
    """Parse ``"rate=400 faults=outline:auth:1,sections:slow:3"`` (items separated by
    spaces or ``;``, both optional); raises ValueError with a readable message."""
    rate = default_rate
    faults: tuple[Fault, ...] = ()
    for item in filter(None, re.split(r"[;\s]+", spec.strip())):
        name, sep, value = item.partition("=")
        if name == "rate" and sep:
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(f"offline model: rate {value!r} is not a number") from None
            if not 0 < rate < float("inf"):
                raise ValueError("offline model: rate must be a number above 0")
        elif name == "faults" and sep:
            faults = tuple(parse_faults(value))
        else:
            raise ValueError(f"offline model: {item!r} is not rate=<n> or faults=<list>")
    return OfflineBehaviour(rate, faults)


class OfflineStream(CompletionStream):
    _clock = staticmethod(time.monotonic)

    def __init__(self, text: str, *, tokens_in: int, rate: float, cut_after: int | None = None,
                 limit: int | None = None):
        self._text = text
        self._tokens_in = tokens_in
        self._rate = max(rate, 0.01)  # (a rate of 0 is a configuration error)
        self._cut_after = cut_after
        self._limit = limit  # with ``cut_after``: stopped at this output limit, not dropped
        self._closed = threading.Event()
        self.model = "offline"

    def __iter__(self) -> Iterator[str]:
        tokens = TOKEN_RE.findall(self._text)
        # A cut stream sends exactly its first part, however fast it streams.
        limit = len(tokens) if self._cut_after is None else self._cut_after
        # Paced by the clock, like a model server sending at its own rate: a consumer
        # that wakes late gets what was "sent" meanwhile instead of slowing the model.
        # Each tick sends what the rate allows by then (2.5 tokens a tick at 50/s: 2, 3).
        started = self._clock()
        sent, tick = 0, 0
        while sent < limit:
            tick += 1
            if self._closed.wait(max(0.0, started + tick * TICK_SECONDS - self._clock())):
                return
            due = min(limit, int(round(tick * TICK_SECONDS * self._rate, 6)))
            if due > sent:
                yield "".join(tokens[sent:due])
                sent = due
        if self._cut_after is not None and self._limit is not None:
            self.usage = Usage(self._tokens_in, count_tokens("".join(tokens[:limit])))
            raise truncated_error(self._limit)
        if self._cut_after is not None:
            raise TransientError("The model's stream was cut off mid-way.", kind="stream_cut")
        self.usage = Usage(self._tokens_in, count_tokens(self._text))

    def close(self) -> None:
        self._closed.set()


class OfflineProvider(Provider):
    name = "offline"
    default_model = "offline"

    def __init__(self, *, rate: float, faults: list[Fault] | None = None):
        self.rate = rate
        self.faults = faults or []
        # How often each fault fired: per stage and kind, and per stream for the
        # streams that bring their own faults.
        self._fired: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> OfflineProvider:
        return cls(
            rate=config().offline_tokens_per_second, faults=parse_faults(config().offline_faults)
        )

    def configuration_errors(self) -> list[str]:
        errors = []
        if not config().offline_tokens_per_second > 0:
            errors.append("OFFLINE_TOKENS_PER_SECOND must be a number above 0.")
        try:
            parse_faults(config().offline_faults)
        except ValueError as exc:
            errors.append(str(exc))
        return errors

    def behaviour(self, request: CompletionRequest) -> tuple[OfflineBehaviour, str]:
        """The speed and faults for ``request``: its stream's own, else the settings';
        and the scope its faults are counted in (the stream, or the whole process)."""
        if request.offline_model:
            # Checked when the stream was created (services.create_streaming_job).
            own = parse_offline_model(request.offline_model, default_rate=self.rate)
            return own, request.cache_key
        return OfflineBehaviour(self.rate, tuple(self.faults)), ""

    def _take_fault(self, faults: tuple[Fault, ...], scope: str, stage: str) -> Fault | None:
        with self._lock:
            for fault in faults:
                if fault.stage != stage:
                    continue
                if fault.kind == "slow":
                    return fault
                fired = self._fired.get((scope, stage, fault.kind), 0)
                if fired < fault.count:
                    self._fired[(scope, stage, fault.kind)] = fired + 1
                    return fault
        return None

    def stream(self, request: CompletionRequest) -> CompletionStream:
        text = request.draft() if request.draft else "(offline model: no draft for this stage)"
        if request.continue_from:
            # The rest of the draft after the answer so far (a continuation).
            done = request.continue_from
            text = text[len(done):] if text.startswith(done) else text
        tokens_in = count_tokens(request.system) + count_tokens(request.prompt)
        behaviour, scope = self.behaviour(request)
        rate = behaviour.rate
        fault = self._take_fault(behaviour.faults, scope, request.stage_key)
        if fault is not None:
            if fault.kind == "429":
                raise TransientError(
                    "The model is rate limited (429).", kind="rate_limited", retry_after=1.0
                )
            if fault.kind == "500":
                raise TransientError("The model's server failed (500).", kind="server_error")
            if fault.kind == "timeout":
                raise TransientError("The model did not answer in time.", kind="timeout")
            if fault.kind == "auth":
                raise PermanentError("The model refused the API key (401).", kind="auth")
            if fault.kind == "badrequest":
                raise PermanentError("The model rejected the request (400).", kind="bad_request")
            if fault.kind == "invalid":
                text = "This is not the JSON that was asked for."
            if fault.kind == "slow":
                rate = rate / max(1, fault.count)
            if fault.kind == "length":
                return OfflineStream(
                    text, tokens_in=tokens_in, rate=rate,
                    cut_after=len(TOKEN_RE.findall(text)) // 2, limit=request.max_tokens,
                )
            if fault.kind == "cut":
                return OfflineStream(
                    text, tokens_in=tokens_in, rate=rate, cut_after=len(TOKEN_RE.findall(text)) // 2
                )
        return OfflineStream(text, tokens_in=tokens_in, rate=rate)
