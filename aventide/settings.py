"""The one settings module, driven by the environment.

Every variable is documented in `.env.example` and docs/operations/configuration.md.
Entry points call `aventide.core.env.validate_env()` before importing this module, so in
production a missing variable never gets here; development and test fill safe local
defaults so `make run` needs no environment at all.
"""

from __future__ import annotations

import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ

from aventide.core.env import (
    DEFAULT_DB_POOL_TIMEOUT_SECONDS,
    asgi_threads,
    current_environment,
    db_pool_sizes,
    parse_key_ring,
    parse_prefix_limits,
    parse_trusted_proxies,
    vapid_subject,
)
from aventide.core.logging import build_logging_config

django_stubs_ext.monkeypatch()  # runtime generics for ModelAdmin[...], QuerySet[...] etc.

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AVENTIDE_VAR_DIR", BASE_DIR / "var"))

if "AVENTIDE_ENV" not in os.environ and "pytest" in sys.modules:
    os.environ["AVENTIDE_ENV"] = "test"

env = environ.Env()
AVENTIDE_ENV = current_environment()
IS_PRODUCTION = AVENTIDE_ENV == "production"
IS_TEST = AVENTIDE_ENV == "test"
IS_DEVELOPMENT = AVENTIDE_ENV == "development"

DEBUG = env.bool("DEBUG", default=IS_DEVELOPMENT)
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-secret-key-never-use-in-production-0001")
ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "guardian",
    # core domain (aventide.*) and the top-level apps, in dependency order
    "aventide.markets",
    "aventide.accounts",
    "aventide.ops",
    "audit",
    "realtime",
    "integrations",
    "aventide.ledger",
    "aventide.orders",
    "messaging",
    "support",
    "aventide",  # composition root: project-wide commands such as seed_demo
]

MIDDLEWARE = [
    "aventide.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "aventide.accounts.middleware.ActorContextMiddleware",
    "aventide.core.middleware.SessionPagesMessageMiddleware",  # messages outside /api/ only
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aventide.urls"
ASGI_APPLICATION = "aventide.asgi.application"
WSGI_APPLICATION = "aventide.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database --------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'aventide.sqlite3'}"),
}
_db = DATABASES["default"]
IS_POSTGRES = _db["ENGINE"].endswith("postgresql")
# Threads per ASGI process running sync views; each holds at most one connection at a time.
ASGI_THREADS: int = asgi_threads()
DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE = db_pool_sizes()
if IS_TEST and not os.environ.get("DB_POOL_MAX_SIZE", "").strip() and DB_POOL_MAX_SIZE:
    # The test process races more threads than a web process runs (tests/concurrency.py: a
    # lock holder plus waves of five); the servers tests start use the production default.
    DB_POOL_MAX_SIZE = max(DB_POOL_MAX_SIZE, 8)
# How long a request waits for a free connection before its 503. Tests run many threads
# per process (more than ASGI_THREADS would allow), so they wait longer by default.
DB_POOL_TIMEOUT_SECONDS: float = env.float(
    "DB_POOL_TIMEOUT_SECONDS", default=30.0 if IS_TEST else DEFAULT_DB_POOL_TIMEOUT_SECONDS
)
# A pooled connection handed back less than this many seconds ago, whose socket is quiet, is
# lent without the health check's round trip (aventide.core.postgres); 0: always check.
DB_POOL_CHECK_AFTER_SECONDS: float = env.float("DB_POOL_CHECK_AFTER_SECONDS", default=30.0)
if IS_POSTGRES:
    # Django's backend + pool exhaustion as a 503 in the error contract (core/postgres).
    _db["ENGINE"] = "aventide.core.postgres"
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
    # Server-side parameter binding: psycopg sends parameters apart from the SQL and prepares
    # a statement on a pooled connection after it ran it a few times, so PostgreSQL skips
    # parsing and planning the hot statements (docs/decisions/0012-request-path-cpu.md).
    _db["OPTIONS"]["server_side_binding"] = env.bool("DB_SERVER_SIDE_BINDING", default=True)
    if DB_POOL_MAX_SIZE:
        # One bounded pool per process (docs/decisions/0008-connection-pooling.md): a request
        # borrows a connection and returns it when it ends; CONN_MAX_AGE must be 0 with it.
        _db["CONN_MAX_AGE"] = 0
        _db["OPTIONS"]["pool"] = {
            "min_size": DB_POOL_MIN_SIZE,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_SECONDS,
        }
    else:
        # No pool (e.g. behind an external pgbouncer): a connection per request unless
        # DB_CONN_MAX_AGE asks to keep it (under ASGI that keeps one per request context).
        _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
else:
    # IMMEDIATE: a write transaction takes SQLite's write lock at BEGIN, so concurrent
    # writers wait (busy timeout) instead of failing with "database is locked" mid-way.
    _db.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
