"""Every setting the core reads, parsed once into one typed object.

``reportsite/settings.py`` reads the environment (each variable declared once, with
its meaning, in ``reportsite/variables.py``); this turns those values into what the
code uses (``config().stage_models``, ``config().stream_budget_usd`` ...). The core
reads settings only through it. The system checks read the same object, so a value
the check accepts is the value the engine and the estimates use. The object is
rebuilt when a test changes a setting (Django's ``setting_changed`` signal).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

# Short names for the runner backends (``STREAM_RUNNER``); a dotted path works too.
RUNNER_ALIASES = {
    "embedded": "reports.runtime.runners.embedded.EmbeddedRunner",
    "celery": "reports.runtime.runners.celery.CeleryRunner",
    "manual": "reports.runtime.runners.base.ManualRunner",
}


def parse_stage_models(raw: str) -> tuple[dict[str, str], list[str]]:
    """``"report:outline=a, starmap:risks=b"`` -> ``{"report:outline": "a", ...}`` and
    the items that are not ``type:stage=model``."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        target, _, model = item.partition("=")
        job_type, _, stage = target.strip().partition(":")
        if not (job_type.strip() and stage.strip() and model.strip()):
            problems.append(item)
            continue
        found[f"{job_type.strip()}:{stage.strip()}"] = model.strip()
    return found, problems


def parse_pricing(raw: Mapping[str, Any]) -> tuple[dict[str, tuple[Decimal, ...]], list[str]]:
    """``LLM_PRICING`` with every price a Decimal: ``(input, output)`` or ``(input,
    output, cached input, cache write)``; and the models whose prices are not that."""
    found: dict[str, tuple[Decimal, ...]] = {}
    problems: list[str] = []
    for model, prices in raw.items():
        try:
            values = tuple(Decimal(str(value)) for value in prices)
        except (TypeError, InvalidOperation):
            values = ()
        if not 2 <= len(values) <= 4 or not all(v.is_finite() and v >= 0 for v in values):
            problems.append(model)
            continue
        found[model] = values
    return found, problems


def parse_prices(raw: str) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """``LLM_PRICES`` (``"my-model=0.5/1.5,other=1/2/0.1/1.25"``) as ``LLM_PRICING``
    entries, and the items that are not ``model=input/output[/cached[/write]]``."""
    found: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        model, _, prices = item.rpartition("=")
        if not model.strip() or not prices.strip():
            problems.append(item)
            continue
        found[model.strip()] = tuple(price.strip() for price in prices.split("/"))
    return found, problems


def parse_output_limits(raw: str) -> tuple[dict[str, int], list[str]]:
    """``"report:sections=800"`` -> ``{"report:sections": 800}`` and the bad items."""
    found: dict[str, int] = {}
    problems: list[str] = []
    targets, bad = parse_stage_models(raw)
    problems += bad
    for target, value in targets.items():
        if value.isdigit() and int(value) > 0:
            found[target] = int(value)
        else:
            problems.append(f"{target}={value}")
    return found, problems


def parse_budget(raw: Any) -> Decimal | None:
    """A positive amount of USD, or None for no budget; ValueError otherwise."""
    if raw in (None, ""):
        return None
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{raw!r} is not a positive amount")
    return amount


