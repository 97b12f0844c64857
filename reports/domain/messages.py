"""What a person reads when a stage fails: what, why, what to do next."""

from __future__ import annotations

ADVICE = {
    "rate_limited": "The model's provider is rate limiting us. Resume in a minute or two.",
    "server_error": "The model's provider had a server error. Resume to try again.",
    "timeout": "The model stopped answering in time. Resume to try again.",
    "stream_cut": "The connection to the model dropped. Resume to try again.",
    "auth": "An administrator must fix the key, then Resume.",
    "bad_request": "The model rejected the request. Check the model name and inputs, then Resume.",
    "invalid_output": "The model's answer did not have the expected shape (what it wrote is "
    "shown below the error). Retry this stage.",
    "config": "The site's model settings are wrong. An administrator must fix them, then Resume.",
    "internal": "Something went wrong on our side. Your finished stages are saved; Resume.",
    "budget": "The stream reached its cost budget. Raise the budget, then Resume.",
    "budget_exceeded": "The stream reached its cost budget. Resume with a higher budget.",
    "overloaded": "The model's provider is overloaded. Resume in a few minutes.",
    "context_length": "The inputs and earlier stages are too long for this model. Shorten the "
    "inputs, or choose a model with a larger context window (LLM_STAGE_MODELS), then Retry.",
    "truncated": "The answer ran past the stage's output limit, also when asked for a "
    "shorter one with twice the room; its partial text is kept with the attempt. Raise the "
    "limit (LLM_OUTPUT_LIMITS or LLM_OUTPUT_SCALE) or use a larger model, then Retry.",
    "content_filtered": "The provider's content filter stopped the answer. Rephrase the inputs, "
    "then Retry this stage.",
    "refused": "The model declined to write this part. Rephrase the inputs, then Retry this "
    "stage.",
    "schema_refused": "The model does not take a JSON schema. Set LLM_STRUCTURED_OUTPUT_OFF "
    "for it, then Retry.",
}


def stage_failure_message(title: str, kind: str, detail: str, attempts: int) -> str:
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    advice = ADVICE.get(kind, "Resume to try again.")
    return f"{title} failed{tries}: {detail.rstrip('.')}. {advice}"
