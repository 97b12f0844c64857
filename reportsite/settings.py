"""Settings, all from the environment (one file, no production-only branches).

Embedded default (``REDIS_URL`` unset): SQLite, in-memory channel layer, runs in a
thread pool inside the web process. Distributed (``REDIS_URL`` set): Celery workers,
the Redis channel layer and ``DATABASE_URL`` (PostgreSQL in production).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
import django_stubs_ext

# Lets admin and form classes be subscripted for mypy (ModelAdmin[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


DEBUG = env_bool("DEBUG", default=False)
# Without SECRET_KEY a development key is used; set one in production.
SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-insecure-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    # Serves Swagger UI for /api/docs from our own static files, not a CDN.
    "ninja",
    "axes",
    "django_htmx",
    "template_partials",
    "reports",
    "reports.client_report",
    "starmap",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body, the session cookie or the URL (docs/security.md).
    "reports.web.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "reports.web.middleware.PrivatePagesMiddleware",
    # Last: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reportsite.urls"
ASGI_APPLICATION = "reportsite.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reports.web.context_processors.job_types",
            ],
            # The core's template tags live with the pages (reports/web/).
            "libraries": {"reports_extras": "reports.web.templatetags.reports_extras"},
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Runner threads write while the web thread reads: WAL and a busy timeout keep
    # SQLite from answering "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Browser and subprocess tests need a file-backed test database.
    DATABASES["default"]["TEST"] = {
        # One file per test run, so parallel runs never share a database.
        "NAME": os.environ.get("TEST_SQLITE_NAME", f"/tmp/reportsite-test-{os.getpid()}.sqlite3")
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One psycopg pool per process: a worker runs hundreds of streams on threads, and
    # each returns its connection between checkpoints, so a few connections serve all
    # of them (PostgreSQL allows 100 by default across every process).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "10")),
        "timeout": env_float("DB_POOL_TIMEOUT_SECONDS", 30.0),
    }
    # One test database per test run, so runs sharing a server never meet.
    DATABASES["default"]["TEST"] = {"NAME": f"test_reportsite_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "client_report:job_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only needed for `collectstatic`; WhiteNoise serves files from the apps directly.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

# Request bodies: generous for long briefs, small enough to refuse abuse.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Security (docs/security.md) -------------------------------------------------
# HTTPS=true: the site is served behind TLS. The one production switch: HSTS, the
# redirect to https and cookies sent only over it (the proxy sets X-Forwarded-Proto).
HTTPS = env_bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS or env_bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# The health check answers load balancers over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): everything from this origin, no inline script,
# nothing from anywhere else. Progress bars set their width in a style attribute.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login throttling (django-axes): 5 wrong passwords for one username from one address
# lock that pair out for 15 minutes; the attempts are rows, shared by every process.
# Users are Django's, read from the cache once signed in (reports/models/users.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "reports.models.users.CachedModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = env_float("LOGIN_COOLOFF_MINUTES", 15.0) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Live updates and runners ---------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

# The cache holds per-user counters (rate limits) and sessions: shared through Redis
# when there is one, per process otherwise (the embedded default is one process).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
          "OPTIONS": {"MAX_ENTRIES": 10_000}}
}
# Sessions are read from the cache and written through to the database: a WebSocket
# handshake then makes no session query (a reconnect storm is a thousand handshakes).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "reports.events.channel_layer.BatchedRedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times reads out after 5 s by default, exactly the 5 s
                # BZPOPMIN that channels_redis blocks on: receives then fail at random
                # ("Timeout reading from ...", the socket closes with 1011). Wait longer.
                # Its asyncio pool also refuses (MaxConnectionsError) past 100
                # connections, one per command in flight: a web process with hundreds
                # of sockets joining groups at once needs more.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "max_connections": int(
                            os.environ.get("CHANNEL_LAYER_MAX_CONNECTIONS", "1000")
                        ),
                    }
                ],
                # Deltas are coalesced (~10 messages/s per running stage), so 1,000
                # leaves a slow watcher 100 s before anything is dropped; a gap is
                # repaired with a snapshot anyway.
                "capacity": 1000,
                "expiry": 60,
                # Sites (or test runs) sharing one Redis keep apart by prefix.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }

# "embedded": a thread pool in the web process; "celery": Celery workers.
STREAM_RUNNER = os.environ.get("STREAM_RUNNER", "celery" if REDIS_URL else "embedded")
# Threads of the embedded runner's pool (streams running at once per web process).
EMBEDDED_RUNNER_THREADS = int(os.environ.get("EMBEDDED_RUNNER_THREADS", "16"))
# A runner renews its lease every LEASE_HEARTBEAT_SECONDS; a lease not renewed for
# LEASE_TTL_SECONDS is expired and the stream is recovered by the sweeper.
LEASE_TTL_SECONDS = env_float("LEASE_TTL_SECONDS", 15.0)
LEASE_HEARTBEAT_SECONDS = env_float("LEASE_HEARTBEAT_SECONDS", 1.0)
SWEEP_INTERVAL_SECONDS = env_float("SWEEP_INTERVAL_SECONDS", 5.0)
# A socket that has heard nothing of an active stream for this long checks the database
# (so a final event the channel layer dropped still reaches the page).
LIVE_IDLE_CHECK_SECONDS = env_float("LIVE_IDLE_CHECK_SECONDS", 5.0)
# How long a process reuses the stage-duration history behind time-remaining estimates.
ETA_HISTORY_CACHE_SECONDS = env_float("ETA_HISTORY_CACHE_SECONDS", 30.0)
# How often token deltas are published and partial text checkpointed.
DELTA_COALESCE_SECONDS = env_float("DELTA_COALESCE_SECONDS", 0.1)
# A model's connection is read at most once per this many seconds: deltas go out once
# per DELTA_COALESCE_SECONDS anyway, and between reads the kernel keeps the bytes, so
# one read takes several tokens. 0 reads as soon as anything arrives.
LLM_READ_INTERVAL_SECONDS = env_float("LLM_READ_INTERVAL_SECONDS", DELTA_COALESCE_SECONDS / 2)
CHECKPOINT_SECONDS = env_float("CHECKPOINT_SECONDS", 1.0)
# Server-Sent Events: the last events kept per stream for clients that reconnect with
# Last-Event-ID (in memory, or a Redis stream with REDIS_URL), and how often an idle
# connection gets a keep-alive comment.
EVENT_LOG_MAXLEN = int(os.environ.get("EVENT_LOG_MAXLEN", "1000"))
SSE_HEARTBEAT_SECONDS = env_float("SSE_HEARTBEAT_SECONDS", 15.0)

# --- Celery (distributed mode) -------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A killed worker's streams are recovered by the sweeper (beat), never by requeueing:
# reject_on_worker_lost can requeue a poison task forever (it only matters for prefork).
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# The queue name (one per site or test run sharing a Redis).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# Streams are I/O-bound and last minutes: many per process. The Procfile runs
# `--pool gevent` (cheapest per stream, bench/results/); gevent must be named on the
# command line (Celery monkey-patches before anything is imported), so the fallback
# for a worker started without --pool is threads, which needs no patching.
CELERY_WORKER_POOL = os.environ.get("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = int(os.environ.get("CELERY_WORKER_CONCURRENCY", "200"))
# The lease, not the broker, decides who runs a stream. An unacked task is handed out
# again after visibility_timeout; the second copy finds the lease live (or the stream
# finished) and returns at once, so redelivery is harmless, and it is never needed
# for recovery: the beat sweeper re-enqueues a dead worker's streams after
# LEASE_TTL_SECONDS. So the timeout is long (1 h, longer than a normal stream), to
# keep redeliveries rare, not short to make recovery fast.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
}
# A lost broker connection must not cancel running streams: they own their leases.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-streams": {
        "task": "reports.tasks.sweep_stale_streams",
        "schedule": SWEEP_INTERVAL_SECONDS,
    },
    # Webhook deliveries and e-mail notices that are due (retries, and any a dead
    # worker left behind).
    "send-due-notifications": {
        "task": "reports.tasks.send_due_notifications",
        "schedule": SWEEP_INTERVAL_SECONDS,
    },
}

# --- Language models -------------------------------------------------------------
LLM_PROVIDER = os.environ.get("LLM_PROVIDER", "offline")
LLM_MODEL = os.environ.get("LLM_MODEL", "")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL", "")
# Offline provider: tokens per second it streams at (a whole report in ~10-20 s).
OFFLINE_TOKENS_PER_SECOND = env_float("OFFLINE_TOKENS_PER_SECOND", 90.0)
# Fault injection for demos, e.g. "outline:429:2,section_drafts:cut:1,summary:slow:5".
OFFLINE_FAULTS = os.environ.get("OFFLINE_FAULTS", "")
# Retry policy for transient provider errors (429, 5xx, timeouts, cut streams).
LLM_MAX_ATTEMPTS = int(os.environ.get("LLM_MAX_ATTEMPTS", "4"))
LLM_BACKOFF_BASE_SECONDS = env_float("LLM_BACKOFF_BASE_SECONDS", 1.0)
LLM_BACKOFF_MAX_SECONDS = env_float("LLM_BACKOFF_MAX_SECONDS", 30.0)
# How many times a stage whose output fails validation is re-asked.
LLM_INVALID_OUTPUT_REASKS = int(os.environ.get("LLM_INVALID_OUTPUT_REASKS", "1"))
LLM_CONNECT_TIMEOUT_SECONDS = env_float("LLM_CONNECT_TIMEOUT_SECONDS", 10.0)
LLM_FIRST_TOKEN_TIMEOUT_SECONDS = env_float("LLM_FIRST_TOKEN_TIMEOUT_SECONDS", 60.0)
LLM_IDLE_TIMEOUT_SECONDS = env_float("LLM_IDLE_TIMEOUT_SECONDS", 30.0)
LLM_TOTAL_TIMEOUT_SECONDS = env_float("LLM_TOTAL_TIMEOUT_SECONDS", 600.0)
# Per-stage model overrides: "report:outline=gpt-4o-mini,starmap:risks=gpt-4o".
LLM_STAGE_MODELS = os.environ.get("LLM_STAGE_MODELS", "")
# Structured output: JSON stages send their schema (OpenAI response_format json_schema,
# Anthropic a forced tool). Off, or for the models listed in LLM_STRUCTURED_OUTPUT_OFF
# (comma-separated; a family name covers its versions), they fall back to instructions,
# validation and re-ask. A model that refuses the schema at run time falls back by itself.
OPENAI_STRUCTURED_OUTPUT = env_bool("OPENAI_STRUCTURED_OUTPUT", default=True)
ANTHROPIC_STRUCTURED_OUTPUT = env_bool("ANTHROPIC_STRUCTURED_OUTPUT", default=True)
LLM_STRUCTURED_OUTPUT_OFF = os.environ.get("LLM_STRUCTURED_OUTPUT_OFF", "")
# Prompt caching: prompts put their stable part first (system, brief, earlier outputs);
# OpenAI requests carry prompt_cache_key (the stream's id), Anthropic requests mark the
# stable prefix with cache_control breakpoints. Turn either off here.
OPENAI_PROMPT_CACHE_KEY = env_bool("OPENAI_PROMPT_CACHE_KEY", default=True)
ANTHROPIC_PROMPT_CACHING = env_bool("ANTHROPIC_PROMPT_CACHING", default=True)
# How model streams are read: "lean" (the raw body's server-sent events parsed with
# orjson into plain dicts) or "sdk" (the SDKs' streams, a pydantic object per chunk).
LLM_STREAM_PARSER = os.environ.get("LLM_STREAM_PARSER", "lean")

# USD per million tokens: (input, output) or (input, output, cached input, cache write).
# Cached input tokens are priced at the cached rate and tokens written to a prompt
# cache at the cache-write rate; without those two, both are priced as input. Add a
# model by adding a line; a model that is not here shows its cost as unknown, never zero.
LLM_PRICING: dict[str, tuple[Decimal, ...]] = {
    "offline": (Decimal("0"), Decimal("0")),
    # OpenAI: cached input at a discount, no charge for writing the cache.
    "gpt-4o": (Decimal("2.50"), Decimal("10.00"), Decimal("1.25"), Decimal("2.50")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"), Decimal("0.075"), Decimal("0.15")),
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00"), Decimal("0.50"), Decimal("2.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60"), Decimal("0.10"), Decimal("0.40")),
    "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.40"), Decimal("0.025"), Decimal("0.10")),
    # Anthropic: cache reads at 0.1x input, cache writes (5-minute) at 1.25x.
    "claude-sonnet-4-5": (Decimal("3.00"), Decimal("15.00"), Decimal("0.30"), Decimal("3.75")),
    "claude-haiku-4-5": (Decimal("1.00"), Decimal("5.00"), Decimal("0.10"), Decimal("1.25")),
    "claude-opus-4-1": (Decimal("15.00"), Decimal("75.00"), Decimal("1.50"), Decimal("18.75")),
}
# Budget per stream in USD (empty: none); a job may override it.
STREAM_BUDGET_USD = os.environ.get("STREAM_BUDGET_USD", "")

# --- Limits and fair sharing (docs/security.md; 0 turns a limit off) ---------------
# New streams one user may start per minute; over it the API answers 429.
STREAMS_PER_USER_PER_MINUTE = int(os.environ.get("STREAMS_PER_USER_PER_MINUTE", "20"))
# Streams of one user that run at once; more wait their turn (queue_position).
MAX_ACTIVE_STREAMS_PER_USER = int(os.environ.get("MAX_ACTIVE_STREAMS_PER_USER", "3"))
# Snapshot requests one socket may send per minute.
SNAPSHOT_REQUESTS_PER_MINUTE = int(os.environ.get("SNAPSHOT_REQUESTS_PER_MINUTE", "30"))

# --- Webhooks and e-mail notices (docs/webhooks-and-email.md) ----------------------
# Webhook targets on private, loopback, link-local or reserved addresses are refused
# (they would let an API client probe the site's own network) unless this is set.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# A delivery that is not answered 2xx is tried again after 10 s, 20 s, 40 s ... (doubling,
# at most WEBHOOK_BACKOFF_MAX_SECONDS apart), WEBHOOK_MAX_ATTEMPTS times in all.
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_BACKOFF_BASE_SECONDS = env_float("WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Links in e-mails point here (the site as its users reach it).
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")
# Django's e-mail settings from the environment; the console backend prints mail.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Reportsite <reports@localhost>")

# --- Input limits (docs/security.md, "Input limits") -----------------------------
JOB_TITLE_MAX_LENGTH = 200
JOB_FIELD_MAX_LENGTH = 4000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # what openai 3.x and anthropic 2.x use
        "openai": {"level": "WARNING"},
        "anthropic": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # PDF exports: WeasyPrint narrates every step and every CSS property it skips.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
    },
}
