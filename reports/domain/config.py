"""Every setting the core reads, parsed once into one typed object.

``reportsite/settings.py`` reads the environment; this turns those raw values into
what the code uses (``config().stage_models``, ``config().stream_budget_usd`` ...).
The system checks read the same object, so a value the check accepts is the value
the engine and the estimates use. The object is rebuilt when a test changes a
setting (Django's ``setting_changed`` signal).
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
    (the system checks report them; the code then runs with the default)."""

    # Models and providers
    llm_provider: str
    llm_model: str
    stage_models: Mapping[str, str]
    pricing: Mapping[str, tuple[Decimal, Decimal]]
    offline_tokens_per_second: float
    offline_faults: str
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
    # Limits and fair sharing (0: no limit)
    streams_per_user_per_minute: int
    max_active_streams_per_user: int
    snapshot_requests_per_minute: int
    problems: tuple[tuple[str, str], ...] = field(default=())

    def model_for(self, job_type: str, stage_key: str, stage_model: str = "") -> str:
        """The model a stage uses: ``LLM_STAGE_MODELS``, else the pipeline's own choice,
        else ``LLM_MODEL`` ("" = the provider's default)."""
        return self.stage_models.get(f"{job_type}:{stage_key}") or stage_model or self.llm_model


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
    runner = settings.STREAM_RUNNER
    return Config(
        llm_provider=settings.LLM_PROVIDER,
        llm_model=settings.LLM_MODEL.strip(),
        stage_models=MappingProxyType(stage_models),
        pricing=MappingProxyType(dict(settings.LLM_PRICING)),
        offline_tokens_per_second=float(settings.OFFLINE_TOKENS_PER_SECOND),
        offline_faults=settings.OFFLINE_FAULTS,
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
        streams_per_user_per_minute=max(0, int(settings.STREAMS_PER_USER_PER_MINUTE)),
        max_active_streams_per_user=max(0, int(settings.MAX_ACTIVE_STREAMS_PER_USER)),
        snapshot_requests_per_minute=max(0, int(settings.SNAPSHOT_REQUESTS_PER_MINUTE)),
        problems=tuple(problems),
    )


@functools.cache
def config() -> Config:
    """The settings of this process, parsed (cached until a setting changes)."""
    return _build()


def _settings_changed(**kwargs: Any) -> None:
    config.cache_clear()


setting_changed.connect(_settings_changed)