if os.environ.get("DATABASE_TEST_NAME"):
    _db["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, channel layer, Celery -------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
# A test process namespaces its Redis keys (cache and channel layer) with a token of its
# own, so parallel test runs (xdist workers, other checkouts) sharing one Redis never see
# or clear each other's keys.
_KEY_NAMESPACE = f"aventide:test:{uuid.uuid4().hex[:12]}" if IS_TEST else f"aventide:{AVENTIDE_ENV}"
CHANNEL_LAYER_BACKEND: str = env.str("CHANNEL_LAYER_BACKEND", default="pubsub")  # [realtime-ws]
if REDIS_URL:
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=_KEY_NAMESPACE),
            "TIMEOUT": 300,
        }
    }
    # [realtime-ws] The channel layer (docs/decisions/0015-channel-layer.md): "pubsub"
    # (channels-redis's Redis pub/sub layer, the default) or "core" (its list-based layer,
    # with per-channel CHANNEL_LAYER_CAPACITY and message CHANNEL_LAYER_EXPIRY_SECONDS).
    # Either is transport only: the event log + catchup is the delivery guarantee.
    _layer_prefix = env.str("CHANNEL_LAYER_PREFIX", default=f"{_KEY_NAMESPACE}:ch")
    if CHANNEL_LAYER_BACKEND == "core":
        CHANNEL_LAYERS: dict[str, Any] = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [REDIS_URL],
                    "prefix": _layer_prefix,
                    "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
                    "expiry": env.int("CHANNEL_LAYER_EXPIRY_SECONDS", default=60),
                    "group_expiry": env.int("CHANNEL_LAYER_GROUP_EXPIRY_SECONDS", default=86400),
                },
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL], "prefix": _layer_prefix},
            }
        }
    # [/realtime-ws]
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER: bool = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=IS_TEST or not CELERY_BROKER_URL
)
CELERY_TASK_EAGER_PROPAGATES = True
# Best-effort after-commit effects (outbox publishes to a real broker, live channel-layer
# fan-out to Redis): "inline" in the committing thread, or "background" from one sender thread
# per process with a bounded queue (docs/decisions/0018; `python -m aventide.server` defaults
# its workers to "background"). Celery workers, commands and tests stay "inline".
AFTER_COMMIT_SENDER: str = env.str("AFTER_COMMIT_SENDER", default="inline")
if AFTER_COMMIT_SENDER not in ("inline", "background"):
    raise ValueError("AFTER_COMMIT_SENDER must be 'inline' or 'background'")
