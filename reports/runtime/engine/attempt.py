"""Calling the model for one stage: transient errors retried with backoff, invalid
output re-asked, deltas coalesced and published, the partial text checkpointed, and
the model's stream closed at once on cancel."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from reports.domain.config import config
from reports.domain.events import EventType
from reports.models import AttemptStatus, Stage, StageAttempt
from reports.pipelines import OutputInvalid, StageSpec
from reports.providers import (
    CompletionRequest,
    CompletionStream,
    ProviderError,
    TransientError,
    Usage,
)
from reports.runtime.engine.db import release_db_connection
from reports.runtime.engine.ledger import AttemptOutcome, Ledger
from reports.runtime.engine.prompts import (
    reask_request,
    shorter_request,
    with_schema_instructions,
)
from reports.runtime.engine.stages import StageSteps
from reports.runtime.engine.state import RunState
from reports.runtime.retry import backoff_seconds, max_attempts

logger = logging.getLogger(__name__)

# The error kind of a provider that refused a stage's JSON schema (HTTP 400).
SCHEMA_REFUSED = "schema_refused"
# An answer cut off at the output limit (finish_reason length, stop_reason max_tokens).
TRUNCATED = "truncated"


class Cancelled(Exception):
    """The stream was cancelled during an attempt; ``args[0]`` is the text so far."""


class AttemptFailed(Exception):
    """A provider error during one attempt, with the text that arrived before it (its
    tokens were paid for, so the attempt records them)."""

    def __init__(self, error: ProviderError, partial: str, usage: Usage | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.partial = partial
        self.usage = usage  # what the provider reported before failing (a truncated answer)


@dataclass
class AttemptResult:
    """What one attempt that ran to its end returned: the text and the usage (if told)."""

    text: str
    usage: Usage | None


@dataclass
class Call:
    """Where a stage's model call stands between attempts: the request to send next, the
    text kept from answers cut off at the limit (the next attempt continues it), and the
    re-asks and continuations left."""

    request: CompletionRequest
    reasks: int
    continuations: int
    prose: bool
    kept: str = ""
    raised_limit: bool = False  # a JSON answer cut off was asked again, shorter
    transient_tries: int = 0


class ModelCall:
    """Runs a stage's model call to its end: as many attempts as the retry policy, the
    re-asks and the continuations allow, each recorded in the ledger, the stage then
    ended by ``steps``. Text that was paid for is never thrown away: a prose answer cut
    off at the output limit is continued, then kept and marked."""

    def __init__(self, state: RunState, ledger: Ledger, steps: StageSteps) -> None:
        self.state = state
        self.held = state.held
        self.ledger = ledger
        self.steps = steps

    def call_model(
        self, stage: Stage, spec: StageSpec, provider: Any, request: CompletionRequest
    ) -> str:
        """Call the model until the stage completes, fails or is cancelled; returns the
        stage's status (its first attempt was counted by ``mark_running``)."""
        call = Call(request, reasks=config().invalid_output_reasks,
                    continuations=config().continuations,
                    prose=not spec.json_output and spec.parse is None)
        counted = True  # by mark_running
        while True:
            if self.held.cancelled.is_set():
                return self.steps.cancel_stage(stage, call.kept or None)
            request = call.request
            attempt = self.ledger.start_attempt(
                stage, request.model, counted=counted, structured=request.output is not None
            )
            counted = False
            try:
                result = self.stream_attempt(stage, provider, request, prefix=call.kept)
            except Cancelled as exc:
                partial = str(exc.args[0]) if exc.args else ""
                self.end(stage, attempt, call, AttemptStatus.CANCELLED, partial)
                return self.steps.cancel_stage(stage, partial)
            except AttemptFailed as failed:
                ended = self.after_failure(stage, provider, attempt, call, failed)
                if ended:
                    return ended
                continue
            try:
                data = spec.parse_text(result.text)
            except OutputInvalid as exc:
                error = ProviderError(str(exc), kind="invalid_output")
                self.end(stage, attempt, call, AttemptStatus.FAILED, result.text, result.usage,
                         error)
                if call.reasks <= 0:
                    return self.steps.fail_stage(
                        stage, "invalid_output", f"the model's answer was not valid: {exc}",
                        stage.attempts,
                    )
                call.reasks -= 1
                self.ledger.count_reask(stage)
                call.request = reask_request(request, str(exc))
                self.retrying(stage, f"output not valid: {exc}", "invalid_output")
                continue
            succeeded = self.outcome(call, AttemptStatus.SUCCEEDED, result.text, result.usage)
            return self.steps.complete_stage(stage, result.text, data, (attempt, succeeded),
                                             cut_off=False)

    def after_failure(
        self, stage: Stage, provider: Any, attempt: StageAttempt, call: Call,
        failed: AttemptFailed,
    ) -> str | None:
        """Record a failed attempt and decide what follows: the stage's status when it
        ends here, None to send ``call.request`` again."""
        error, request = failed.error, call.request
        if error.kind == TRUNCATED and call.prose:
            return self.cut_off(stage, attempt, call, failed)
        self.end(stage, attempt, call, AttemptStatus.FAILED, failed.partial, failed.usage, error)
        if call.kept and not error.transient:
            # A continuation that cannot go on (the context is full, say): keep the text.
            return self.steps.complete_stage(stage, call.kept, None, cut_off=True)
        if error.kind == SCHEMA_REFUSED and request.output is not None:
            # Once per call: the model said no to the schema; ask in the prompt.
            logger.warning(
                "Model %s refused the JSON schema of stage %s (%s); falling back to "
                "instructions and validation", request.model, stage.key, error.message,
            )
            provider.refuse_structured_output(request.model)
            call.request = with_schema_instructions(request, request.output)
            return None
        if error.kind == TRUNCATED and not call.raised_limit:
            # A JSON answer cut off at the limit: once more, shorter, with room to finish.
            call.raised_limit = True
            self.ledger.count_reask(stage)
            call.request = shorter_request(request)
            self.retrying(stage, error.message, error.kind)
            return None
        call.transient_tries += 1
        if not error.transient or call.transient_tries >= max_attempts():
            return self.steps.fail_stage(stage, error.kind, error.message, stage.attempts)
        delay = backoff_seconds(call.transient_tries, error.retry_after)
        self.retrying(stage, error.message, error.kind, delay)
        if self.held.cancelled.wait(delay):
            return self.steps.cancel_stage(stage, call.kept or None)
        return None

    def cut_off(
        self, stage: Stage, attempt: StageAttempt, call: Call, failed: AttemptFailed
    ) -> str | None:
        """A prose answer reached its output limit: go on from where it stopped while
        continuations are left, then keep what it has, marked as cut off."""
        text = failed.partial
        self.end(stage, attempt, call, AttemptStatus.SUCCEEDED, text, failed.usage,
                 failed.error)
        if call.continuations > 0 and text.strip():
            call.continuations -= 1
            call.kept = text
            call.request = replace(call.request, continue_from=text)
            return None
        return self.steps.complete_stage(stage, text, None, cut_off=True)

    def outcome(
        self, call: Call, status: str, text: str, usage: Usage | None = None,
        error: ProviderError | None = None,
    ) -> AttemptOutcome:
        """How an attempt ended; its ``text`` is only what this attempt added."""
        own = text[len(call.kept):] if call.kept and text.startswith(call.kept) else text
        return AttemptOutcome(status=status, request=call.request, text=own, usage=usage,
                              error=error)

    def end(
        self, stage: Stage, attempt: StageAttempt, call: Call, status: str, text: str,
        usage: Usage | None = None, error: ProviderError | None = None,
    ) -> None:
        """Record how an attempt that does not complete the stage ended."""
        self.ledger.end_attempt(stage, attempt, self.outcome(call, status, text, usage, error))

    def retrying(self, stage: Stage, message: str, kind: str, delay: float = 0.0) -> None:
        """Announce that the stage's model is asked again (after ``delay`` seconds)."""
        self.state.emit(
            EventType.STAGE_RETRYING, stage=stage.key, attempt=stage.attempts, error=message,
            error_kind=kind, delay_s=round(delay, 2),
        )

    def stream_attempt(
        self, stage: Stage, provider: Any, request: CompletionRequest, prefix: str = ""
    ) -> AttemptResult:
        """Stream one model call: coalesced deltas out, checkpoints to the database. Its
        text follows ``prefix`` (the answer so far, when it continues one)."""
        try:
            completion: CompletionStream = provider.stream(request)
        except ProviderError as exc:
            raise AttemptFailed(exc, "") from exc
        completion.on_wait = functools.partial(self.announce_wait, stage)
        self.held.track(completion)
        release_db_connection()  # the model call is long; checkpoints take one briefly
        parts: list[str] = [prefix] if prefix else []
        pending: list[str] = []
        offset = len(prefix)
        started = last_publish = last_checkpoint = time.monotonic()
        try:
            for delta in completion:
                if self.held.cancelled.is_set():
                    break
                parts.append(delta)
                pending.append(delta)
                now = time.monotonic()
                if now - started > config().total_timeout_seconds:
                    completion.close()
                    raise TransientError(
                        "The model took longer than the total time limit.", kind="timeout"
                    )
                checkpoint_due = now - last_checkpoint >= config().checkpoint_seconds
                if checkpoint_due:
                    # Saved before the delta goes out, so a watcher that must catch up
                    # finds the text up to this delta's offset in the database.
                    self.checkpoint(stage, "".join(parts), request)
                    release_db_connection()
                    last_checkpoint = now
                if checkpoint_due or now - last_publish >= config().delta_coalesce_seconds:
                    offset = self.publish_delta(stage, pending, offset)
                    pending, last_publish = [], now
        except ProviderError as exc:
            if self.held.cancelled.is_set():
                raise Cancelled("".join(parts)) from None
            raise AttemptFailed(exc, "".join(parts), completion.usage) from exc
        except Exception as exc:
            if self.held.cancelled.is_set():
                raise Cancelled("".join(parts)) from None
            cut = TransientError(
                f"The model's stream failed ({type(exc).__name__}).", kind="stream_cut"
            )
            raise AttemptFailed(cut, "".join(parts)) from exc
        finally:
            self.held.untrack(completion)
        if self.held.cancelled.is_set():
            completion.close()
            raise Cancelled("".join(parts))
        if pending:
            self.publish_delta(stage, pending, offset)
        return AttemptResult("".join(parts), completion.usage)

    def announce_wait(self, stage: Stage, note: str) -> None:
        """The stage waits for its model (``note`` says why), or waits no more ("")."""
        self.state.emit(EventType.STAGE_WAITING, stage=stage.key, note=note)

    def publish_delta(self, stage: Stage, pending: list[str], offset: int) -> int:
        """Publish the text that arrived since the last delta; returns the next offset."""
        text = "".join(pending)
        # ``ts`` (epoch seconds at publish) lets clients and bench/ measure delivery lag.
        self.state.emit(
            EventType.STAGE_DELTA, stage=stage.key, text=text, offset=offset,
            ts=round(time.time(), 3),
        )
        return offset + len(text)

    def checkpoint(self, stage: Stage, text: str, request: CompletionRequest) -> None:
        """Save the partial text (and the seq it is current at), then check the budget."""
        self.state.row(stage).update(output=text)
        self.state.save_seq(self.state.seq)
        self.ledger.check_running_budget(request, text)
