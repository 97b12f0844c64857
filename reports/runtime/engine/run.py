"""One run of a stream: claim it, hold its lease, run its stages (on a pool where the
plan allows parallel stages, in this thread otherwise) and end it."""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any

from django.db import connections
from django.utils import timezone

from reports.domain.config import config
from reports.domain.events import EventType
from reports.models import AttemptStatus, Stage, StageAttempt, StageStatus, StreamStatus
from reports.pipelines import StageContext, StageSpec, get_pipeline
from reports.pipelines.base import with_cut_off_mark
from reports.pipelines.registry import UnknownJobType
from reports.pipelines.structured import schema_for
from reports.providers import CompletionRequest, Provider, ProviderError, get_provider
from reports.runtime.engine.attempt import ModelCall
from reports.runtime.engine.db import release_db_connection
from reports.runtime.engine.endings import Endings
from reports.runtime.engine.fitting import fit_to_context
from reports.runtime.engine.ledger import Ledger
from reports.runtime.engine.prompts import with_instructions, with_schema_instructions
from reports.runtime.engine.stages import StageSteps
from reports.runtime.engine.state import RunState
from reports.runtime.leases import SHUTDOWN, HeldLease, claim, keeper, new_run_owner, release

logger = logging.getLogger(__name__)

MAX_PARALLEL_STAGES = 4


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
            run.endings.finish_failed("internal", "An internal error stopped this stream.")
        return StreamStatus.FAILED
    finally:
        keeper.drop(held)
        if run is None or not run.ended:
            release(stream_id, owner)