AFTER_COMMIT_QUEUE_CAPACITY: int = env.int("AFTER_COMMIT_QUEUE_CAPACITY", default=10000)
# The queue web, beat and workers use; environments sharing one Redis set their own.
CELERY_TASK_DEFAULT_QUEUE: str = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_RESULT_BACKEND: str | None = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes a worker's database connection before and after EVERY task
# (with the pool: handed back and checked out again, ~7% of an outbox job's worker CPU,
# bench/README.md). It closes it every CELERY_DB_REUSE_MAX tasks instead (and at once after a
# task whose connection saw an error: aventide/celery.py). 0 = Celery's default, every task.
CELERY_DB_REUSE_MAX: int = env.int("CELERY_DB_REUSE_MAX", default=100)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, Any] = {
    # Seal new audit events into the Merkle seal chain (docs/operations/audit.md).
    "audit-seal-events": {"task": "audit.seal_audit_events", "schedule": 60.0},
    # Complete delivered orders whose country's dispute window has passed.
    "orders-complete-due": {"task": "orders.complete_due_orders", "schedule": 300.0},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    # Argon2id, m=19 MiB t=2 p=1 (docs/decisions/0011-argon2-parameters.md). The others only
    # verify older hashes (upgraded at the next login).
    "aventide.accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # django-guardian: no anonymous user row

_DEV_JWT_KEY = "dev-only-jwt-signing-key-000000000000000000000000"
_DEV_ANON_KEY = "dev-only-anonymous-identity-key-00000000000000000"
JWT_SIGNING_KEYS: list[tuple[str, str]] = parse_key_ring(env.str("JWT_SIGNING_KEYS", "")) or (
    [("default", env.str("JWT_SECRET"))] if env.str("JWT_SECRET", "") else [("dev", _DEV_JWT_KEY)]
)
JWT_ISSUER: str = env.str("JWT_ISSUER", default="aventide")
JWT_AUDIENCE: str = env.str("JWT_AUDIENCE", default="aventide-api")
JWT_ACCESS_TTL = timedelta(seconds=env.int("JWT_ACCESS_TTL_SECONDS", default=900))
JWT_REFRESH_TTL = timedelta(seconds=env.int("JWT_REFRESH_TTL_SECONDS", default=30 * 86400))
JWT_LEEWAY_SECONDS: int = env.int("JWT_LEEWAY_SECONDS", default=30)
ANON_SIGNING_KEYS: list[tuple[str, str]] = parse_key_ring(env.str("ANON_SIGNING_KEYS", "")) or (
    [("default", env.str("ANON_SECRET"))]
    if env.str("ANON_SECRET", "")
    else [("dev", _DEV_ANON_KEY)]
)
GOOGLE_CLIENT_IDS: list[str] = env.list("GOOGLE_CLIENT_IDS", default=[])
GOOGLE_JWKS_URL: str = env.str(
    "GOOGLE_JWKS_URL", default="https://www.googleapis.com/oauth2/v3/certs"
)
GOOGLE_JWKS_TIMEOUT_SECONDS: float = env.float("GOOGLE_JWKS_TIMEOUT_SECONDS", default=3.0)
ANON_IDENTITY_TTL = timedelta(seconds=env.int("ANON_IDENTITY_TTL_SECONDS", default=60 * 86400))
# Per-process cache of the state behind a token (docs/operations/auth.md): a revoked session
# stops working everywhere within this many seconds (at once in the revoking process).
AUTH_PRINCIPAL_CACHE_SECONDS: int = env.int("AUTH_PRINCIPAL_CACHE_SECONDS", default=5)
# Login lockout per (account, IP) and throttling per IP (docs/operations/auth.md).
AUTH_LOCKOUT_FAILURES: int = env.int("AUTH_LOCKOUT_FAILURES", default=5)
AUTH_LOCKOUT_WINDOW_SECONDS: int = env.int("AUTH_LOCKOUT_WINDOW_SECONDS", default=900)
AUTH_LOCKOUT_BASE_SECONDS: int = env.int("AUTH_LOCKOUT_BASE_SECONDS", default=60)
AUTH_LOCKOUT_MAX_SECONDS: int = env.int("AUTH_LOCKOUT_MAX_SECONDS", default=3600)
AUTH_IP_FAILURE_LIMIT: int = env.int("AUTH_IP_FAILURE_LIMIT", default=20)
AUTH_IP_FAILURE_WINDOW_SECONDS: int = env.int("AUTH_IP_FAILURE_WINDOW_SECONDS", default=600)
AUTH_IP_BLOCK_SECONDS: int = env.int("AUTH_IP_BLOCK_SECONDS", default=600)
AUTH_ACCOUNT_FAILURE_LIMIT: int = env.int("AUTH_ACCOUNT_FAILURE_LIMIT", default=20)
AUTH_ACCOUNT_FAILURE_WINDOW_SECONDS: int = env.int(
    "AUTH_ACCOUNT_FAILURE_WINDOW_SECONDS", default=3600
)
AUTH_ATTACK_LOCKOUT_FAILURES: int = env.int("AUTH_ATTACK_LOCKOUT_FAILURES", default=1)
AUTH_IPV6_PREFIX_LENGTH: int = env.int("AUTH_IPV6_PREFIX_LENGTH", default=64)

# --- Push ------------------------------------------------------------------------------
ENABLE_PUSH_NOTIFICATIONS: bool = env.bool("ENABLE_PUSH_NOTIFICATIONS", default=True)
VAPID_PUBLIC_KEY: str = env.str("VAPID_PUBLIC_KEY", default="")
VAPID_PRIVATE_KEY: str = env.str("VAPID_PRIVATE_KEY", default="")
VAPID_SUBJECT: str = vapid_subject()
if ENABLE_PUSH_NOTIFICATIONS and not (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY and VAPID_SUBJECT):
    # Only reachable outside production (validate_env requires them there): push is off,
    # explicitly, rather than failing at send time.
    PUSH_EFFECTIVELY_ENABLED = False
else:
    PUSH_EFFECTIVELY_ENABLED = ENABLE_PUSH_NOTIFICATIONS

# --- Integrations hub (docs/operations/integrations.md) ------------------------------------
# Adapter per kind: a dotted class path, or {"default": path, "<COUNTRY>": path}.
# INTEGRATIONS_PROVIDERS_<KIND>=<dotted path> overrides one kind's default from the env.
# The [outbox]/[providers] sub-blocks below are filled by the integrations work (issue 10).
INTEGRATIONS_PROVIDERS: dict[str, Any] = {}
# Inbound webhook secrets: WEBHOOK_SECRET_<PROVIDER>="<signing secret>,<older secret>,...".
WEBHOOK_SECRETS: dict[str, list[str]] = {
    key.removeprefix("WEBHOOK_SECRET_").lower(): [p.strip() for p in value.split(",") if p.strip()]
    for key, value in os.environ.items()
    if key.startswith("WEBHOOK_SECRET_") and value.strip()
}
# [providers] ------------------------------------------------------------------------------
# Every kind defaults to its sandbox adapter (integrations/providers/sandbox.py);
# INTEGRATIONS_PROVIDER_<KIND>=<dotted path> picks another (INTEGRATIONS_PROVIDERS_<KIND> is
# accepted as an alias). Real adapters (integrations.providers.*): email_smtp.SmtpEmail,
# storage.DjangoStorage, payments_stripe.StripePayments.
_PROVIDER_KINDS = ("payments", "email", "sms", "push", "courier", "storage", "geocoding", "tax")
_SANDBOX_CLASSES = {
    "payments": "SandboxPayments",
    "email": "SandboxEmail",
    "sms": "SandboxSms",
    "push": "SandboxPush",
    "courier": "SandboxCourier",
    "storage": "SandboxStorage",
    "geocoding": "SandboxGeocoding",
    "tax": "SandboxTax",
}
for _kind in _PROVIDER_KINDS:
    INTEGRATIONS_PROVIDERS.setdefault(
        _kind,
        os.environ.get(f"INTEGRATIONS_PROVIDER_{_kind.upper()}")
        or os.environ.get(f"INTEGRATIONS_PROVIDERS_{_kind.upper()}")
        or f"integrations.providers.sandbox.{_SANDBOX_CLASSES[_kind]}",
    )


def _sandbox_overrides(prefix: str) -> dict[str, Any]:
    """SANDBOX_[<KIND>_]LATENCY_MS / _ERROR_RATE / _FAILURE_MODE from the env (set ones only)."""
    found: dict[str, Any] = {}
    if (value := os.environ.get(f"{prefix}LATENCY_MS", "").strip()) != "":
        found["latency_ms"] = int(value)
    if (value := os.environ.get(f"{prefix}ERROR_RATE", "").strip()) != "":
        found["error_rate"] = float(value)
    if (value := os.environ.get(f"{prefix}FAILURE_MODE", "").strip()) != "":
        found["failure_mode"] = value.lower()
    return found


# [push] Web Push (docs/operations/push.md). The flag and the VAPID keys are read above
# ("Push"); production requires the keys while the flag is on (aventide.core.env). In
# production with the flag on, the push kind's default adapter is the real one (pywebpush);
# INTEGRATIONS_PROVIDER_PUSH still picks another.
if (
    IS_PRODUCTION
    and ENABLE_PUSH_NOTIFICATIONS
    and not os.environ.get("INTEGRATIONS_PROVIDER_PUSH")
    and not os.environ.get("INTEGRATIONS_PROVIDERS_PUSH")
):
    INTEGRATIONS_PROVIDERS["push"] = "integrations.providers.push_webpush.WebPush"
# How long a notice lives: the TTL the push service keeps it for an offline device, and the
# life of its outbox job (a job run later is dropped, PUSH_EXPIRED: stale notices are never
# sent, not after a retry, a DLQ replay or the flag coming back on).
PUSH_TTL_SECONDS: int = env.int("PUSH_TTL_SECONDS", default=3600)
# Outside production only: hosts whose push endpoint may be plain http (a local push-service
# stub in tests and drills). Production accepts https endpoints only.
PUSH_INSECURE_ENDPOINT_HOSTS: list[str] = (
    [] if IS_PRODUCTION else env.list("PUSH_INSECURE_ENDPOINT_HOSTS", default=[])
)
# Lifetime of each request's VAPID JWT (RFC 8292 allows at most 24 h; capped there).
VAPID_JWT_SECONDS: int = env.int("VAPID_JWT_SECONDS", default=12 * 3600)
# Subscriptions one principal may hold (browsers/devices); the oldest goes beyond it.
PUSH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL: int = env.int(
    "PUSH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL", default=10
)

# [orders] The recipient's personal link in the invitation email/SMS:
# {RECIPIENT_LINK_BASE_URL}/gift/<anonId>#sig=<signature> (the client app's address).
RECIPIENT_LINK_BASE_URL: str = env.str(
    "RECIPIENT_LINK_BASE_URL", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
)

# The sandbox providers (docs/operations/integrations.md "Providers"): latency, failure
# injection (none|timeout|5xx|429|4xx at error_rate; 1.0 when only a mode is set), a seed for
# reproducible runs, and the signed webhooks they send back to SANDBOX_WEBHOOK_BASE_URL.
INTEGRATIONS_SANDBOX: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": None,
    "failure_mode": "none",
    **_sandbox_overrides("SANDBOX_"),
    "retry_after_seconds": env.float("SANDBOX_RETRY_AFTER_SECONDS", default=1.0),
    "seed": env.int("SANDBOX_SEED", default=None),
    "webhooks": env.bool("SANDBOX_WEBHOOKS", default=True),
    "webhook_base_url": env.str(
        "SANDBOX_WEBHOOK_BASE_URL", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
    ),
    "webhook_delay_ms": env.int("SANDBOX_WEBHOOK_DELAY_MS", default=200),
    # Tests deliver once: their sandbox calls post to ports where nothing listens, and
    # redeliveries would hold the sandbox's two delivery threads in their waits.
    "webhook_attempts": env.int("SANDBOX_WEBHOOK_ATTEMPTS", default=1 if IS_TEST else 5),
    "webhook_timeout_seconds": env.float("SANDBOX_WEBHOOK_TIMEOUT_SECONDS", default=5.0),
    "courier_outcome": env.str("SANDBOX_COURIER_OUTCOME", default="delivered"),
    "deliver": env.str("SANDBOX_DELIVER", default=""),
    "per_kind": {
        kind: found
        for kind in _PROVIDER_KINDS
        if (found := _sandbox_overrides(f"SANDBOX_{kind.upper()}_"))
    },
}
for _found in (INTEGRATIONS_SANDBOX, *INTEGRATIONS_SANDBOX["per_kind"].values()):
    if str(_found.get("failure_mode", "none")) not in ("none", "timeout", "5xx", "429", "4xx"):
        raise ValueError("SANDBOX_[<KIND>_]FAILURE_MODE must be none|timeout|5xx|429|4xx")
