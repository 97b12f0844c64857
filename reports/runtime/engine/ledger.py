"""What a run spends: tokens and cost per attempt, stage and stream, and the budget
check that stops a stream once it has spent its budget."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reports.domain.config import config
from reports.models import AttemptStatus, Stage, StageAttempt, StreamingJob
from reports.providers import CompletionRequest, ProviderError, Usage, pricing
from reports.providers.offline import count_tokens
from reports.runtime.engine.state import RunState

# Errors that mean the request was refused before the model did any work (HTTP 4xx,
# 429, no connection, bad settings): such an attempt cost nothing, known for sure.
NOT_BILLED = frozenset({
    "rate_limited", "auth", "bad_request", "config", "connection", "schema_refused",
    "context_length",
})

# The cancel reason of a stream its budget stops, and the error kind it ends failed with.
BUDGET = "budget"
BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True, kw_only=True)
class AttemptOutcome:
    """How one attempt ended: its status, the request it sent, the text that arrived,
    the usage the provider reported (None: never arrived) and its error, if any."""

    status: str
    request: CompletionRequest
    text: str
    usage: Usage | None = None
    error: ProviderError | None = None


class Ledger:
    """The accounts of one run: every attempt's tokens and cost, added up into its
    stage and its stream, and checked against the stream's budget."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def count_attempt(self, stage: Stage, model: str) -> dict[str, Any]:
        """Count one more attempt on the stage in memory; returns the fields to save.
        Its cost starts from zero on its first attempt ever (not again on a Resume)."""
        fields: dict[str, Any] = {"attempts": F("attempts") + 1, "model": model}
        if stage.attempts == 0:
            fields["cost_usd"] = stage.cost_usd = Decimal(0)
        stage.attempts += 1
        return fields

    def start_attempt(
        self, stage: Stage, model: str, *, counted: bool = False, structured: bool = False
    ) -> StageAttempt:
        """Record a new attempt on the stage (``counted``: its count is saved already;
        ``structured``: the provider was sent the stage's schema)."""
        if not counted:
            self.state.row(stage).update(**self.count_attempt(stage, model))
        return StageAttempt.objects.create(
            stage=stage, number=stage.attempts, model=model, structured=structured
        )

    def count_reask(self, stage: Stage) -> None:
        """The stage's answer was invalid and the model is asked again."""
        self.state.row(stage).update(reasks=F("reasks") + 1)
        stage.reasks += 1

    def end_attempt(
        self,
        stage: Stage,
        attempt: StageAttempt,
        outcome: AttemptOutcome,
        *,
        stage_update: dict[str, Any] | None = None,
        run_update: dict[str, Any] | None = None,
    ) -> None:
        """Record how an attempt ended and add what it spent to the stage and stream
        (the ``stage`` in memory too). ``run_update``: more fields of the stream, saved
        only while this run holds the lease."""
        request, text, usage, error = outcome.request, outcome.text, outcome.usage, outcome.error
        known = usage is not None
        if usage is None and not text and error is not None and error.kind in NOT_BILLED:
            usage, known = Usage(0, 0), True  # refused before any work: nothing to pay
        if usage is None:  # never arrived: estimate it, and say so
            tokens_in = count_tokens(request.system + request.prompt) if text else 0
            usage = Usage(tokens_in, count_tokens(text))
        cost = pricing.cost_for(request.model, usage)
        saved = pricing.cache_saving(request.model, usage)
        # One transaction; inside complete_stage's it needs no savepoint of its own.
        with transaction.atomic(savepoint=False):
            StageAttempt.objects.filter(pk=attempt.pk).update(
                status=outcome.status,
                finished_at=timezone.now(),
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                tokens_cached=usage.tokens_cached,
                tokens_cache_write=usage.tokens_cache_write,
                usage_known=known,
                cost_usd=cost,
                error_kind=error.kind if error else "",
                error=error.message if error else "",
                # Kept where the stage's own output does not hold it: a rejected, cut
                # off, failed or cancelled answer (its tokens were paid for).
                output=text if error or outcome.status != AttemptStatus.SUCCEEDED else "",
            )
            # A stage's cost is the sum of its attempts; one unknown makes it unknown.
            # (Only this run writes its stages, so the totals come from memory.)
            stage.tokens_in += usage.tokens_in
            stage.tokens_out += usage.tokens_out
            stage.tokens_cached += usage.tokens_cached
            stage.cache_saved_usd += saved
            if cost is None or stage.cost_usd is None:
                stage.cost_usd = None
            else:
                stage.cost_usd += cost
            self.state.row(stage).update(
                tokens_in=stage.tokens_in,
                tokens_out=stage.tokens_out,
                tokens_cached=stage.tokens_cached,
                cache_saved_usd=stage.cache_saved_usd,
                cost_usd=stage.cost_usd,
                **(stage_update or {}),
            )
            spent: dict[str, Any] = {
                "tokens_in": F("tokens_in") + usage.tokens_in,
                "tokens_out": F("tokens_out") + usage.tokens_out,
                "tokens_cached": F("tokens_cached") + usage.tokens_cached,
                "cache_saved_usd": F("cache_saved_usd") + saved,
                "cost_usd": F("cost_usd") + (cost or 0),
            }
            if cost is None or not known:
                spent["cost_complete"] = False
            # One UPDATE while the lease is ours; what was spent is saved regardless.
            if not (run_update and self.state.owned().update(**spent, **run_update)):
                StreamingJob.objects.filter(pk=self.state.stream_id).update(**spent)
        if cost:
            self.check_budget()

    def budget(self) -> Decimal | None:
        """The stream's budget in USD: its own, else ``STREAM_BUDGET_USD`` (None: none)."""
        if self.state.stream.budget_usd is not None:
            return self.state.stream.budget_usd
        return config().stream_budget_usd

    def check_budget(self, running_cost: Decimal | None = None) -> None:
        """Stop the stream (its model stream closed as by Cancel; it then ends failed,
        ``budget_exceeded``) once what it spent, plus the ``running_cost`` of an attempt
        under way, reaches its budget."""
        budget = self.budget()
        if budget is None:
            return
        spent = StreamingJob.objects.values_list("cost_usd", flat=True).get(
            pk=self.state.stream_id
        )
        if spent + (running_cost or 0) >= budget:
            StreamingJob.objects.filter(pk=self.state.stream_id).update(
                cancel_requested=True, cancel_reason=BUDGET
            )
            self.state.held.cancel(BUDGET)

    def check_running_budget(self, request: CompletionRequest, text: str) -> None:
        """The budget check during an attempt: the running cost of this attempt (its
        tokens estimated from the text so far) counts too."""
        if self.budget() is not None:
            tokens_in = count_tokens(request.system + request.prompt)
            self.check_budget(pricing.cost_for(request.model, Usage(tokens_in, count_tokens(text))))
