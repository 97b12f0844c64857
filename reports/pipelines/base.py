"""How a pipeline is declared: stage specs, what a stage sees, how output is checked."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.template import Context, Engine

from reports.pipelines.errors import OutputInvalid
from reports.pipelines.structured import StageOutput, loads, parse_output

if TYPE_CHECKING:
    from pydantic import BaseModel

    from reports.models import BaseJob


@dataclass(frozen=True)
class StageContext:
    """What a stage sees: the job's inputs and the outputs of the stages it reads."""

    job_type: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, str]
    data: Mapping[str, Any]
    # The stage's output limit in tokens (0: none told): prompts ask for a length that
    # fits it, as ``{{ limit.words }}`` words.
    max_tokens: int = 0

    def as_template_context(self) -> dict[str, Any]:
        limit = {"tokens": self.max_tokens, "words": words_for(self.max_tokens)}
        return {"input": self.inputs, "outputs": self.outputs, "data": self.data,
                "limit": limit}


def words_for(tokens: int) -> int:
    """About how many English words fit in ``tokens`` with room to spare (a token is
    about 0.75 of a word; asking for 80% of that leaves a model room to finish)."""
    return max(20, int(tokens * 0.6) // 10 * 10) if tokens else 0


# What a document says under a section whose text stopped at the output limit.
CUT_OFF_MARK = (
    "*[Cut off at the output limit: the model's text stops here. Raise the limit "
    "(LLM_OUTPUT_LIMITS) and Retry this stage for the rest.]*"
)


def with_cut_off_mark(text: str) -> str:
    """A section's text followed by the cut-off mark."""
    return f"{text.rstrip()}\n\n{CUT_OFF_MARK}"


@dataclass(frozen=True)
class StageSpec:
    key: str
    title: str
    # A prompt template (path relative to the pipeline's prompt folder). Empty for a
    # stage that is built without a model call (assembly).
    prompt: str = ""
    reads: tuple[str, ...] = ()
    # The input fields the stage reads itself; None: the fields its prompt names
    # (reports.pipelines.graph.inputs_read). A stage built without a model declares them.
    reads_inputs: tuple[str, ...] | None = None
    weight: float = 1.0
    max_tokens: int = 1200
    # A model for this stage only ("" = the site's model); settings can override.
    model: str = ""
    # A JSON stage's shape (reports.pipelines.structured): its validator, the schema
    # sent to the model and its documentation, declared once.
    output: builtins.type[StageOutput] | None = None
    # Validates the text and returns its parsed data (raise OutputInvalid); a stage
    # with an ``output`` model needs none.
    parse: Callable[[str], Any] | None = None
    # The offline provider's text for this stage, composed from the context.
    draft: Callable[[StageContext], str] | None = None
    # Builds the stage's text without a model (assembly).
    build: Callable[[StageContext], str] | None = None

    @property
    def calls_model(self) -> bool:
        return self.build is None

    @property
    def json_output(self) -> bool:
        """The stage answers in JSON."""
        return self.output is not None

    def parse_text(self, text: str) -> Any:
        """The stage's data from the model's text (None for a prose stage); raises
        ``OutputInvalid``."""
        if self.parse is not None:
            return self.parse(text)
        if self.output is not None:
            return parse_output(self.output, text)
        return None


@dataclass(frozen=True)
class Pipeline:
    type: str
    title: str
    job_model: builtins.type[BaseJob]
    input_schema: builtins.type[BaseModel]
    stages: tuple[StageSpec, ...]
    prompt_dir: Path
    system_prompt: str = "system.txt"
    # The brief (a template of the job's inputs). With one, prompts are laid out
    # stable part first, for the providers' prompt caches: the brief, then the outputs
    # the stage reads in pipeline order, then the stage's own template (its
    # instruction) last. Without one, the stage's template is the whole prompt.
    brief_prompt: str = ""
    description: str = ""
    # The job type's list page (a URL name) and its label in the site's navigation.
    list_url_name: str = ""
    nav_label: str = ""
    nav_order: int = 100
    _engine: list[Engine] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = [spec.key for spec in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"Pipeline {self.type!r} has duplicate stage keys")
        for position, spec in enumerate(self.stages):
            unknown = [key for key in spec.reads if key not in keys[:position]]
            if unknown:
                raise ValueError(f"Stage {spec.key!r} reads {unknown}, not earlier stages")

    def stage(self, key: str) -> StageSpec:
        for spec in self.stages:
            if spec.key == key:
                return spec
        raise KeyError(key)

    @property
    def engine(self) -> Engine:
        if not self._engine:
            self._engine.append(Engine(dirs=[str(self.prompt_dir)], autoescape=False))
        return self._engine[0]

    def prompt_parts(self, spec: StageSpec, context: StageContext) -> tuple[tuple[str, ...], str]:
        """The stage's prompt as (stable parts, instruction): the stable parts are the
        same for every stage that reads the same things, so a prompt cache can keep them."""
        instruction = self.render(spec.prompt, context)
        if not self.brief_prompt:
            return (), instruction
        parts = [self.render(self.brief_prompt, context)]
        earlier = [
            {"title": other.title, "json": other.json_output,
             "text": context.outputs.get(other.key, "").strip()}
            for other in self.stages
            if other.key in spec.reads
        ]
        if earlier:
            template = _core_prompts().get_template("earlier_outputs.txt")
            parts.append(template.render(Context({"outputs": earlier}, autoescape=False)).strip())
        return tuple(parts), instruction

    def render(self, template_name: str, context: StageContext) -> str:
        template = self.engine.get_template(template_name)
        return template.render(Context(context.as_template_context(), autoescape=False)).strip()


@functools.cache
def _core_prompts() -> Engine:
    return Engine(dirs=[str(Path(__file__).resolve().parent / "prompts")], autoescape=False)


def parse_json_object(text: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse a JSON object (a fenced code block is fine) that has ``required`` keys."""
    value = loads(text)
    if not isinstance(value, dict):
        raise OutputInvalid("expected a JSON object")
    missing = [key for key in required if key not in value]
    if missing:
        raise OutputInvalid(f"the JSON object lacks {', '.join(missing)}")
    return value


def parse_json_list(text: str, item_keys: tuple[str, ...] = (), min_items: int = 1) -> list[Any]:
    """Parse a JSON list of objects with ``item_keys`` (or an object holding one list)."""
    value = loads(text)
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if not isinstance(value, list) or len(value) < min_items:
        raise OutputInvalid(f"expected a JSON list of at least {min_items} items")
    for index, item in enumerate(value):
        if not isinstance(item, dict) or any(key not in item for key in item_keys):
            raise OutputInvalid(f"item {index + 1} must be an object with {', '.join(item_keys)}")
    return value