if INTEGRATIONS_SANDBOX["courier_outcome"] not in ("delivered", "attempt_failed"):
    raise ValueError("SANDBOX_COURIER_OUTCOME must be delivered|attempt_failed")
# Outside production the sandbox can sign its webhooks with no setup (make run, demos).
if not IS_PRODUCTION:
    for _provider in ("payments", "courier"):
        WEBHOOK_SECRETS.setdefault(_provider, [f"dev-sandbox-webhook-secret-{_provider}"])
# Email over SMTP (integrations.providers.email_smtp.SmtpEmail; Django's SMTP backend).
EMAIL_HOST: str = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT: int = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER: str = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD: str = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS: bool = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL: bool = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT: float = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL: str = env.str(
    "DEFAULT_FROM_EMAIL", default="Aventide Gift <no-reply@aventide.gift>"
)
# Files through Django's storage API (integrations.providers.storage.DjangoStorage).
MEDIA_ROOT: Path = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL: str = env.str("MEDIA_URL", default="/media/")
INTEGRATIONS_STORAGE_ALIAS: str = env.str("INTEGRATIONS_STORAGE_ALIAS", default="default")
# Payments on the official stripe library (integrations.providers.payments_stripe).
STRIPE_API_KEY: str = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE: str = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# [/providers] -----------------------------------------------------------------------------
# [outbox] jobs, retries, circuit breakers, DLQ (docs/operations/integrations.md).
# Retry policy per kind (seconds): full-jitter exponential backoff, delay in [0, min(cap,
# base * 2**(attempt-1))]; a 429's Retry-After is honoured (up to RETRY_AFTER_MAX).
INTEGRATIONS_RETRY_POLICY: dict[str, dict[str, float]] = {
    "default": {
        "base": env.float("INTEGRATIONS_RETRY_BASE_SECONDS", default=2.0),
        "cap": env.float("INTEGRATIONS_RETRY_CAP_SECONDS", default=300.0),
        "max_attempts": env.int("INTEGRATIONS_MAX_ATTEMPTS", default=8),
    },
    "payments": {"base": 5.0, "cap": 600.0, "max_attempts": 10},
}
INTEGRATIONS_RETRY_AFTER_MAX_SECONDS: float = env.float(
    "INTEGRATIONS_RETRY_AFTER_MAX_SECONDS", default=3600.0
)
INTEGRATIONS_CALL_TIMEOUT_SECONDS: float = env.float(
    "INTEGRATIONS_CALL_TIMEOUT_SECONDS", default=10.0
)
# A running attempt's lease: past it, dispatch_due re-queues the job (worker killed mid-job).
INTEGRATIONS_LEASE_SECONDS: float = env.float("INTEGRATIONS_LEASE_SECONDS", default=120.0)
# A waiting job handed to the broker is not dispatched again for this long.
INTEGRATIONS_DISPATCH_GRACE_SECONDS: float = env.float(
    "INTEGRATIONS_DISPATCH_GRACE_SECONDS", default=60.0
)
INTEGRATIONS_DISPATCH_BATCH: int = env.int("INTEGRATIONS_DISPATCH_BATCH", default=500)
# Circuit breaker per provider kind: opens after FAILURES consecutive transient failures,
# lets one half-open probe through after COOLDOWN seconds. State in Redis (REDIS_URL) shared
# by every process; in memory without Redis (embedded mode).
INTEGRATIONS_BREAKER_FAILURES: int = env.int("INTEGRATIONS_BREAKER_FAILURES", default=5)
INTEGRATIONS_BREAKER_COOLDOWN_SECONDS: float = env.float(
    "INTEGRATIONS_BREAKER_COOLDOWN_SECONDS", default=30.0
)
INTEGRATIONS_BREAKER_STORAGE: str = env.str(
    "INTEGRATIONS_BREAKER_STORAGE", default="redis" if REDIS_URL else "memory"
)
INTEGRATIONS_BREAKER_PREFIX: str = f"{_KEY_NAMESPACE}:breaker"
# Alert thresholds (seed runbook 004): pending backlog > 1,000 for 15 min; a circuit open
# for more than 5 min; any job entering the DLQ (alerted at once, and here while it grows).
# [ops-alerts] They feed the alert rules integrations registers with ops (integrations/alerts.py,
# docs/operations/alerts.md): ALERT_INTEGRATION_BACKLOG fires when more than THRESHOLD due jobs
# have waited for BACKLOG_ALERT_SECONDS in a row; ALERT_INTEGRATION_CIRCUIT_OPEN when a circuit
# has not closed for CIRCUIT_OPEN_ALERT_SECONDS; ALERT_INTEGRATION_DLQ_GROWING while at least
# DLQ_GROWING_MIN_JOBS jobs entered the DLQ in the last DLQ_GROWING_WINDOW_SECONDS.
INTEGRATIONS_DLQ_GROWING_WINDOW_SECONDS: float = env.float(
    "INTEGRATIONS_DLQ_GROWING_WINDOW_SECONDS", default=300.0
)
INTEGRATIONS_DLQ_GROWING_MIN_JOBS: int = env.int("INTEGRATIONS_DLQ_GROWING_MIN_JOBS", default=1)
# [/ops-alerts]
INTEGRATIONS_BACKLOG_ALERT_THRESHOLD: int = env.int(
    "INTEGRATIONS_BACKLOG_ALERT_THRESHOLD", default=1000
)
INTEGRATIONS_BACKLOG_ALERT_SECONDS: float = env.float(
    "INTEGRATIONS_BACKLOG_ALERT_SECONDS", default=900.0
)
INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS: float = env.float(
    "INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS", default=300.0
)
INTEGRATIONS_REPORT_EVERY_SECONDS: float = env.float(
    "INTEGRATIONS_REPORT_EVERY_SECONDS", default=60.0
)
CELERY_BEAT_SCHEDULE["integrations-report"] = {
    "task": "integrations.report",
    "schedule": INTEGRATIONS_REPORT_EVERY_SECONDS,
}
CELERY_BEAT_SCHEDULE["integrations-dispatch-due"] = {
    "task": "integrations.dispatch_due",
    "schedule": env.float("INTEGRATIONS_DISPATCH_EVERY_SECONDS", default=5.0),
}
# [webhooks] Inbound webhooks (POST /api/integrations/webhooks/<provider>): the providers that
# may call us (INTEGRATIONS_WEBHOOK_PROVIDERS=payments,courier; any other name is 404), each
# -> the signature headers it may sign with (ours; the payments provider also Stripe's). The
# body cap (INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES, 256 KiB) is applied before reading through
# API_MAX_BODY_BYTES_BY_PREFIX below.
INTEGRATIONS_WEBHOOK_PROVIDERS: dict[str, list[str]] = {
    name: ["X-Aventide-Signature", "Stripe-Signature"]
    if name == "payments"
    else ["X-Aventide-Signature"]
    for name in (
        raw.strip().lower()  # lower case, like the WEBHOOK_SECRET_<PROVIDER> keys
        for raw in env.list("INTEGRATIONS_WEBHOOK_PROVIDERS", default=["payments", "courier"])
    )
    if name
}
INTEGRATIONS_WEBHOOK_PATH_PREFIX = "/api/integrations/webhooks/"
INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES: int = env.int(
    "INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024
)
WEBHOOK_SIGNATURE_TOLERANCE_SECONDS: int = env.int(
    "WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", default=300
)