@dataclass(frozen=True)
class Config:
    """The core's settings, typed. ``problems`` lists values that could not be parsed
    (the system checks report them; the code then runs with the default). What each
    one means: its variable in ``reportsite/variables.py``."""

    # Models and providers
    llm_provider: str
    llm_model: str
    # Keys never appear in a repr (logs, tracebacks).
    openai_api_key: str = field(repr=False)
    openai_base_url: str
    anthropic_api_key: str = field(repr=False)
    anthropic_base_url: str
    stage_models: Mapping[str, str]
    # (input, output) or (input, output, cached input, cache write), USD per million.
    pricing: Mapping[str, tuple[Decimal, ...]]
    offline_tokens_per_second: float
    offline_faults: str
    offline_model_header: bool
    # The local provider (a GGUF model in this process) and every model's limits
    local_model_path: str
    local_model_context: int
    local_model_threads: int
    output_limits: Mapping[str, int]
    output_scale: float
    continuations: int
    context_tokens: int
    # Structured output and prompt caching
    openai_structured_output: bool
    anthropic_structured_output: bool
    structured_output_off_models: frozenset[str]
    openai_prompt_cache_key: bool
    # LLM_STREAM_PARSER=lean
    lean_streaming: bool
    read_interval_seconds: float
    anthropic_prompt_caching: bool
    # Retries and time limits
    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    invalid_output_reasks: int
    connect_timeout_seconds: float
    first_token_timeout_seconds: float
    idle_timeout_seconds: float
    total_timeout_seconds: float
    # Costs
    stream_budget_usd: Decimal | None
    # Runners, leases, recovery
    stream_runner: str
    embedded_runner_threads: int
    lease_ttl_seconds: float
    lease_heartbeat_seconds: float
    sweep_interval_seconds: float
    # Live updates
    redis_url: str
    delta_coalesce_seconds: float
    checkpoint_seconds: float
    live_idle_check_seconds: float
    eta_history_cache_seconds: float
    event_log_maxlen: int
    sse_heartbeat_seconds: float
    access_recheck_seconds: float
    # Limits and fair sharing (0: no limit)
    streams_per_user_per_minute: int
    max_active_streams_per_user: int
    snapshot_requests_per_minute: int
    # Webhooks and e-mail notices
    webhook_allow_private: bool
    webhook_max_attempts: int
    webhook_backoff_base_seconds: float
    webhook_backoff_max_seconds: float
    webhook_timeout_seconds: float
    site_url: str
    # Request bodies over this are refused before a view runs (None: no limit).
    upload_max_bytes: int | None
    problems: tuple[tuple[str, str], ...] = field(default=())

    def model_for(self, job_type: str, stage_key: str, stage_model: str = "") -> str:
        """The model a stage uses: ``LLM_STAGE_MODELS``, else the pipeline's own choice,
        else ``LLM_MODEL`` ("" = the provider's default)."""
        return self.stage_models.get(f"{job_type}:{stage_key}") or stage_model or self.llm_model

    def output_limit(self, job_type: str, stage_key: str, default: int) -> int:
        """A stage's output limit in tokens: ``LLM_OUTPUT_LIMITS`` or its pipeline's,
        times ``LLM_OUTPUT_SCALE`` (never under 16)."""
        limit = self.output_limits.get(f"{job_type}:{stage_key}", default)
        return max(16, round(limit * self.output_scale))

    def structured_output_off(self, model: str) -> bool:
        """``LLM_STRUCTURED_OUTPUT_OFF`` names ``model`` (or its family: ``llama3`` covers
        ``llama3-8b``): its JSON stages use the fallback."""
        return any(
            model == name or model.startswith(name + "-") or model.startswith(name + ":")
            for name in self.structured_output_off_models
        )


