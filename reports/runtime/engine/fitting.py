"""Fitting a stage's prompt to its model's context window.

The window comes from the provider (a local model's configured ``n_ctx``, a llama.cpp
server's ``/props``) or ``LLM_CONTEXT_TOKENS``; unknown, nothing is trimmed. When the
prompt and the room for the answer do not fit, the earlier stages' outputs it quotes are
shortened, the longest first, each marked as trimmed; when even that cannot make it fit
(the inputs alone are too long), the stage fails with a message that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from reports.pipelines import StageContext
from reports.providers import CompletionRequest, PermanentError, Provider

TRIMMED = "\n[... trimmed to fit the model's context window]"
# Room for the chat template's own tokens (role markers, separators).
MARGIN_TOKENS = 48
# How many times the outputs are shortened before giving up (token counts are re-taken
# each time: characters per token differ between texts).
ROUNDS = 4


def tokens_needed(provider: Provider, request: CompletionRequest) -> int:
    """What a request takes of the window: its prompt, and its answer at the limit."""
    prompt = provider.count_tokens(request.system) + provider.count_tokens(request.prompt)
    return prompt + request.max_tokens + MARGIN_TOKENS


def fit_to_context(
    provider: Provider, context: StageContext, build: Callable[[StageContext], CompletionRequest]
) -> CompletionRequest:
    """``build(context)``, its earlier outputs trimmed until it fits the model's window;
    raises a ``context_length`` error when it cannot fit."""
    request = build(context)
    window = provider.context_length(request.model)
    if not window:
        return request
    for _ in range(ROUNDS):
        needed = tokens_needed(provider, request)
        total = sum(len(text) for text in context.outputs.values())
        if needed <= window or not total:
            break
        prompt_chars = len(request.system) + len(request.prompt)
        chars_per_token = prompt_chars / max(1, needed - request.max_tokens - MARGIN_TOKENS)
        # What to cut, with a tenth more for the estimate and room for the marks.
        cut = int((needed - window) * chars_per_token * 1.1) + len(TRIMMED) * len(context.outputs)
        cap = _cap([len(text) for text in context.outputs.values()], total - cut)
        context = replace(context, outputs={
            key: text if len(text) <= cap else text[:cap].rstrip() + TRIMMED
            for key, text in context.outputs.items()
        })
        request = build(context)
    needed = tokens_needed(provider, request)
    if needed > window:
        raise PermanentError(
            f"the prompt and room for the answer need {needed:,} tokens but the model's "
            f"context window holds {window:,}, even with the earlier stages trimmed",
            kind="context_length",
        )
    return request


def _cap(lengths: list[int], keep: int) -> int:
    """The largest length C with sum(min(length, C)) <= keep: the longest texts are cut
    to a common length, the short ones stay whole."""
    if keep <= 0:
        return 0
    remaining, left = keep, len(lengths)
    for length in sorted(lengths):
        if length * left > remaining:
            return remaining // left
        remaining -= length
        left -= 1
    return max(lengths, default=0)