# [moderation] Order chat moderation (messaging.moderation; docs/messaging/moderation.md).
# Action per reason code (allow | redact | block); the verdict is the strictest over all the
# reasons found. MODERATION_POLICY_BY_COUNTRY overrides single reasons in one country, e.g.
# {"BR": {"CONTACT_HANDLE": "block"}}. MODERATION_ALLOWED_DOMAINS: the platform's own domains
# (and their subdomains), never flagged as CONTACT_URL.
MODERATION_POLICY: dict[str, str] = {
    "CONTACT_PHONE": "redact",
    "CONTACT_EMAIL": "redact",
    "CONTACT_URL": "redact",
    "CONTACT_HANDLE": "redact",
    "PAYMENT_BYPASS": "block",
    "HARASSMENT": "block",
    "SPAM": "block",
}
MODERATION_POLICY_BY_COUNTRY: dict[str, dict[str, str]] = {}
MODERATION_ALLOWED_DOMAINS: list[str] = [
    domain.strip().lower()
    for domain in env.list("MODERATION_ALLOWED_DOMAINS", default=["aventide.gift"])
    if domain.strip()
]
# [/moderation]

# [messaging] The order chat (messaging; docs/messaging/chat.md). Limits count distinct
# clientMessageIds (a retry never counts twice) on the shared cache, so every process agrees.
MESSAGING_RATE_PER_CONVERSATION: int = env.int("MESSAGING_RATE_PER_CONVERSATION", default=20)
MESSAGING_RATE_PER_SENDER: int = env.int("MESSAGING_RATE_PER_SENDER", default=60)
MESSAGING_RATE_WINDOW_SECONDS: int = env.int("MESSAGING_RATE_WINDOW_SECONDS", default=60)
MESSAGING_STRIKES_TO_FREEZE: int = env.int("MESSAGING_STRIKES_TO_FREEZE", default=3)
MESSAGING_STRIKE_WINDOW_HOURS: int = env.int("MESSAGING_STRIKE_WINDOW_HOURS", default=24)
MESSAGING_SPAM_REPEAT_LIMIT: int = env.int("MESSAGING_SPAM_REPEAT_LIMIT", default=5)
MESSAGING_SPAM_REPEAT_WINDOW_SECONDS: int = env.int(
    "MESSAGING_SPAM_REPEAT_WINDOW_SECONDS", default=600
)
# How many of a sender's latest messages per conversation the repeat check remembers (within
# the window): bounds its Redis memory by active (conversation, sender) pairs, not by rate.
MESSAGING_SPAM_REPEAT_HISTORY: int = env.int("MESSAGING_SPAM_REPEAT_HISTORY", default=50)
MESSAGING_CLOSE_AFTER_DAYS: int = env.int("MESSAGING_CLOSE_AFTER_DAYS", default=30)
MESSAGING_DELIVERY_OVERDUE_HOURS: int = env.int("MESSAGING_DELIVERY_OVERDUE_HOURS", default=72)
MESSAGING_NOTIFY_COALESCE_SECONDS: int = env.int("MESSAGING_NOTIFY_COALESCE_SECONDS", default=300)
# The notification bridge (docs/messaging/notifications.md): the client app's address the
# chat notices link to ({base}/orders/<id>/chat; anonymous recipients get their own link).
MESSAGING_APP_BASE_URL: str = env.str("MESSAGING_APP_BASE_URL", default=RECIPIENT_LINK_BASE_URL)
# [/messaging]

