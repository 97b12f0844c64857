"""The engine: runs one stream's pipeline under its lease, stage by stage.

Every stage is saved atomically when it finishes; token deltas are coalesced and
published live, and the partial text is checkpointed about once a second. Transient
model errors are retried inside the stage; permanent ones fail the stage (and the
stream, which stays resumable). Cancel closes the model's stream at once.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from reports.domain.config import config
from reports.domain.messages import stage_failure_message
from reports.events.publisher import publisher
from reports.models import (
    AttemptStatus,
    Report,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.pipelines import OutputInvalid, Pipeline, StageContext, StageSpec, get_pipeline
from reports.pipelines.registry import UnknownJobType
from reports.providers import (
    CompletionRequest,
    CompletionStream,
    ProviderError,
    TransientError,
    Usage,
    get_provider,
    pricing,
)
from reports.providers.offline import count_tokens
from reports.runtime.leases import SHUTDOWN, HeldLease, claim, keeper, new_run_owner, release
from reports.runtime.retry import backoff_seconds, max_attempts

logger = logging.getLogger(__name__)

MAX_PARALLEL_STAGES = 4
# Errors that mean the request was refused before the model did any work (HTTP 4xx,
# 429, no connection, bad settings): such an attempt cost nothing, known for sure.
NOT_BILLED = frozenset({"rate_limited", "auth", "bad_request", "config", "connection"})


class Cancelled(Exception):
    pass


class AttemptFailed(Exception):
    """A provider error during one attempt, with the text that arrived before it (its
    tokens were paid for, so the attempt records them)."""

    def __init__(self, error: ProviderError, partial: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.partial = partial


@dataclass
class AttemptResult:
    text: str
    usage: Usage | None


def run_stream(stream_id: Any, *, owner: str | None = None) -> str | None:
    """Claim and run a stream; returns its final status, or None if another runner has it."""
    owner = owner or new_run_owner()
    if not claim(stream_id, owner):
        return None
    held = keeper.hold(stream_id, owner)
    run: StreamRun | None = None
    try:
        run = StreamRun(stream_id, owner=owner, held=held)
        return run.execute()
    except Exception:
        logger.exception("Stream %s stopped on an internal error", stream_id)
        if run is not None:
            run.finish_failed("internal", "An internal error stopped this stream.")
        return StreamStatus.FAILED
    finally:
        keeper.drop(held)
        if run is None or not run.ended:
            release(stream_id, owner)


class StreamRun:
    def __init__(self, stream_id: Any, *, owner: str, held: HeldLease) -> None:
        self.stream_id = stream_id
        self.owner = owner
        self.held = held
        self._seq_lock = threading.Lock()
        # The stream comes along with its stages: one query.
        stages = list(Stage.objects.filter(stream_id=stream_id).select_related("stream").in_order())
        self.stream = stages[0].stream if stages else StreamingJob.objects.get(pk=stream_id)
        self.stages: dict[str, Stage] = {s.key: s for s in stages}
        self.seq = self.stream.seq  # as the claim left it
        self.ended = False  # saved the stream's ending and gave up the lease
        self.pipeline: Pipeline | None = None
        # The rows this run writes over and over, their querysets built once.
        self._owned_row = StreamingJob.objects.filter(pk=stream_id, lease_owner=owner)
        self._stage_rows: dict[str, Any] = {}

    # --- events -----------------------------------------------------------------
    def emit(self, event_type: str, stage: str | None = None, **fields: Any) -> None:
        """Publish one event with the next ``seq`` (in seq order across stage threads)."""
        with self._seq_lock:
            self.seq += 1
            event: dict[str, Any] = {
                "type": event_type,
                "seq": self.seq,
                "stream_id": str(self.stream_id),
            }
            if stage is not None:
                event["stage"] = stage
            event.update(fields)
            publisher.publish(self.stream_id, {"type": "stream.event", "event": event})

    def _owned(self) -> Any:
        """This run's stream row, while the lease is ours (an UPDATE of it is a no-op
        once another runner has taken the stream)."""
        return self._owned_row

    def _row(self, stage: Stage) -> Any:
        if stage.key not in self._stage_rows:
            self._stage_rows[stage.key] = Stage.objects.filter(pk=stage.pk)
        return self._stage_rows[stage.key]

    def save_seq(self, seq: int, **fields: Any) -> None:
        """Save ``seq`` (and other fields of this run's stream) while the lease is ours."""
        self._owned().update(seq=seq, **fields)

    def save_ending(self, **fields: Any) -> None:
        """Save how the stream ended (the seq of the event announcing it) and give up
        the lease in the same UPDATE."""
        self.save_seq(self.seq + 1, **fields, lease_owner="", lease_expires_at=None)
        self.ended = True

    # --- the run ----------------------------------------------------------------
    def execute(self) -> str:
        try:
            self.pipeline = get_pipeline(self.stream.type)
        except UnknownJobType as exc:
            self.finish_failed("config", f"{exc}. The app that provides it is not installed.")
            return StreamStatus.FAILED
        # Stages a dead runner left unfinished go back to pending (their text is kept
        # until they run again), and its open attempts are recorded as interrupted.
        unfinished = (StageStatus.RUNNING, StageStatus.FAILED, StageStatus.CANCELLED)
        if any(s.status in unfinished or s.attempts for s in self.stages.values()):
            self.reset_unfinished(unfinished)  # (a fresh stream has nothing to reset)
        progress = self.progress()
        if progress != self.stream.progress:
            self._owned().update(progress=progress)
        self.emit("stream.progress", status=StreamStatus.RUNNING, progress=progress)
        if self.stream.cancel_requested:
            self.held.cancel(self.stream.cancel_reason or "user")
        outcome = self.run_stages()
        if self.held.lost.is_set():
            return StreamStatus.RUNNING  # another runner owns it now
        if self.held.cancel_reason == SHUTDOWN:
            # The process is exiting: leave the stream active; once the lease is released
            # the next runner (or this site's next start) resumes it.
            logger.info("Stream %s interrupted by shutdown; it will resume", self.stream_id)
            self._owned().update(enqueued_at=None)  # due for the very next sweep
            return StreamStatus.RUNNING
        if outcome == StageStatus.CANCELLED or self.held.cancelled.is_set():
            return self.finish_cancelled()
        if outcome == StageStatus.FAILED:
            failed = next(s for s in self.stages.values() if s.status == StageStatus.FAILED)
            return self.finish_failed(failed.error_kind, failed.error, stage=failed.key)
        finished = (StageStatus.COMPLETED, StageStatus.SKIPPED)
        stuck = [s.title for s in self.stages.values() if s.status not in finished]
        if stuck:  # a plan whose stages can never be ready: never assemble a partial report
            return self.finish_failed(
                "internal", f"Stages that could not run: {', '.join(stuck)}. Retry them."
            )
        return self.finish_completed()

    def reset_unfinished(self, unfinished: tuple[str, ...]) -> None:
        Stage.objects.filter(stream_id=self.stream_id, status__in=unfinished).update(
            status=StageStatus.PENDING
        )
        StageAttempt.objects.filter(
            stage__stream_id=self.stream_id, status=AttemptStatus.RUNNING
        ).update(
            status=AttemptStatus.FAILED,
            error_kind="interrupted",
            error="The runner stopped (a crash or restart) during this attempt.",
            finished_at=timezone.now(),
        )
        for stage in self.stages.values():
            if stage.status in unfinished:
                stage.status = StageStatus.PENDING

    def ready_stages(self, running: set[str]) -> list[str]:
        done = {k for k, s in self.stages.items() if s.status == StageStatus.COMPLETED}
        return [
            key
            for key, stage in self.stages.items()
            if stage.status == StageStatus.PENDING
            and key not in running
            and set(stage.depends_on) <= done
        ]

    def run_stages(self) -> str:
        """Run every ready stage until none is left: in parallel where the plan allows,
        and in this thread while only one stage can run (most steps of most plans)."""
        stopped: str = StageStatus.COMPLETED
        pool: ThreadPoolExecutor | None = None
        running: dict[Future[str], str] = {}
        try:
            while True:
                ready: list[str] = []
                if stopped == StageStatus.COMPLETED and not self.held.cancelled.is_set():
                    ready = self.ready_stages(set(running.values()))
                if len(ready) == 1 and not running:
                    # Nothing else can start before this stage ends: no thread needed.
                    results = [self.run_stage_safely(ready[0])]
                else:
                    for key in ready:
                        if pool is None:
                            pool = ThreadPoolExecutor(MAX_PARALLEL_STAGES, "stage")
                        running[pool.submit(self.run_stage_in_thread, key)] = key
                    if not running:
                        break
                    release_db_connection()  # idle until a stage ends: let others use it
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    results = [future.result() for future in done]
                    for future in done:
                        running.pop(future)
                for result in results:
                    if result != StageStatus.COMPLETED and stopped != StageStatus.CANCELLED:
                        stopped = result
        finally:
            if pool is not None:
                pool.shutdown()
        return stopped

    def run_stage_in_thread(self, key: str) -> str:
        try:
            return self.run_stage_safely(key)
        finally:
            connections.close_all()

    def run_stage_safely(self, key: str) -> str:
        try:
            return self.run_stage(key)
        except Exception:
            logger.exception("Stage %s of %s crashed", key, self.stream_id)
            self.fail_stage(self.stages[key], "internal", "an internal error stopped it", 0)
            return StageStatus.FAILED

    # --- one stage --------------------------------------------------------------
    def context_for(self, spec: StageSpec) -> StageContext:
        outputs = {k: self.stages[k].output for k in spec.reads}
        data = {k: self.stages[k].data for k in spec.reads if self.stages[k].data is not None}
        return StageContext(self.stream.type, self.stream.input_data, outputs, data)

    def run_stage(self, key: str) -> str:
        assert self.pipeline is not None
        stage = self.stages[key]
        spec = self.pipeline.stage(key)
        context = self.context_for(spec)
        if spec.build is not None:
            self.mark_running(stage)
            return self.complete_stage(stage, spec.build(context), None, None, "")
        try:
            provider = get_provider()
            model = self.model_for(spec, provider.default_model)
            request = CompletionRequest(
                model=model,
                system=self.pipeline.render(self.pipeline.system_prompt, context),
                prompt=self.pipeline.render(spec.prompt, context),
                max_tokens=spec.max_tokens,
                json_output=spec.json_output,
                job_type=self.stream.type,
                stage_key=key,
                draft=partial(spec.draft, context) if spec.draft else None,
            )
        except ProviderError as exc:
            self.mark_running(stage)
            return self.fail_stage(stage, exc.kind, exc.message, 0)
        if self.held.cancelled.is_set():
            return self.cancel_stage(stage)
        self.mark_running(stage, attempt_model=model)
        return self.call_model(stage, spec, provider, request)

    def mark_running(self, stage: Stage, *, attempt_model: str | None = None) -> None:
        """Start the stage; with ``attempt_model``, count its first attempt in the same
        UPDATE (``call_model`` then only records the attempt)."""
        now = timezone.now()
        counted = self.count_attempt(stage, attempt_model) if attempt_model else {}
        self._row(stage).update(
            status=StageStatus.RUNNING,
            started_at=now,
            finished_at=None,
            output="",
            data=None,
            error="",
            error_kind="",
            **counted,
        )
        stage.status, stage.started_at, stage.output = StageStatus.RUNNING, now, ""
        self._owned().update(current_stage=stage.key)
        self.emit("stage.started", stage=stage.key, title=stage.title, position=stage.position)

    def model_for(self, spec: StageSpec, default: str) -> str:
        return config().model_for(self.stream.type, spec.key, spec.model) or default

    def call_model(
        self, stage: Stage, spec: StageSpec, provider: Any, request: CompletionRequest
    ) -> str:
        reasks = config().invalid_output_reasks
        transient_tries = 0
        counted = True  # by mark_running
        while True:
            if self.held.cancelled.is_set():
                return self.cancel_stage(stage)
            attempt = self.start_attempt(stage, request.model, counted=counted)
            counted = False
            try:
                result = self.stream_attempt(stage, provider, request)
            except Cancelled as exc:
                partial = str(exc.args[0]) if exc.args else ""
                self.end_attempt(stage, attempt, AttemptStatus.CANCELLED, request, partial, None)
                return self.cancel_stage(stage, partial)
            except AttemptFailed as failed:
                error = failed.error
                self.end_attempt(
                    stage, attempt, AttemptStatus.FAILED, request, failed.partial, None, error
                )
                transient_tries += 1
                if not error.transient or transient_tries >= max_attempts():
                    return self.fail_stage(stage, error.kind, error.message, stage.attempts)
                delay = backoff_seconds(transient_tries, error.retry_after)
                self.emit(
                    "stage.retrying",
                    stage=stage.key,
                    attempt=stage.attempts,
                    error=error.message,
                    error_kind=error.kind,
                    delay_s=round(delay, 2),
                )
                if self.held.cancelled.wait(delay):
                    return self.cancel_stage(stage)
                continue
            try:
                data = spec.parse(result.text) if spec.parse else None
            except OutputInvalid as exc:
                self.end_attempt(
                    stage,
                    attempt,
                    AttemptStatus.FAILED,
                    request,
                    result.text,
                    result.usage,
                    ProviderError(str(exc), kind="invalid_output"),
                )
                if reasks <= 0:
                    return self.fail_stage(
                        stage,
                        "invalid_output",
                        f"the model's answer was not valid: {exc}",
                        stage.attempts,
                    )
                reasks -= 1
                request = CompletionRequest(
                    **{
                        **request.__dict__,
                        "prompt": request.prompt
                        + (
                            f"\n\nYour previous answer was rejected ({exc}). Answer again with "
                            "exactly the JSON that was asked for and nothing else."
                        ),
                    }
                )
                self.emit(
                    "stage.retrying",
                    stage=stage.key,
                    attempt=stage.attempts,
                    error=f"output not valid: {exc}",
                    error_kind="invalid_output",
                    delay_s=0,
                )
                continue
            return self.complete_stage(
                stage, result.text, data, (attempt, request, result.usage), request.model
            )

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
            raise AttemptFailed(exc, "".join(parts)) from exc
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
        text = "".join(pending)
        # ``ts`` (epoch seconds at publish) lets clients and bench/ measure delivery lag.
        self.emit("stage.delta", stage=stage.key, text=text, offset=offset,
                  ts=round(time.time(), 3))
        return offset + len(text)

    def checkpoint(self, stage: Stage, text: str, request: CompletionRequest) -> None:
        self._row(stage).update(output=text)
        self.save_seq(self.seq)
        if self.budget() is not None:  # the running cost of this attempt counts too
            tokens_in = count_tokens(request.system + request.prompt)
            self.check_budget(pricing.cost_for(request.model, Usage(tokens_in, count_tokens(text))))

    def budget(self) -> Decimal | None:
        if self.stream.budget_usd is not None:
            return self.stream.budget_usd
        return config().stream_budget_usd

    def check_budget(self, running_cost: Decimal | None = None) -> None:
        budget = self.budget()
        if budget is None:
            return
        spent = StreamingJob.objects.values_list("cost_usd", flat=True).get(pk=self.stream_id)
        if spent + (running_cost or 0) >= budget:
            StreamingJob.objects.filter(pk=self.stream_id).update(
                cancel_requested=True, cancel_reason="budget"
            )
            self.held.cancel("budget")

    # --- saving -----------------------------------------------------------------
    def count_attempt(self, stage: Stage, model: str) -> dict[str, Any]:
        """Count one more attempt on the stage in memory; returns the fields to save.
        Its cost starts from zero on its first attempt ever (not again on a Resume)."""
        fields: dict[str, Any] = {"attempts": F("attempts") + 1, "model": model}
        if stage.attempts == 0:
            fields["cost_usd"] = stage.cost_usd = Decimal(0)
        stage.attempts += 1
        return fields

    def start_attempt(self, stage: Stage, model: str, *, counted: bool = False) -> StageAttempt:
        if not counted:
            self._row(stage).update(**self.count_attempt(stage, model))
        return StageAttempt.objects.create(stage=stage, number=stage.attempts, model=model)

    def end_attempt(
        self,
        stage: Stage,
        attempt: StageAttempt,
        status: str,
        request: CompletionRequest,
        text: str,
        usage: Usage | None,
        error: ProviderError | None = None,
        *,
        stage_update: dict[str, Any] | None = None,
        run_update: dict[str, Any] | None = None,
    ) -> None:
        """Record how an attempt ended and add what it spent to the stage and stream
        (the ``stage`` in memory too). ``run_update``: more fields of the stream, saved
        only while this run holds the lease."""
        known = usage is not None
        if usage is None and not text and error is not None and error.kind in NOT_BILLED:
            usage, known = Usage(0, 0), True  # refused before any work: nothing to pay
        if usage is None:  # never arrived: estimate it, and say so
            tokens_in = count_tokens(request.system + request.prompt) if text else 0
            usage = Usage(tokens_in, count_tokens(text))
        cost = pricing.cost_for(request.model, usage)
        # One transaction; inside complete_stage's it needs no savepoint of its own.
        with transaction.atomic(savepoint=False):
            StageAttempt.objects.filter(pk=attempt.pk).update(
                status=status,
                finished_at=timezone.now(),
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                usage_known=known,
                cost_usd=cost,
                error_kind=error.kind if error else "",
                error=error.message if error else "",
            )
            # A stage's cost is the sum of its attempts; one unknown makes it unknown.
            # (Only this run writes its stages, so the totals come from memory.)
            stage.tokens_in += usage.tokens_in
            stage.tokens_out += usage.tokens_out
            if cost is None or stage.cost_usd is None:
                stage.cost_usd = None
            else:
                stage.cost_usd += cost
            self._row(stage).update(
                tokens_in=stage.tokens_in,
                tokens_out=stage.tokens_out,
                cost_usd=stage.cost_usd,
                **(stage_update or {}),
            )
            spent: dict[str, Any] = {
                "tokens_in": F("tokens_in") + usage.tokens_in,
                "tokens_out": F("tokens_out") + usage.tokens_out,
                "cost_usd": F("cost_usd") + (cost or 0),
            }
            if cost is None or not known:
                spent["cost_complete"] = False
            # One UPDATE while the lease is ours; what was spent is saved regardless.
            if not (run_update and self._owned().update(**spent, **run_update)):
                StreamingJob.objects.filter(pk=self.stream_id).update(**spent)
        if cost:
            self.check_budget()

    def complete_stage(
        self,
        stage: Stage,
        text: str,
        data: Any,
        attempt_info: tuple[StageAttempt, CompletionRequest, Usage | None] | None,
        model: str,
    ) -> str:
        now = timezone.now()
        stage.status, stage.output, stage.data, stage.finished_at = (
            StageStatus.COMPLETED,
            text,
            data,
            now,
        )
        update = {
            "status": StageStatus.COMPLETED,
            "output": text,
            "data": data,
            "finished_at": now,
            "error": "",
            "error_kind": "",
        }
        # The stage.completed event's seq: a snapshot taken from now on holds the stage.
        run_update = {"progress": self.progress(), "seq": self.seq + 1}
        with transaction.atomic():
            if attempt_info is not None:
                attempt, request, usage = attempt_info
                self.end_attempt(
                    stage,
                    attempt,
                    AttemptStatus.SUCCEEDED,
                    request,
                    text,
                    usage,
                    stage_update=update,
                    run_update=run_update,
                )
            else:
                self._row(stage).update(**update, cost_usd=Decimal(0))
                stage.cost_usd = Decimal(0)
                self.save_seq(**run_update)
        self.emit(
            "stage.completed",
            stage=stage.key,
            tokens_in=stage.tokens_in,
            tokens_out=stage.tokens_out,
            duration_s=stage.duration_s(),
            cost_usd=_money(stage.cost_usd),
        )
        self.emit("stream.progress", status=StreamStatus.RUNNING, progress=self.progress())
        return StageStatus.COMPLETED

    def fail_stage(self, stage: Stage, kind: str, detail: str, attempts: int) -> str:
        message = stage_failure_message(stage.title, kind, detail, attempts)
        now = timezone.now()
        stage.status, stage.error_kind, stage.error, stage.finished_at = (
            StageStatus.FAILED,
            kind,
            message,
            now,
        )
        self._row(stage).update(
            status=StageStatus.FAILED, error_kind=kind, error=message, finished_at=now
        )
        self.emit("stage.failed", stage=stage.key, error=message, error_kind=kind)
        return StageStatus.FAILED

    def cancel_stage(self, stage: Stage, partial: str | None = None) -> str:
        now = timezone.now()
        fields: dict[str, Any] = {"status": StageStatus.CANCELLED, "finished_at": now}
        if partial is not None:
            fields["output"] = partial
        self._row(stage).update(**fields)
        stage.status = StageStatus.CANCELLED
        self.emit("stage.cancelled", stage=stage.key)
        return StageStatus.CANCELLED

    def progress(self) -> int:
        total = sum(s.weight for s in self.stages.values()) or 1.0
        done = sum(s.weight for s in self.stages.values() if s.status == StageStatus.COMPLETED)
        return round(100 * done / total)

    # --- endings ----------------------------------------------------------------
    def finish_completed(self) -> str:
        assert self.pipeline is not None
        document = self.stages[self.pipeline.stages[-1].key].output
        now = timezone.now()
        fields = {
            "owner_id": self.stream.owner_id,
            "job_type": self.stream.type,
            "job_id": self.stream.job_id,
            "title": self.stream.title or self.stream.input_data.get("title", "Report"),
            "markdown": document,
        }
        with transaction.atomic():
            # Only this run writes the stream's report (it holds the lease), so
            # update-else-create is safe and cheaper than update_or_create's locking.
            report = Report.objects.filter(stream_id=self.stream_id).first()
            if report is None:
                report = Report.objects.create(stream_id=self.stream_id, **fields)
            else:
                Report.objects.filter(pk=report.pk).update(**fields, updated_at=now)
            self.save_ending(
                status=StreamStatus.COMPLETED,
                progress=100,
                finished_at=now,
                current_stage="",
                cancel_requested=False,
            )
        self.emit(
            "stream.completed",
            status=StreamStatus.COMPLETED,
            progress=100,
            report_id=str(report.pk),
        )
        return StreamStatus.COMPLETED

    def finish_failed(self, kind: str, message: str, stage: str | None = None) -> str:
        self.save_ending(
            status=StreamStatus.FAILED,
            error_kind=kind,
            error=message,
            finished_at=timezone.now(),
        )
        self.emit(
            "stream.failed",
            status=StreamStatus.FAILED,
            error=message,
            error_kind=kind,
            failed_stage=stage,
        )
        return StreamStatus.FAILED

    def finish_cancelled(self) -> str:
        reason = self.held.cancel_reason or "user"
        budget = self.budget()
        limit = f" of ${budget:.2f}" if budget is not None else ""
        # Only a budget stop is an error to explain; a user's cancel is just a state.
        message = (
            f"Stopped: this stream reached its cost budget{limit}, so nothing more is spent. "
            "Finished stages are kept; raise the budget, then Resume."
            if reason == "budget"
            else ""
        )
        self.save_ending(
            status=StreamStatus.CANCELLED,
            finished_at=timezone.now(),
            cancel_requested=False,
            error_kind="budget" if reason == "budget" else "",
            error=message,
            cancel_reason=reason,
        )
        self.emit("stream.cancelled", status=StreamStatus.CANCELLED, reason=reason)
        return StreamStatus.CANCELLED


def release_db_connection() -> None:
    """Give this thread's database connection back to the pool while it waits.

    Only with a connection pool (PostgreSQL in distributed mode): hundreds of streams
    per worker then share a few connections, and taking one back costs microseconds.
    """
    connection = connections["default"]
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"
