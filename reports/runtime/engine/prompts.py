"""The engine's own additions to a stage's prompt (template files in ``../prompts``): a
re-ask after a rejected answer, the JSON schema for models that take none, a fork's extra
instructions, and the request for a shorter answer after one ran past its limit."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from django.template import Context, Engine

from reports.pipelines.structured import OutputSchema
from reports.providers import CompletionRequest

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"


@functools.cache
def _prompts() -> Engine:
    # Prompts are plain text: nothing in them is HTML to escape.
    return Engine(dirs=[str(PROMPT_DIR)], autoescape=False)


def render(name: str, **context: object) -> str:
    """One of the engine's prompt templates, rendered."""
    return _prompts().get_template(name).render(Context(context, autoescape=False)).strip()


def reask_request(request: CompletionRequest, reason: str) -> CompletionRequest:
    """The request again, its prompt followed by why the previous answer was rejected."""
    return replace(request, prompt=f"{request.prompt}\n\n{render('reask.txt', reason=reason)}")


def shorter_request(request: CompletionRequest) -> CompletionRequest:
    """The request again after its answer ran past the output limit: asked for a shorter
    answer (its schema allowing the fewest list items), with twice the room."""
    told = render("shorter.txt", limit=request.max_tokens)
    output = request.output.shorter() if request.output is not None else None
    return replace(request, prompt=f"{request.prompt}\n\n{told}", output=output,
                   max_tokens=request.max_tokens * 2)


def with_schema_instructions(request: CompletionRequest, schema: OutputSchema) -> CompletionRequest:
    """The fallback for a model that takes no schema: the request without one, its
    prompt ending with the schema to answer in (then validated, and re-asked)."""
    told = render("json_schema.txt", schema=schema.as_text(), description=schema.description)
    return replace(request, output=None, prompt=f"{request.prompt}\n\n{told}")


def with_instructions(prompt: str, instructions: str) -> str:
    """The stage's prompt followed by a fork's extra instructions (stable part first)."""
    if not instructions:
        return prompt
    return f"{prompt}\n\n{render('instructions.txt', instructions=instructions)}"