# --- Realtime --------------------------------------------------------------------------
WS_ALLOWED_ORIGINS: list[str] = env.list(
    "WS_ALLOWED_ORIGINS",
    default=[] if IS_PRODUCTION else ["http://127.0.0.1:8000", "http://localhost:8000"],
)

# [realtime-ws] The WebSocket /ws/realtime/ (docs/operations/realtime.md): per-connection
# limits the consumer enforces itself, heartbeats, re-authorization and presence.
REALTIME_WS_AUTH_TIMEOUT_SECONDS: float = env.float("REALTIME_WS_AUTH_TIMEOUT_SECONDS", default=10)
# 16 KiB: a chat send frame (a 2,000-character body of 4-byte characters is 8,000 bytes of
# UTF-8, plus its ids) must fit, as it does over REST.
REALTIME_WS_MAX_FRAME_BYTES: int = env.int("REALTIME_WS_MAX_FRAME_BYTES", default=16384)
REALTIME_WS_MAX_FRAMES_PER_SECOND: float = env.float(
    "REALTIME_WS_MAX_FRAMES_PER_SECOND", default=10
)
REALTIME_WS_FRAME_BURST: int = env.int("REALTIME_WS_FRAME_BURST", default=40)
REALTIME_WS_MAX_SUBSCRIPTIONS: int = env.int("REALTIME_WS_MAX_SUBSCRIPTIONS", default=50)
REALTIME_WS_HEARTBEAT_SECONDS: float = env.float("REALTIME_WS_HEARTBEAT_SECONDS", default=25)
REALTIME_WS_IDLE_TIMEOUT_SECONDS: float = env.float("REALTIME_WS_IDLE_TIMEOUT_SECONDS", default=90)
REALTIME_WS_REAUTH_SECONDS: float = env.float("REALTIME_WS_REAUTH_SECONDS", default=60)
REALTIME_WS_RESUME_MAX_EVENTS: int = env.int("REALTIME_WS_RESUME_MAX_EVENTS", default=1000)
REALTIME_PRESENCE_TTL_SECONDS: float = env.float("REALTIME_PRESENCE_TTL_SECONDS", default=60)
# [/realtime-ws]

