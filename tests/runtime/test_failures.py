"""The fault matrix: each error class is retried or fails as specified, through the real
provider interface (the fake provider's scripts and the offline provider's faults)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reports.models import AttemptStatus, Stage, StageAttempt, StageStatus, StreamStatus
from reports.providers import PermanentError, TransientError, override_provider
from reports.providers.fake import FakeProvider, Script
from reports.providers.offline import OfflineProvider, parse_faults
from reports.runtime.engine import run_stream
from reports.runtime.retry import backoff_seconds, max_attempts
from reports.streams.selectors import stream_snapshot
from tests.conftest import RecordedWait

# Stages run on other threads: tests that run streams need real transactions.
streams_db = pytest.mark.django_db(transaction=True)

TRACEBACK_MARKERS = ("Traceback", 'File "', "raise ", "<module>")


def attempts_of(stream: Any, key: str) -> list[StageAttempt]:
    return list(
        StageAttempt.objects.filter(stage__stream=stream, stage__key=key).order_by("number")
    )


def stage(stream: Any, key: str) -> Stage:
    return Stage.objects.get(stream=stream, key=key)


def assert_readable(message: str) -> None:
    assert message
    for marker in TRACEBACK_MARKERS:
        assert marker not in message, f"{marker!r} in {message!r}"


# --- the retry policy ----------------------------------------------------------------


def test_retry_after_is_used_as_the_wait(settings: Any) -> None:
    settings.LLM_BACKOFF_MAX_SECONDS = 30
    assert backoff_seconds(1, retry_after=2.5) == 2.5
    assert backoff_seconds(3, retry_after=0) == 0


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(settings: Any) -> None:
    settings.LLM_BACKOFF_BASE_SECONDS = 1.0
    settings.LLM_BACKOFF_MAX_SECONDS = 8.0
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [backoff_seconds(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered, so many streams do not retry in step


def test_max_attempts_is_bounded_below_by_one(settings: Any) -> None:
    settings.LLM_MAX_ATTEMPTS = 0
    assert max_attempts() == 1


# --- transient errors are retried inside the stage ---------------------------------------


@streams_db
def test_429_waits_for_retry_after_then_succeeds(
    make_stream: Any, fake_provider: FakeProvider, recorded_waits: list[RecordedWait]
) -> None:
    fake_provider.script(
        "brief",
        Script(error=TransientError("Rate limited (429).", kind="rate_limited", retry_after=7.5)),
    )
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    first, second = attempts_of(stream, "brief")
    assert (first.status, first.error_kind) == (AttemptStatus.FAILED, "rate_limited")
    assert second.status == AttemptStatus.SUCCEEDED
    # One wait, for Retry-After (the backoff ceiling in tests is 0.05 s), then the retry.
    [flag] = recorded_waits
    assert flag.timeouts == [7.5]
    assert stage(stream, "brief").attempts == 2


@streams_db
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientError("The model's server failed (500).", kind="server_error"), "server_error"),
        (TransientError("The model did not answer in time.", kind="timeout"), "timeout"),
    ],
)
def test_transient_error_before_the_first_token_is_retried(
    make_stream: Any, fake_provider: FakeProvider, error: TransientError, kind: str
) -> None:
    fake_provider.script("context", Script(error=error), Script(error=error))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    attempts = attempts_of(stream, "context")
    assert [a.status for a in attempts] == [
        AttemptStatus.FAILED,
        AttemptStatus.FAILED,
        AttemptStatus.SUCCEEDED,
    ]
    assert [a.error_kind for a in attempts] == [kind, kind, ""]
    # Nothing streamed, nothing spent: the failed attempts record zero tokens.
    assert [(a.tokens_in, a.tokens_out) for a in attempts[:2]] == [(0, 0), (0, 0)]
    assert attempts[2].tokens_in > 0 and attempts[2].tokens_out > 0
    assert len(fake_provider.calls_for("context")) == 3


@streams_db
def test_stream_cut_mid_way_is_retried_and_its_tokens_are_recorded(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    cut = TransientError("The connection dropped.", kind="stream_cut")
    fake_provider.script("sections", Script(fail_mid_stream=cut))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    failed, succeeded = attempts_of(stream, "sections")
    assert (failed.status, failed.error_kind) == (AttemptStatus.FAILED, "stream_cut")
    # Half a stream arrived and was paid for: estimated, and marked as an estimate.
    assert failed.tokens_out > 0 and failed.tokens_in > 0
    assert failed.usage_known is False
    assert succeeded.usage_known is True
    cut_stream = fake_provider.calls_for("sections")[0].stream
    full_stream = fake_provider.calls_for("sections")[1].stream
    assert cut_stream is not None and full_stream is not None
    # The retry's text replaces the partial text; nothing is doubled.
    saved = stage(stream, "sections")
    assert saved.output == full_stream.text
    assert saved.tokens_out == failed.tokens_out + succeeded.tokens_out
    stream.refresh_from_db()
    assert stream.cost_complete is False  # one attempt's usage was an estimate


@streams_db
def test_transient_errors_stop_after_the_attempt_limit(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_MAX_ATTEMPTS = 3
    error = TransientError("The model's server failed (503).", kind="server_error")
    fake_provider.script("outline", *[Script(error=error)] * 5)
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    outline = stage(stream, "outline")
    assert outline.status == StageStatus.FAILED
    assert outline.attempts == 3
    assert len(fake_provider.calls_for("outline")) == 3
    assert outline.error_kind == "server_error"
    assert "Outline failed after 3 attempts" in outline.error
    assert "Resume" in outline.error
    assert_readable(outline.error)
    # Earlier stages are kept; later ones never ran.
    assert stage(stream, "brief").status == StageStatus.COMPLETED
    assert stage(stream, "sections").status == StageStatus.PENDING
    assert fake_provider.calls_for("sections") == []
    stream.refresh_from_db()
    assert stream.status == StreamStatus.FAILED and stream.is_resumable
    assert stream.error == outline.error


# --- permanent errors fail the stage at once ---------------------------------------------


@streams_db
@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (PermanentError("The model refused the API key (401).", kind="auth"), "API key"),
        (
            PermanentError("The model rejected the request (400).", kind="bad_request"),
            "Check the model name",
        ),
    ],
)
def test_permanent_error_fails_the_stage_at_once_with_advice(
    make_stream: Any, fake_provider: FakeProvider, error: PermanentError, advice: str
) -> None:
    fake_provider.script("context", Script(error=error))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    context = stage(stream, "context")
    assert context.status == StageStatus.FAILED
    assert len(fake_provider.calls_for("context")) == 1
    assert context.attempts == 1
    assert context.error_kind == error.kind
    assert context.error.startswith("Context and assumptions failed after 1 attempt:")
    assert advice in context.error
    assert_readable(context.error)
    (attempt,) = attempts_of(stream, "context")
    assert (attempt.status, attempt.error_kind) == (AttemptStatus.FAILED, error.kind)
    stream.refresh_from_db()
    snapshot = stream_snapshot(stream)
    assert snapshot["is_failed"] and snapshot["error"] == context.error
    stage_row = next(s for s in snapshot["stages"] if s["key"] == "context")
    assert (stage_row["status"], stage_row["error"]) == ("failed", context.error)


@streams_db
def test_output_that_stays_invalid_fails_after_its_reask(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_INVALID_OUTPUT_REASKS = 1
    fake_provider.script("brief", Script(text="Sure! Here it is."), Script(text="{not json"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    brief = stage(stream, "brief")
    assert (brief.status, brief.error_kind, brief.attempts) == ("failed", "invalid_output", 2)
    assert "Retry this stage" in brief.error
    assert_readable(brief.error)
    first, second = fake_provider.calls_for("brief")
    assert "previous answer was rejected" not in first.request.prompt
    assert "previous answer was rejected" in second.request.prompt
    # Invalid answers were paid for: both attempts record their tokens.
    assert all(
        a.tokens_out > 0 and a.error_kind == "invalid_output" for a in attempts_of(stream, "brief")
    )
    assert fake_provider.calls_for("context") == []


@streams_db
def test_invalid_output_then_valid_output_completes(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("outline", Script(text="[]"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert [a.status for a in attempts_of(stream, "outline")] == [
        AttemptStatus.FAILED,
        AttemptStatus.SUCCEEDED,
    ]
    assert isinstance(stage(stream, "outline").data, list)


@streams_db
def test_every_attempt_is_recorded_with_its_tokens(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        "brief", Script(error=TransientError("busy", kind="rate_limited", retry_after=0))
    )
    fake_provider.script(
        "summary", Script(fail_mid_stream=TransientError("cut", kind="stream_cut"))
    )
    stream = make_stream()
    run_stream(stream.pk)
    stream.refresh_from_db()

    attempts = StageAttempt.objects.filter(stage__stream=stream)
    assert attempts.count() == len(fake_provider.history)
    assert all(a.finished_at is not None and a.model for a in attempts)
    for row in Stage.objects.filter(stream=stream).exclude(key="assembly"):
        mine = attempts.filter(stage=row)
        assert row.attempts == mine.count()
        assert row.tokens_in == sum(a.tokens_in for a in mine)
        assert row.tokens_out == sum(a.tokens_out for a in mine)
    assert stream.tokens_out == sum(a.tokens_out for a in attempts)


# --- the offline provider's fault injection ---------------------------------------------


def offline(spec: str) -> OfflineProvider:
    return OfflineProvider(rate=50_000, faults=parse_faults(spec))


@streams_db
def test_offline_faults_are_recovered_from(make_stream: Any) -> None:
    stream = make_stream()
    with override_provider(offline("context:500:2,outline:cut,sections:timeout:1")):
        assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert [a.error_kind for a in attempts_of(stream, "context")] == ["server_error"] * 2 + [""]
    assert [a.error_kind for a in attempts_of(stream, "outline")] == ["stream_cut", ""]
    assert [a.error_kind for a in attempts_of(stream, "sections")] == ["timeout", ""]
    assert attempts_of(stream, "outline")[0].tokens_out > 0


@streams_db
def test_offline_429_honours_its_retry_after(
    make_stream: Any, recorded_waits: list[RecordedWait]
) -> None:
    stream = make_stream()
    with override_provider(offline("brief:429")):
        assert run_stream(stream.pk) == StreamStatus.COMPLETED

    first, second = attempts_of(stream, "brief")
    assert (first.error_kind, second.error_kind) == ("rate_limited", "")
    [flag] = recorded_waits
    assert flag.timeouts == [1.0]  # the offline model's Retry-After, not the backoff


@streams_db
@pytest.mark.parametrize(
    ("spec", "key", "kind", "attempts"),
    [
        ("brief:auth", "brief", "auth", 1),
        ("outline:badrequest", "outline", "bad_request", 1),
        ("outline:invalid:2", "outline", "invalid_output", 2),
    ],
)
def test_offline_permanent_faults_fail_the_stage(
    make_stream: Any, spec: str, key: str, kind: str, attempts: int
) -> None:
    stream = make_stream()
    with override_provider(offline(spec)):
        assert run_stream(stream.pk) == StreamStatus.FAILED

    failed = stage(stream, key)
    assert (failed.status, failed.error_kind, failed.attempts) == ("failed", kind, attempts)
    assert_readable(failed.error)


def test_offline_slow_fault_slows_only_its_stage() -> None:
    from reports.providers import CompletionRequest

    provider = OfflineProvider(rate=4000, faults=parse_faults("summary:slow:4"))

    def chunks_for(key: str) -> int:
        request = CompletionRequest("offline", "", "", 10, stage_key=key, draft=lambda: "w " * 200)
        return len(list(provider.stream(request)))

    # 200 tokens a tick at full rate; a quarter of that when slowed down.
    assert chunks_for("brief") == 1
    assert chunks_for("summary") == 4


@pytest.mark.parametrize(
    ("rate", "chunks"),
    [(50, [2, 3, 2, 3, 2, 3]), (400, [20]), (10, [0, 1, 0, 1, 0, 1])],
)
def test_offline_model_sends_exactly_its_rate(rate: float, chunks: list[int]) -> None:
    """Tokens a tick (50 ms) follow the rate, fractions included: 2.5 a tick at 50/s."""
    from reports.providers.offline import TICK_SECONDS, OfflineStream

    class TickingClock:
        """Moves one tick each time the stream waits for the next: no real sleeping."""

        now = 0.0

        def __call__(self) -> float:
            return self.now

        def wait(self, timeout: float | None = None) -> bool:
            self.now += TICK_SECONDS
            return False  # not closed

    stream = OfflineStream("w " * sum(chunks), tokens_in=1, rate=rate)
    clock = stream._clock = stream._closed = TickingClock()  # type: ignore[assignment]
    assert [len(chunk.split()) for chunk in stream] == [n for n in chunks if n]
    assert clock.now == pytest.approx(len(chunks) * TICK_SECONDS)  # tokens / rate


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("brief", "is not 'stage:fault[:n]'"),
        ("brief:explode", "unknown fault 'explode'"),
        ("brief:429:x", "count"),
    ],
)
def test_bad_fault_specs_are_explained(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_faults(spec)


def test_faults_parse_with_counts() -> None:
    faults = parse_faults(" outline:429:2 , sections:cut ,summary:slow:5")
    assert [(f.stage, f.kind, f.count) for f in faults] == [
        ("outline", "429", 2),
        ("sections", "cut", 1),
        ("summary", "slow", 5),
    ]


def test_an_offline_rate_of_zero_is_a_startup_error(settings: Any) -> None:
    from reports.runtime.checks import check_llm_provider

    settings.LLM_PROVIDER, settings.OFFLINE_TOKENS_PER_SECOND = "offline", 0
    assert [e.msg for e in check_llm_provider()] == [
        "OFFLINE_TOKENS_PER_SECOND must be a number above 0."
    ]
    settings.OFFLINE_TOKENS_PER_SECOND = 50
    assert check_llm_provider() == []


# --- a stream's own offline model (X-Offline-Model) ----------------------------------


def test_a_streams_own_offline_model_parses_rate_and_faults() -> None:
    from reports.providers.offline import parse_offline_model

    own = parse_offline_model("rate=400; faults=outline:auth:1,summary:slow:2", default_rate=90)
    assert own.rate == 400
    assert [(f.stage, f.kind, f.count) for f in own.faults] == [
        ("outline", "auth", 1), ("summary", "slow", 2)
    ]
    assert parse_offline_model("", default_rate=90).rate == 90


@pytest.mark.parametrize(
    ("spec", "message"),
    [("rate=fast", "is not a number"), ("rate=0", "above 0"), ("speed=4", "is not rate=<n>"),
     ("faults=brief", "is not 'stage:fault[:n]'")],
)
def test_a_bad_offline_model_is_explained(spec: str, message: str) -> None:
    from reports.providers.offline import parse_offline_model

    with pytest.raises(ValueError, match=re.escape(message)):
        parse_offline_model(spec, default_rate=90)


@streams_db
def test_a_streams_own_faults_fire_for_it_alone(make_stream: Any) -> None:
    """Faults a stream brings are counted per stream: each stream meets them once, and a
    stream without them runs clean, all on one provider (one server, many tests)."""
    from reports.models import StreamingJob

    with override_provider(OfflineProvider(rate=50_000)):
        streams = [make_stream(title=f"Plan {n}") for n in range(3)]
        StreamingJob.objects.filter(pk__in=[streams[0].pk, streams[1].pk]).update(
            offline_model="rate=50000 faults=outline:auth"
        )
        assert [run_stream(s.pk) for s in streams] == [
            StreamStatus.FAILED, StreamStatus.FAILED, StreamStatus.COMPLETED
        ]
    assert stage(streams[0], "outline").error_kind == "auth"
    assert stage(streams[1], "outline").error_kind == "auth"
