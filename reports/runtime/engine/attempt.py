"""Calling the model for one stage: transient errors retried with backoff, invalid
output re-asked, deltas coalesced and published, the partial text checkpointed, and
the model's stream closed at once on cancel."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from django.template import Context, Engine

from reports.domain.config import config
from reports.domain.events import EventType
from reports.models import AttemptStatus, Stage
from reports.pipelines import OutputInvalid, StageSpec
from reports.pipelines.structured import OutputSchema
from reports.providers import (
    CompletionRequest,
    CompletionStream,
    ProviderError,
    TransientError,
    Usage,
)
from reports.runtime.engine.db import release_db_connection
from reports.runtime.engine.ledger import AttemptOutcome, Ledger
from reports.runtime.engine.stages import StageSteps
from reports.runtime.engine.state import RunState
from reports.runtime.retry import backoff_seconds, max_attempts

logger = logging.getLogger(__name__)

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"


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


@functools.cache
def _prompts() -> Engine:
    # Prompts are plain text: nothing in them is HTML to escape.
    return Engine(dirs=[str(PROMPT_DIR)], autoescape=False)


def reask_request(request: CompletionRequest, reason: str) -> CompletionRequest:
    """The request again, its prompt followed by why the previous answer was rejected."""
    template = _prompts().get_template("reask.txt")
    reask = template.render(Context({"reason": reason}, autoescape=False)).strip()
    return replace(request, prompt=f"{request.prompt}\n\n{reask}")


def with_schema_instructions(request: CompletionRequest, schema: OutputSchema) -> CompletionRequest:
    """The fallback for a model that takes no schema: the request without one, its
    prompt ending with the schema to answer in (then validated, and re-asked)."""
    template = _prompts().get_template("json_schema.txt")
    context = {"schema": schema.as_text(), "description": schema.description}
    told = template.render(Context(context, autoescape=False)).strip()
    return replace(request, output=None, prompt=f"{request.prompt}\n\n{told}")


def with_instructions(prompt: str, instructions: str) -> str:
    """The stage's prompt followed by a fork's extra instructions (stable part first)."""
    if not instructions:
        return prompt
    template = _prompts().get_template("instructions.txt")
    extra = template.render(Context({"instructions": instructions}, autoescape=False)).strip()
    return f"{prompt}\n\n{extra}"


class ModelCall:
    """Runs a stage's model call to its end: as many attempts as the retry policy and
    the re-asks allow, each recorded in the ledger, the stage then ended by ``steps``."""

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
        reasks = config().invalid_output_reasks
        raised_limit = False  # a truncated answer is asked again once, with twice the limit
        transient_tries = 0
        counted = True  # by mark_running
        while True:
            if self.held.cancelled.is_set():
                return self.steps.cancel_stage(stage)
            attempt = self.ledger.start_attempt(
                stage, request.model, counted=counted, structured=request.output is not None
            )
            counted = False
            try:
                result = self.stream_attempt(stage, provider, request)
            except Cancelled as exc:
                partial = str(exc.args[0]) if exc.args else ""
                self.ledger.end_attempt(
                    stage,
                    attempt,
                    AttemptOutcome(status=AttemptStatus.CANCELLED, request=request, text=partial),
                )
                return self.steps.cancel_stage(stage, partial)
            except AttemptFailed as failed:
                error = failed.error
                self.ledger.end_attempt(
                    stage,
                    attempt,
                    AttemptOutcome(
                        status=AttemptStatus.FAILED,
                        request=request,
                        text=failed.partial,
                        usage=failed.usage,
                        error=error,
                    ),
                )
                if error.kind == SCHEMA_REFUSED and request.output is not None:
                    # Once per call: the model said no to the schema; ask in the prompt.
                    logger.warning(
                        "Model %s refused the JSON schema of stage %s (%s); falling back to "
                        "instructions and validation", request.model, stage.key, error.message,
                    )
                    provider.refuse_structured_output(request.model)
                    request = with_schema_instructions(request, request.output)
                    continue
                if error.kind == TRUNCATED and not raised_limit:
                    # Cut off at the output limit: once more, with room to finish.
                    raised_limit = True
                    self.ledger.count_reask(stage)
                    request = replace(request, max_tokens=request.max_tokens * 2)
                    self.state.emit(
                        EventType.STAGE_RETRYING,
                        stage=stage.key,
                        attempt=stage.attempts,
                        error=error.message,
                        error_kind=error.kind,
                        delay_s=0,
                    )
                    continue
                transient_tries += 1
                if not error.transient or transient_tries >= max_attempts():
                    return self.steps.fail_stage(stage, error.kind, error.message, stage.attempts)
                delay = backoff_seconds(transient_tries, error.retry_after)
                self.state.emit(
                    EventType.STAGE_RETRYING,
                    stage=stage.key,
                    attempt=stage.attempts,
                    error=error.message,
                    error_kind=error.kind,
                    delay_s=round(delay, 2),
                )
                if self.held.cancelled.wait(delay):
                    return self.steps.cancel_stage(stage)
                continue
            try:
                data = spec.parse_text(result.text)
            except OutputInvalid as exc:
                self.ledger.end_attempt(
                    stage,
                    attempt,
                    AttemptOutcome(
                        status=AttemptStatus.FAILED,
                        request=request,
                        text=result.text,
                        usage=result.usage,
                        error=ProviderError(str(exc), kind="invalid_output"),
                    ),
                )
                if reasks <= 0:
                    return self.steps.fail_stage(
                        stage,
                        "invalid_output",
                        f"the model's answer was not valid: {exc}",
                        stage.attempts,
                    )
                reasks -= 1
                self.ledger.count_reask(stage)
                request = reask_request(request, str(exc))
                self.state.emit(
                    EventType.STAGE_RETRYING,
                    stage=stage.key,
                    attempt=stage.attempts,
                    error=f"output not valid: {exc}",
                    error_kind="invalid_output",
                    delay_s=0,
                )
                continue
            succeeded = AttemptOutcome(
                status=AttemptStatus.SUCCEEDED,
                request=request,
                text=result.text,
                usage=result.usage,
            )
            return self.steps.complete_stage(stage, result.text, data, (attempt, succeeded))

    def stream_attempt(
        self, stage: Stage, provider: Any, request: CompletionRequest
    ) -> AttemptResult:
        """Stream one model call: coalesced deltas out, checkpoints to the database."""
        try:
            completion: CompletionStream = provider.stream(request)
        except ProviderError as exc:
            raise AttemptFailed(exc, "") from exc
        self.held.track(completion)
        release_db_connection()  # the model call is long; checkpoints take one briefly
        parts: list[str] = []
        pending: list[str] = []
        offset = 0
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