# --- Ops -------------------------------------------------------------------------------
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
HEALTH_CHECK_TIMEOUT_SECONDS: float = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
# [ops-alerts] Alert rules registered by the apps (docs/operations/alerts.md) are evaluated
# by the beat task ops.evaluate_alerts every OPS_ALERTS_EVALUATE_EVERY_SECONDS; `manage.py ops
# alerts` lists open and recent alerts (--evaluate runs one evaluation now).
OPS_ALERTS_EVALUATE_EVERY_SECONDS: float = env.float(
    "OPS_ALERTS_EVALUATE_EVERY_SECONDS", default=60.0
)
CELERY_BEAT_SCHEDULE["ops-evaluate-alerts"] = {
    "task": "ops.evaluate_alerts",
    "schedule": OPS_ALERTS_EVALUATE_EVERY_SECONDS,
}
# [/ops-alerts]

# --- HTTP input limits, trusted proxies ----------------------------------------------------
# Request bodies: at most API_MAX_BODY_BYTES, enforced before reading by the ASGI middleware
# (aventide.core.body_limit) and again by the JSON parser; larger only under the prefixes of
# API_MAX_BODY_BYTES_BY_PREFIX ("/api/uploads/=10485760"). Django's own cap (request.body,
# form fields) says the same.
API_MAX_BODY_BYTES: int = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_MAX_BODY_BYTES_BY_PREFIX: dict[str, int] = {
    # [webhooks] inbound webhooks are capped lower (256 KiB); the env can still override it.
    INTEGRATIONS_WEBHOOK_PATH_PREFIX: INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES,
    **(parse_prefix_limits(env.str("API_MAX_BODY_BYTES_BY_PREFIX", "")) or {}),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# JSON nesting deeper than this is a 400 before anything recursive runs (core.parsers).
API_JSON_MAX_DEPTH: int = env.int("API_JSON_MAX_DEPTH", default=32)
# The one trusted-proxy setting (docs/decisions/0006-trusted-proxies.md): the server takes
# the client address from X-Forwarded-For/-Proto only when the peer is one of these IPs/CIDRs.
# Empty (the default) trusts no proxy: REMOTE_ADDR is the peer. Throttles read REMOTE_ADDR.
TRUSTED_PROXIES: list[str] = parse_trusted_proxies(env.str("TRUSTED_PROXIES", "")) or []

# --- DRF, schema -------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "EXCEPTION_HANDLER": "aventide.core.handlers.drf_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["aventide.core.renderers.CamelCaseJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["aventide.core.parsers.SafeJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "aventide.accounts.authentication.JWTAuthentication",
        "aventide.accounts.authentication.AnonymousIdentityAuthentication",
    ],
    # A logged-in User; anonymous identities only where a view opts in (accounts.permissions).
    "DEFAULT_PERMISSION_CLASSES": ["aventide.accounts.permissions.IsRegisteredUser"],
    # Always 0: the server already resolved the client address from TRUSTED_PROXIES, so DRF
    # must not walk X-Forwarded-For again (the NUM_PROXIES variable is refused at start).
    "NUM_PROXIES": 0,
    "DEFAULT_PAGINATION_CLASS": "aventide.core.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    # THROTTLE_USER per registered user / anonymous identity, THROTTLE_ANON per client IP,
    # on the shared cache with an atomic counter (accounts.throttling.APIRateThrottle).
    "DEFAULT_THROTTLE_CLASSES": ["aventide.accounts.throttling.APIRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/min"),
        "user": env.str("THROTTLE_USER", default="600/min"),
        "auth": env.str("THROTTLE_AUTH", default="60/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Aventide Gift API",
    "DESCRIPTION": "Buyers, sellers and recipients of Aventide Gift. Every error uses the "
    "`Error` schema and carries the request's `requestId`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public (AllowAny): no token processing, so a stale or garbled
    # Authorization header cannot turn them into a 401.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "aventide.accounts.schema.document_account_required",
        "aventide.core.schema.add_error_responses",
    ],
}