def _build() -> Config:
    problems: list[tuple[str, str]] = []
    stage_models, bad_items = parse_stage_models(settings.LLM_STAGE_MODELS)
    problems += [
        ("LLM_STAGE_MODELS", f"item {item!r} is not 'type:stage=model'") for item in bad_items
    ]
    try:
        budget = parse_budget(settings.STREAM_BUDGET_USD)
    except ValueError as exc:
        problems.append(("STREAM_BUDGET_USD", f"{exc} in USD"))
        budget = None
    extra_prices, bad_extra = parse_prices(settings.LLM_PRICES)
    problems += [
        ("LLM_PRICES", f"item {item!r} is not 'model=input/output[/cached[/write]]'")
        for item in bad_extra
    ]
    pricing, bad_prices = parse_pricing({**settings.LLM_PRICING, **extra_prices})
    problems += [
        ("LLM_PRICES" if model in extra_prices else "LLM_PRICING",
         f"for {model!r} needs 2 to 4 prices of 0 or more (input, output, "
         "cached input, cache write)") for model in bad_prices
    ]
    parser = str(settings.LLM_STREAM_PARSER).strip().lower()
    if parser not in ("lean", "sdk"):
        problems.append(("LLM_STREAM_PARSER", f"{parser!r} is not lean or sdk"))
    runner = settings.STREAM_RUNNER
    output_limits, bad_limits = parse_output_limits(settings.LLM_OUTPUT_LIMITS)
    problems += [
        ("LLM_OUTPUT_LIMITS", f"item {item!r} is not 'type:stage=tokens'") for item in bad_limits
    ]
    scale = float(settings.LLM_OUTPUT_SCALE)
    if not scale > 0:
        problems.append(("LLM_OUTPUT_SCALE", f"{scale!r} is not a number above 0"))
        scale = 1.0
    return Config(
        llm_provider=settings.LLM_PROVIDER,
        llm_model=settings.LLM_MODEL.strip(),
        openai_api_key=str(settings.OPENAI_API_KEY).strip(),
        openai_base_url=str(settings.OPENAI_BASE_URL).strip(),
        anthropic_api_key=str(settings.ANTHROPIC_API_KEY).strip(),
        anthropic_base_url=str(settings.ANTHROPIC_BASE_URL).strip(),
        stage_models=MappingProxyType(stage_models),
        pricing=MappingProxyType(pricing),
        offline_tokens_per_second=float(settings.OFFLINE_TOKENS_PER_SECOND),
        offline_faults=settings.OFFLINE_FAULTS,
        offline_model_header=bool(settings.OFFLINE_MODEL_HEADER),
        local_model_path=str(settings.LOCAL_MODEL_PATH).strip(),
        local_model_context=max(0, int(settings.LOCAL_MODEL_CONTEXT)),
        local_model_threads=max(0, int(settings.LOCAL_MODEL_THREADS)),
        output_limits=MappingProxyType(output_limits),
        output_scale=scale,
        continuations=max(0, int(settings.LLM_CONTINUATIONS)),
        context_tokens=max(0, int(settings.LLM_CONTEXT_TOKENS)),
        openai_structured_output=bool(settings.OPENAI_STRUCTURED_OUTPUT),
        anthropic_structured_output=bool(settings.ANTHROPIC_STRUCTURED_OUTPUT),
        openai_prompt_cache_key=bool(settings.OPENAI_PROMPT_CACHE_KEY),
        lean_streaming=parser != "sdk",
        read_interval_seconds=max(0.0, float(settings.LLM_READ_INTERVAL_SECONDS)),
        anthropic_prompt_caching=bool(settings.ANTHROPIC_PROMPT_CACHING),
        structured_output_off_models=frozenset(
            filter(None, (name.strip() for name in settings.LLM_STRUCTURED_OUTPUT_OFF.split(",")))
        ),
        max_attempts=max(1, int(settings.LLM_MAX_ATTEMPTS)),
        backoff_base_seconds=float(settings.LLM_BACKOFF_BASE_SECONDS),
        backoff_max_seconds=float(settings.LLM_BACKOFF_MAX_SECONDS),
        invalid_output_reasks=int(settings.LLM_INVALID_OUTPUT_REASKS),
        connect_timeout_seconds=float(settings.LLM_CONNECT_TIMEOUT_SECONDS),
        first_token_timeout_seconds=float(settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS),
        idle_timeout_seconds=float(settings.LLM_IDLE_TIMEOUT_SECONDS),
        total_timeout_seconds=float(settings.LLM_TOTAL_TIMEOUT_SECONDS),
        stream_budget_usd=budget,
        stream_runner=RUNNER_ALIASES.get(runner, runner),
        embedded_runner_threads=int(settings.EMBEDDED_RUNNER_THREADS),
        lease_ttl_seconds=float(settings.LEASE_TTL_SECONDS),
        lease_heartbeat_seconds=float(settings.LEASE_HEARTBEAT_SECONDS),
        sweep_interval_seconds=float(settings.SWEEP_INTERVAL_SECONDS),
        redis_url=settings.REDIS_URL,
        delta_coalesce_seconds=float(settings.DELTA_COALESCE_SECONDS),
        checkpoint_seconds=float(settings.CHECKPOINT_SECONDS),
        live_idle_check_seconds=float(settings.LIVE_IDLE_CHECK_SECONDS),
        eta_history_cache_seconds=float(settings.ETA_HISTORY_CACHE_SECONDS),
        event_log_maxlen=int(settings.EVENT_LOG_MAXLEN),
        sse_heartbeat_seconds=float(settings.SSE_HEARTBEAT_SECONDS),
        access_recheck_seconds=max(0.05, float(settings.ACCESS_RECHECK_SECONDS)),
        streams_per_user_per_minute=max(0, int(settings.STREAMS_PER_USER_PER_MINUTE)),
        max_active_streams_per_user=max(0, int(settings.MAX_ACTIVE_STREAMS_PER_USER)),
        snapshot_requests_per_minute=max(0, int(settings.SNAPSHOT_REQUESTS_PER_MINUTE)),
        webhook_allow_private=bool(settings.WEBHOOK_ALLOW_PRIVATE),
        webhook_max_attempts=max(1, int(settings.WEBHOOK_MAX_ATTEMPTS)),
        webhook_backoff_base_seconds=max(0.0, float(settings.WEBHOOK_BACKOFF_BASE_SECONDS)),
        webhook_backoff_max_seconds=max(0.0, float(settings.WEBHOOK_BACKOFF_MAX_SECONDS)),
        webhook_timeout_seconds=max(0.1, float(settings.WEBHOOK_TIMEOUT_SECONDS)),
        site_url=str(settings.SITE_URL).rstrip("/"),
        upload_max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        problems=tuple(problems),
    )


@functools.cache
def config() -> Config:
    """The settings of this process, parsed (cached until a setting changes)."""
    return _build()


def _settings_changed(**kwargs: Any) -> None:
    config.cache_clear()


setting_changed.connect(_settings_changed)
