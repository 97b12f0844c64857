"""Settings, all from the environment (one file, no production-only branches).

Embedded default (``REDIS_URL`` unset): SQLite, in-memory channel layer, runs in a
thread pool inside the web process. Distributed (``REDIS_URL`` set): Celery workers,
the Redis channel layer and ``DATABASE_URL`` (PostgreSQL in production).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import django_stubs_ext

from reportsite.environment import env

# Lets admin and form classes be subscripted for mypy (ModelAdmin[Model]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# Every environment variable is declared once, with its type, default and meaning, in
# reportsite/variables.py (docs/configuration.md is made from it); `env` reads them.
DEBUG = env("DEBUG")
# Unset or empty: a development key (set one in production).
SECRET_KEY = env("SECRET_KEY") or "dev-insecure-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = [origin for origin in env("CSRF_TRUSTED_ORIGINS") if origin]

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
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
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
        "NAME": env("TEST_SQLITE_NAME", default=f"/tmp/reportsite-test-{os.getpid()}.sqlite3")
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One psycopg pool per process: a worker runs hundreds of streams on threads, and
    # each returns its connection between checkpoints, so a few connections serve all
    # of them (PostgreSQL allows 100 by default across every process).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env("DB_POOL_MAX_SIZE"),
        "timeout": env("DB_POOL_TIMEOUT_SECONDS"),
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
STATIC_ROOT = env("STATIC_ROOT")
WHITENOISE_USE_FINDERS = True

# Request bodies: generous for long briefs, small enough to refuse abuse.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# The site's 403 page (JSON ``csrf_failed`` under /api/), not Django's bare one.
CSRF_FAILURE_VIEW = "reports.web.middleware.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Security (docs/security.md) ------------------------------------------------
# HTTPS=true is the one production switch.
HTTPS = env("HTTPS")
SESSION_COOKIE_SECURE = HTTPS or env("SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = env("HSTS_SECONDS") if HTTPS else 0
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

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address lock that pair out; the attempts are rows, shared by every process.
# Users are Django's, read from the cache once signed in (reports/models/users.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "reports.models.users.CachedModelBackend",
]
AXES_FAILURE_LIMIT = env("LOGIN_FAILURE_LIMIT")
AXES_COOLOFF_TIME = env("LOGIN_COOLOFF_MINUTES") / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Live updates and runners ---------------------------------------------------------
REDIS_URL = env("REDIS_URL")
CHANNEL_LAYER_PREFIX = env("CHANNEL_LAYER_PREFIX")

# The cache holds per-user counters (rate limits) and sessions: shared through Redis
# when there is one, per process otherwise (the embedded default is one process).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": CHANNEL_LAYER_PREFIX,
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
                        "max_connections": env("CHANNEL_LAYER_MAX_CONNECTIONS"),
                    }
                ],
                # Deltas are coalesced (~10 messages/s per running stage), so 1,000
                # leaves a slow watcher 100 s before anything is dropped; a gap is
                # repaired with a snapshot anyway.
                "capacity": 1000,
                "expiry": 60,
                "prefix": CHANNEL_LAYER_PREFIX,
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

STREAM_RUNNER = env("STREAM_RUNNER", default="celery" if REDIS_URL else "embedded")
EMBEDDED_RUNNER_THREADS = env("EMBEDDED_RUNNER_THREADS")
LEASE_TTL_SECONDS = env("LEASE_TTL_SECONDS")
LEASE_HEARTBEAT_SECONDS = env("LEASE_HEARTBEAT_SECONDS")
SWEEP_INTERVAL_SECONDS = env("SWEEP_INTERVAL_SECONDS")
LIVE_IDLE_CHECK_SECONDS = env("LIVE_IDLE_CHECK_SECONDS")
ACCESS_RECHECK_SECONDS = env("ACCESS_RECHECK_SECONDS")
ETA_HISTORY_CACHE_SECONDS = env("ETA_HISTORY_CACHE_SECONDS")
DELTA_COALESCE_SECONDS = env("DELTA_COALESCE_SECONDS")
# Between reads the kernel keeps the bytes, so one read takes several tokens.
LLM_READ_INTERVAL_SECONDS = env("LLM_READ_INTERVAL_SECONDS", default=DELTA_COALESCE_SECONDS / 2)
CHECKPOINT_SECONDS = env("CHECKPOINT_SECONDS")
# Server-Sent Events (Last-Event-ID replay and keep-alives).
EVENT_LOG_MAXLEN = env("EVENT_LOG_MAXLEN")
SSE_HEARTBEAT_SECONDS = env("SSE_HEARTBEAT_SECONDS")

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
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE")
# Streams are I/O-bound and last minutes: many per process. The Procfile runs
# `--pool gevent` (cheapest per stream, bench/results/).
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL")
CELERY_WORKER_CONCURRENCY = env("CELERY_WORKER_CONCURRENCY")
# The lease, not the broker, decides who runs a stream. An unacked task is handed out
# again after visibility_timeout; the second copy finds the lease live (or the stream
# finished) and returns at once, so redelivery is harmless, and it is never needed
# for recovery: the beat sweeper re-enqueues a dead worker's streams after
# LEASE_TTL_SECONDS. So the timeout is long (1 h, longer than a normal stream), to
# keep redeliveries rare, not short to make recovery fast.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env("CELERY_VISIBILITY_TIMEOUT")
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
LLM_PROVIDER = env("LLM_PROVIDER")
LLM_MODEL = env("LLM_MODEL")
OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_BASE_URL = env("OPENAI_BASE_URL")
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL")
OFFLINE_TOKENS_PER_SECOND = env("OFFLINE_TOKENS_PER_SECOND")
OFFLINE_FAULTS = env("OFFLINE_FAULTS")
OFFLINE_MODEL_HEADER = env("OFFLINE_MODEL_HEADER")
# Retry policy for transient provider errors, and time limits of one model call.
LLM_MAX_ATTEMPTS = env("LLM_MAX_ATTEMPTS")
LLM_BACKOFF_BASE_SECONDS = env("LLM_BACKOFF_BASE_SECONDS")
LLM_BACKOFF_MAX_SECONDS = env("LLM_BACKOFF_MAX_SECONDS")
LLM_INVALID_OUTPUT_REASKS = env("LLM_INVALID_OUTPUT_REASKS")
LLM_CONNECT_TIMEOUT_SECONDS = env("LLM_CONNECT_TIMEOUT_SECONDS")
LLM_FIRST_TOKEN_TIMEOUT_SECONDS = env("LLM_FIRST_TOKEN_TIMEOUT_SECONDS")
LLM_IDLE_TIMEOUT_SECONDS = env("LLM_IDLE_TIMEOUT_SECONDS")
LLM_TOTAL_TIMEOUT_SECONDS = env("LLM_TOTAL_TIMEOUT_SECONDS")
LLM_STAGE_MODELS = env("LLM_STAGE_MODELS")
# Structured output: a model that refuses the schema at run time falls back by itself
# to instructions, validation and re-ask.
OPENAI_STRUCTURED_OUTPUT = env("OPENAI_STRUCTURED_OUTPUT")
ANTHROPIC_STRUCTURED_OUTPUT = env("ANTHROPIC_STRUCTURED_OUTPUT")
LLM_STRUCTURED_OUTPUT_OFF = env("LLM_STRUCTURED_OUTPUT_OFF")
# Prompt caching: prompts put their stable part first (system, brief, earlier outputs).
OPENAI_PROMPT_CACHE_KEY = env("OPENAI_PROMPT_CACHE_KEY")
ANTHROPIC_PROMPT_CACHING = env("ANTHROPIC_PROMPT_CACHING")
LLM_STREAM_PARSER = env("LLM_STREAM_PARSER")

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
STREAM_BUDGET_USD = env("STREAM_BUDGET_USD")

# --- A local model, output limits, context and prices (docs/local-model.md) ---------
LOCAL_MODEL_PATH = env("LOCAL_MODEL_PATH")
LOCAL_MODEL_CONTEXT = env("LOCAL_MODEL_CONTEXT")
LOCAL_MODEL_THREADS = env("LOCAL_MODEL_THREADS")
LLM_OUTPUT_LIMITS = env("LLM_OUTPUT_LIMITS")
LLM_OUTPUT_SCALE = env("LLM_OUTPUT_SCALE")
LLM_CONTINUATIONS = env("LLM_CONTINUATIONS")
LLM_CONTEXT_TOKENS = env("LLM_CONTEXT_TOKENS")
LLM_PRICES = env("LLM_PRICES")

# --- Limits and fair sharing (docs/security.md; 0 turns a limit off) ---------------
STREAMS_PER_USER_PER_MINUTE = env("STREAMS_PER_USER_PER_MINUTE")
MAX_ACTIVE_STREAMS_PER_USER = env("MAX_ACTIVE_STREAMS_PER_USER")
SNAPSHOT_REQUESTS_PER_MINUTE = env("SNAPSHOT_REQUESTS_PER_MINUTE")

# --- Webhooks and e-mail notices (docs/webhooks-and-email.md) -----------
WEBHOOK_ALLOW_PRIVATE = env("WEBHOOK_ALLOW_PRIVATE")
WEBHOOK_MAX_ATTEMPTS = env("WEBHOOK_MAX_ATTEMPTS")
WEBHOOK_BACKOFF_BASE_SECONDS = env("WEBHOOK_BACKOFF_BASE_SECONDS")
WEBHOOK_BACKOFF_MAX_SECONDS = env("WEBHOOK_BACKOFF_MAX_SECONDS")
WEBHOOK_TIMEOUT_SECONDS = env("WEBHOOK_TIMEOUT_SECONDS")
SITE_URL = env("SITE_URL").rstrip("/")
EMAIL_BACKEND = env("EMAIL_BACKEND")
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_PORT = env("EMAIL_PORT")
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env("EMAIL_USE_TLS")
EMAIL_USE_SSL = env("EMAIL_USE_SSL")
EMAIL_TIMEOUT = env("EMAIL_TIMEOUT")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
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