# --- i18n, static ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# The admin and Swagger UI assets are served by this process (no CDN) from WhiteNoise's file
# table, in front of Django and outside its middleware (aventide.core.staticfiles); outside
# production they are read straight from the apps, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it to exist
WHITENOISE_AUTOREFRESH = IS_DEVELOPMENT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# [realtime-log] The realtime event log (docs/operations/realtime.md): events are kept
# REALTIME_RETENTION_SECONDS (7 days); a cursor older than what the purge removed answers
# CURSOR_EXPIRED. Catchup pages: REALTIME_CATCHUP_DEFAULT_LIMIT (200), clamped to
# REALTIME_CATCHUP_MAX_LIMIT (500).
REALTIME_RETENTION_SECONDS: int = env.int("REALTIME_RETENTION_SECONDS", default=7 * 86400)
REALTIME_CATCHUP_DEFAULT_LIMIT: int = env.int("REALTIME_CATCHUP_DEFAULT_LIMIT", default=200)
REALTIME_CATCHUP_MAX_LIMIT: int = env.int("REALTIME_CATCHUP_MAX_LIMIT", default=500)
REALTIME_PURGE_BATCH: int = env.int("REALTIME_PURGE_BATCH", default=5000)
CELERY_BEAT_SCHEDULE["realtime-purge-expired"] = {
    "task": "realtime.purge_expired",
    "schedule": env.float("REALTIME_PURGE_EVERY_SECONDS", default=3600.0),
}
# [/realtime-log]

# --- Security (production) -------------------------------------------------------------
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True

# --- Logging ---------------------------------------------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO").upper()
# Celery's per-task "received"/"succeeded" lines (decision 0018): WARNING hides them.
CELERY_TASK_EVENTS_LOG_LEVEL: str = env.str(
    "CELERY_TASK_EVENTS_LOG_LEVEL", default="WARNING"
).upper()
LOGGING = build_logging_config(LOG_LEVEL, task_events_level=CELERY_TASK_EVENTS_LOG_LEVEL)

# [messaging-close] The beat job closing conversations MESSAGING_CLOSE_AFTER_DAYS after their
# order completed (docs/messaging/chat.md).
CELERY_BEAT_SCHEDULE["messaging-close-due"] = {
    "task": "messaging.close_due",
    "schedule": env.float("MESSAGING_CLOSE_DUE_EVERY_SECONDS", default=3600.0),
}
CELERY_BEAT_SCHEDULE["messaging-activate-overdue"] = {
    "task": "messaging.activate_overdue",
    "schedule": env.float("MESSAGING_OVERDUE_EVERY_SECONDS", default=900.0),
}
# [/messaging-close]