class StreamRun:
    """Runs one stream's pipeline under its lease, stage by stage, until it ends."""

    def __init__(self, stream_id: Any, *, owner: str, held: HeldLease) -> None:
        self.state = RunState(stream_id, owner=owner, held=held)
        self.stream_id = stream_id
        self.held = held
        self.stages = self.state.stages
        self.ledger = Ledger(self.state)
        self.steps = StageSteps(self.state, self.ledger)
        self.model_call = ModelCall(self.state, self.ledger, self.steps)
        self.endings = Endings(self.state, self.ledger)

    @property
    def ended(self) -> bool:
        """Whether the run saved the stream's ending (and so gave up the lease)."""
        return self.state.ended

    def execute(self) -> str:
        """Run the stream's stages and end it; returns its status."""
        state = self.state
        try:
            state.pipeline = get_pipeline(state.stream.type)
        except UnknownJobType as exc:
            return self.endings.finish_failed(
                "config", f"{exc}. The app that provides it is not installed."
            )
        # Stages a dead runner left unfinished go back to pending (their text is kept
        # until they run again), and its open attempts are recorded as interrupted.
        unfinished = (StageStatus.RUNNING, StageStatus.FAILED, StageStatus.CANCELLED)
        if any(s.status in unfinished or s.attempts for s in self.stages.values()):
            self.reset_unfinished(unfinished)  # (a fresh stream has nothing to reset)
        progress = state.progress()
        if progress != state.stream.progress:
            state.owned().update(progress=progress)
        state.emit(EventType.STREAM_PROGRESS, status=StreamStatus.RUNNING, progress=progress)
        if state.stream.cancel_requested:
            self.held.cancel(state.stream.cancel_reason or "user")
        outcome = self.run_stages()
        if self.held.lost.is_set():
            return StreamStatus.RUNNING  # another runner owns it now
        if self.held.cancel_reason == SHUTDOWN:
            # The process is exiting: leave the stream active; once the lease is released
            # the next runner (or this site's next start) resumes it.
            logger.info("Stream %s interrupted by shutdown; it will resume", self.stream_id)
            state.owned().update(enqueued_at=None)  # due for the very next sweep
            return StreamStatus.RUNNING
        if outcome == StageStatus.CANCELLED or self.held.cancelled.is_set():
            return self.endings.finish_cancelled()
        if outcome == StageStatus.FAILED:
            failed = next(s for s in self.stages.values() if s.status == StageStatus.FAILED)
            return self.endings.finish_failed(failed.error_kind, failed.error, stage=failed.key)
        finished = (StageStatus.COMPLETED, StageStatus.SKIPPED)
        stuck = [s.title for s in self.stages.values() if s.status not in finished]
        gates = state.stream.review_gates(self.stages.values())
        if stuck and gates:  # the rest waits for a person's review
            return self.endings.finish_awaiting_review(gates)
        if stuck:  # a plan whose stages can never be ready: never assemble a partial report
            return self.endings.finish_failed(
                "internal", f"Stages that could not run: {', '.join(stuck)}. Retry them."
            )
        return self.endings.finish_completed()

    def reset_unfinished(self, unfinished: tuple[str, ...]) -> None:
        """Put the stages a previous run left unfinished back to pending."""
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
        """The pending stages, not ``running``, whose dependencies have completed."""
        done = {k for k, s in self.stages.items() if s.status == StageStatus.COMPLETED}
        # A stage that reads one awaiting review waits (and so do the stages after it).
        done -= set(self.state.stream.review_gates(self.stages.values()))
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
        """Run a stage on a pool thread, closing the thread's connections after it."""
        try:
            return self.run_stage_safely(key)
        finally:
            connections.close_all()

    def run_stage_safely(self, key: str) -> str:
        """Run a stage; a crash fails the stage, not the run."""
        try:
            return self.run_stage(key)
        except Exception:
            logger.exception("Stage %s of %s crashed", key, self.stream_id)
            self.steps.fail_stage(self.stages[key], "internal", "an internal error stopped it", 0)
            return StageStatus.FAILED

    def context_for(self, spec: StageSpec) -> StageContext:
        """What a stage's prompts and functions see: the outputs of the stages it reads
        (for a stage built without a model, the document, each cut-off one marked so)."""
        stream = self.state.stream
        outputs = {k: self.stages[k].output for k in spec.reads}
        if spec.build is not None:
            outputs = {k: with_cut_off_mark(text) if self.stages[k].cut_off else text
                       for k, text in outputs.items()}
        data = {k: self.stages[k].data for k in spec.reads if self.stages[k].data is not None}
        max_tokens = config().output_limit(stream.type, spec.key, spec.max_tokens)
        return StageContext(stream.type, stream.input_data, outputs, data, max_tokens)

    def run_stage(self, key: str) -> str:
        """Run one stage: built in code, or a model call; returns its status."""
        pipeline = self.state.pipeline
        assert pipeline is not None
        stage = self.stages[key]
        spec = pipeline.stage(key)
        context = self.context_for(spec)
        if spec.build is not None:
            self.steps.mark_running(stage)
            return self.steps.complete_stage(stage, spec.build(context), None)
        try:
            provider = get_provider()
            model = self.model_for(spec, provider)
            build = partial(self.request_for, spec, provider, model, draft_from=context)
            request = fit_to_context(provider, context, build)
        except ProviderError as exc:
            self.steps.mark_running(stage)
            return self.steps.fail_stage(stage, exc.kind, exc.message, 0)
        if self.held.cancelled.is_set():
            return self.steps.cancel_stage(stage)
        self.steps.mark_running(stage, attempt_model=model)
        return self.model_call.call_model(stage, spec, provider, request)

    def request_for(
        self, spec: StageSpec, provider: Provider, model: str, context: StageContext, *,
        draft_from: StageContext,
    ) -> CompletionRequest:
        """The stage's model call, its prompt built from ``context`` (the offline draft
        from ``draft_from``: what the stage reads, untrimmed)."""
        pipeline = self.state.pipeline
        assert pipeline is not None
        stream = self.state.stream
        # Stable part first (system, brief, earlier outputs), the instruction last.
        stable, instruction = pipeline.prompt_parts(spec, context)
        request = CompletionRequest(
            model=model,
            system=pipeline.render(pipeline.system_prompt, context),
            prompt=with_instructions(
                "\n\n".join((*stable, instruction)),
                "\n\n".join(filter(None, (stream.instructions,
                                             self.stages[spec.key].instructions))),
            ),
            prefix_parts=stable,
            cache_key=str(stream.pk),
            max_tokens=context.max_tokens,
            json_output=spec.json_output,
            output=schema_for(spec.output) if spec.output else None,
            job_type=stream.type,
            stage_key=spec.key,
            draft=partial(spec.draft, draft_from) if spec.draft else None,
            offline_model=stream.offline_model,
        )
        if request.output is not None and not provider.structured_output(model):
            request = with_schema_instructions(request, request.output)
        return request

    def model_for(self, spec: StageSpec, provider: Provider) -> str:
        """The model the stage runs with (the settings' choice, else the provider's; a
        provider that serves one model, a local file, runs that one)."""
        if provider.serves_one_model:
            return provider.default_model
        chosen = config().model_for(self.state.stream.type, spec.key, spec.model)
        return chosen or provider.default_model
