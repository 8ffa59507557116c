"""Environment validation, run before anything serves.

`validate_env()` is called first by every entry point (ASGI/WSGI app, ``manage.py``, the
uvicorn launcher, the Celery app). It imports nothing from Django so it can run before
settings are loaded. When the environment is wrong it prints ONE structured JSON error with
code ``ENV_VALIDATION_FAILED`` that names every missing or invalid variable -- names only,
never values -- and exits non-zero.

The rules (see docs/operations/configuration.md):
- ``AVENTIDE_ENV`` is one of development, test, production (default development).
- production requires SECRET_KEY, DATABASE_URL (postgres), REDIS_URL, ALLOWED_HOSTS,
  a JWT key (JWT_SIGNING_KEYS or JWT_SECRET) and an anonymous-identity key
  (ANON_SIGNING_KEYS or ANON_SECRET).
- production also requires WEBHOOK_SECRET_<PROVIDER> for every provider that may call the
  webhook endpoint (INTEGRATIONS_WEBHOOK_PROVIDERS, default payments,courier: without it
  every webhook would be refused), and STRIPE_API_KEY when the payments adapter is Stripe.
- ENABLE_PUSH_NOTIFICATIONS (default true): when true in production, VAPID_PUBLIC_KEY,
  VAPID_PRIVATE_KEY and VAPID_SUBJECT (or the legacy VAPID_EMAIL) are required. When set (any
  mode), the keys must have the Web Push form: the public key the base64url of a 65-byte
  uncompressed P-256 point, the private key the base64url of the raw 32-byte secret (or a
  PEM/DER private key). Whether the two make a pair is ``manage.py push check``'s job.
- Typed variables (integers, numbers, rates, LOG_LEVEL, the launcher's HOST/PORT/
  WEB_CONCURRENCY) must parse in every environment; set-but-empty counts as invalid (``PORT=``
  is a mistake, not "use the default": unset the variable for that).
- Typed variables (integers, rates, body limits, ``TRUSTED_PROXIES``) are checked in every
  mode; ``NUM_PROXIES`` other than 0 is refused (replaced by ``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

ENVIRONMENTS = ("development", "test", "production")
TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off"}
MIN_SECRET_LENGTH = 32
EXIT_CODE = 78  # EX_CONFIG from sysexits.h


@dataclass
class EnvProblem:
    variable: str
    problem: str  # "missing" | "invalid"
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"variable": self.variable, "problem": self.problem}
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class EnvReport:
    environment: str
    problems: list[EnvProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_error(self) -> dict[str, object]:
        return {
            "level": "critical",
            "event": "ENV_VALIDATION_FAILED",
            "code": "ENV_VALIDATION_FAILED",
            "message": "The environment is not valid for AVENTIDE_ENV="
            f"{self.environment}: {', '.join(sorted({p.variable for p in self.problems}))}",
            "environment": self.environment,
            "variables": [p.as_dict() for p in self.problems],
        }


#: Typed variables: a bad value is named by ENV_VALIDATION_FAILED instead of crashing the
#: settings import with a traceback that would echo the value.
INT_VARIABLES = (
    "ANON_IDENTITY_TTL_SECONDS",
    "AUTH_ACCOUNT_FAILURE_LIMIT",
    "AUTH_ACCOUNT_FAILURE_WINDOW_SECONDS",
    "AUTH_ATTACK_LOCKOUT_FAILURES",
    "AUTH_PRINCIPAL_CACHE_SECONDS",
    "AUTH_IP_BLOCK_SECONDS",
    "AUTH_IP_FAILURE_LIMIT",
    "AUTH_IP_FAILURE_WINDOW_SECONDS",
    "AUTH_IPV6_PREFIX_LENGTH",
    "AUTH_LOCKOUT_BASE_SECONDS",
    "AUTH_LOCKOUT_FAILURES",
    "AUTH_LOCKOUT_MAX_SECONDS",
    "AUTH_LOCKOUT_WINDOW_SECONDS",
    "CELERY_DB_REUSE_MAX",
    "DB_CONNECT_TIMEOUT",
    "DB_CONN_MAX_AGE",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_MIN_SIZE",
    "JWT_ACCESS_TTL_SECONDS",
    "JWT_LEEWAY_SECONDS",
    "JWT_REFRESH_TTL_SECONDS",
    "PORT",
    "SECURE_HSTS_SECONDS",
)
#: Integers that must be at least 1 (a count of processes or threads; a zero body limit or
#: depth would refuse every request).
POSITIVE_INT_VARIABLES = (
    "API_JSON_MAX_DEPTH",
    "API_MAX_BODY_BYTES",
    "ASGI_THREADS",
    "PUSH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL",
    "PUSH_TTL_SECONDS",
    "VAPID_JWT_SECONDS",
    "WEB_CONCURRENCY",
)
#: Seconds where 0 means "never" / "always" (see each variable's doc).
NON_NEGATIVE_FLOAT_VARIABLES = ("DB_POOL_CHECK_AFTER_SECONDS",)
FLOAT_VARIABLES = (
    "DB_POOL_TIMEOUT_SECONDS",
    "GOOGLE_JWKS_TIMEOUT_SECONDS",
    "HEALTH_CHECK_TIMEOUT_SECONDS",
    "OPS_ALERTS_EVALUATE_EVERY_SECONDS",
    "WEB_GRACEFUL_TIMEOUT_SECONDS",
    "WEB_KEEPALIVE_SECONDS",
)
RATE_VARIABLES = ("THROTTLE_ANON", "THROTTLE_AUTH", "THROTTLE_USER")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_RATE_RE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


#: Integers with a tighter range than "non-negative": name -> (lowest, highest or None).
INT_RANGES: dict[str, tuple[int, int | None]] = {
    "PORT": (0, 65535),  # 0 = any free port
    **dict.fromkeys(POSITIVE_INT_VARIABLES, (1, None)),
}
EMPTY_HINT = "set but empty: unset it or give a value"
#: HOST: an IPv4/IPv6 literal or a DNS name (letters, digits, hyphens, dots).
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _int_problem(name: str, raw: str) -> EnvProblem | None:
    low, high = INT_RANGES.get(name, (0, None))
    hint = f"integer {low}..{high}" if high is not None else f"integer >= {low}"
    if low == 0 and high is None:
        hint = "non-negative integer"
    value = raw.strip()
    if not value:
        return EnvProblem(name, "invalid", EMPTY_HINT)
    # ASCII digits only: "²" or "٣" pass str.isdigit() but crash int() at start-up.
    if not (value.isascii() and value.isdigit()):
        return EnvProblem(name, "invalid", hint)
    number = int(value)
    if number < low or (high is not None and number > high):
        return EnvProblem(name, "invalid", hint)
    return None


def _valid_host(raw: str) -> bool:
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        return bool(_HOSTNAME_RE.match(raw))
    return True


def _check_typed(env: Mapping[str, str], report: EnvReport) -> None:
    """Typed variables: a value that is set must parse -- an EMPTY value too is named (the
    settings and the launcher would crash on it with a traceback instead)."""
    for name in (*INT_VARIABLES, *POSITIVE_INT_VARIABLES):
        raw = env.get(name)
        if raw is not None and (problem := _int_problem(name, raw)) is not None:
            report.problems.append(problem)
    if parse_prefix_limits(env.get("API_MAX_BODY_BYTES_BY_PREFIX")) is None:
        report.problems.append(
            EnvProblem("API_MAX_BODY_BYTES_BY_PREFIX", "invalid", "like /api/uploads/=10485760")
        )
    if parse_trusted_proxies(env.get("TRUSTED_PROXIES")) is None:
        report.problems.append(
            EnvProblem("TRUSTED_PROXIES", "invalid", "comma separated IPs or CIDRs, or *")
        )
    num_proxies = env.get("NUM_PROXIES")
    if num_proxies is not None and num_proxies.strip() != "0":
        # Removed: the server resolves the client address from TRUSTED_PROXIES, so a second
        # X-Forwarded-For walk in the app would pick the wrong entry (docs/decisions/0006).
        hint = (
            EMPTY_HINT
            if not num_proxies.strip()
            else "deprecated: leave unset and set TRUSTED_PROXIES"
        )
        report.problems.append(EnvProblem("NUM_PROXIES", "invalid", hint))
    for names, zero_ok, hint in (
        (FLOAT_VARIABLES, False, "positive number"),
        (NON_NEGATIVE_FLOAT_VARIABLES, True, "number, 0 or more"),
    ):
        for name in names:
            raw = env.get(name)
            if raw is None:
                continue
            if not raw.strip():
                report.problems.append(EnvProblem(name, "invalid", EMPTY_HINT))
                continue
            try:
                number = float(raw.strip())
                if not math.isfinite(number) or number < 0 or (number == 0 and not zero_ok):
                    raise ValueError
            except ValueError:
                report.problems.append(EnvProblem(name, "invalid", hint))
    for name in RATE_VARIABLES:
        raw = env.get(name)
        if raw is not None and not _RATE_RE.match(raw.strip()):
            hint = EMPTY_HINT if not raw.strip() else "like 120/min"
            report.problems.append(EnvProblem(name, "invalid", hint))
    level = env.get("LOG_LEVEL")
    if level is not None and level.strip().upper() not in LOG_LEVELS:
        hint = EMPTY_HINT if not level.strip() else "|".join(LOG_LEVELS)
        report.problems.append(EnvProblem("LOG_LEVEL", "invalid", hint))
    host = env.get("HOST")
    if host is not None and not _valid_host(host):
        hint = EMPTY_HINT if not host.strip() else "an IP address or a host name, no spaces"
        report.problems.append(EnvProblem("HOST", "invalid", hint))
    _check_runtime(env, report)


# --- runtime sizing (docs/decisions/0008-connection-pooling.md, docs/operations/deployment.md)
#: Threads per ASGI process that run sync views (and the request's middleware); 4, not 8,
#: since the hot paths hold no lock across a round trip (docs/decisions/0022-web-worker-runtime.md).
DEFAULT_ASGI_THREADS = 4
DEFAULT_DB_POOL_MIN_SIZE = 2
DEFAULT_DB_POOL_TIMEOUT_SECONDS = 5.0
DEFAULT_WEB_GRACEFUL_TIMEOUT_SECONDS = 30.0
#: How long an idle keep-alive connection stays open. Above the idle timeout of whatever
#: keeps connections to us (nginx 75 s, AWS ALB 60 s): the side that closes an idle
#: connection must be the client, or a request sent as the server closes it is reset
#: (uvicorn's own default, 5 s, lost requests that way under load: docs/operations/drills.md).
DEFAULT_WEB_KEEPALIVE_SECONDS = 90.0
#: Upper bound of the CPU-derived default of WEB_CONCURRENCY.
MAX_DEFAULT_WEB_CONCURRENCY = 8


def web_keepalive_seconds(environ: Mapping[str, str] | None = None) -> float:
    """WEB_KEEPALIVE_SECONDS (validated by ``validate_env``), default 90."""
    env = os.environ if environ is None else environ
    raw = (env.get("WEB_KEEPALIVE_SECONDS") or "").strip()
    return float(raw) if raw else DEFAULT_WEB_KEEPALIVE_SECONDS


def _int_or_none(env: Mapping[str, str], name: str) -> int | None:
    raw = (env.get(name) or "").strip()
    return int(raw) if raw.isdigit() else None


def asgi_threads(environ: Mapping[str, str] | None = None) -> int:
    """ASGI_THREADS, default 4: the sync threads of one ASGI process."""
    env = os.environ if environ is None else environ
    return _int_or_none(env, "ASGI_THREADS") or DEFAULT_ASGI_THREADS


def db_pool_sizes(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(min_size, max_size) of this process's PostgreSQL pool; max_size 0 = no pool.

    max_size defaults to ASGI_THREADS + 1: a request thread holds at most one connection,
    and the process's WebSocket consumers run their database work on one thread of their own
    (``database_sync_to_async``); more would never be used by the web process and fewer
    makes threads wait for one.
    """
    env = os.environ if environ is None else environ
    max_size = _int_or_none(env, "DB_POOL_MAX_SIZE")
    if max_size is None:
        max_size = asgi_threads(env) + 1
    min_size = _int_or_none(env, "DB_POOL_MIN_SIZE")
    if min_size is None:
        min_size = min(DEFAULT_DB_POOL_MIN_SIZE, max_size)
    return min_size, max_size


def default_web_concurrency(cpu_count: int | None = None) -> int:
    """CPUs usable by this process, between 1 and MAX_DEFAULT_WEB_CONCURRENCY."""
    if cpu_count is None:
        try:
            cpu_count = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpu_count = os.cpu_count() or 1
    return max(1, min(cpu_count, MAX_DEFAULT_WEB_CONCURRENCY))


def web_concurrency(environ: Mapping[str, str] | None = None) -> int:
    """WEB_CONCURRENCY, or: one process in embedded mode (no REDIS_URL: the in-memory
    channel layer lives in one process), else one per usable CPU (at most 8)."""
    env = os.environ if environ is None else environ
    explicit = _int_or_none(env, "WEB_CONCURRENCY")
    if explicit:
        return explicit
    if not (env.get("REDIS_URL") or "").strip():
        return 1
    return default_web_concurrency()


def _check_runtime(env: Mapping[str, str], report: EnvReport) -> None:
    """Cross-variable rules of the pool and the worker model."""
    if any(
        p.variable in {"DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "ASGI_THREADS"}
        for p in report.problems
    ):
        return
    min_size, max_size = db_pool_sizes(env)
    if max_size and min_size > max_size:
        report.problems.append(
            EnvProblem("DB_POOL_MIN_SIZE", "invalid", "must not exceed DB_POOL_MAX_SIZE")
        )
    conn_max_age = _int_or_none(env, "DB_CONN_MAX_AGE")
    postgres = (env.get("DATABASE_URL") or "").strip().startswith(("postgres://", "postgresql://"))
    if postgres and max_size and conn_max_age:
        report.problems.append(
            EnvProblem(
                "DB_CONN_MAX_AGE",
                "invalid",
                "must be 0 while the pool is on (DB_POOL_MAX_SIZE > 0)",
            )
        )
    workers = _int_or_none(env, "WEB_CONCURRENCY")
    if workers and workers > 1 and not (env.get("REDIS_URL") or "").strip():
        report.problems.append(
            EnvProblem(
                "WEB_CONCURRENCY",
                "invalid",
                "more than 1 process needs REDIS_URL (the in-memory channel layer is per process)",
            )
        )


def parse_bool(raw: str | None, *, default: bool) -> bool | None:
    """Parse a boolean env value; None means "not a boolean"."""
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    return None


def parse_key_ring(raw: str | None) -> list[tuple[str, str]] | None:
    """Parse ``kid1:secret1,kid2:secret2`` into [(kid, secret)]; None when malformed.

    The first key signs, every key verifies. Kids are ``[A-Za-z0-9._-]{1,32}``.
    """
    if raw is None or raw.strip() == "":
        return []
    ring: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part or ":" not in part:
            return None
        kid, secret = part.split(":", 1)
        kid = kid.strip()
        if not kid or len(kid) > 32 or kid in seen:
            return None
        if not all(c.isalnum() or c in "._-" for c in kid) or not secret:
            return None
        seen.add(kid)
        ring.append((kid, secret))
    return ring


def parse_prefix_limits(raw: str | None) -> dict[str, int] | None:
    """Parse ``/api/uploads/=10485760,/api/x/=2097152`` (path prefix -> body limit in bytes)
    into a dict; {} when empty, None when malformed (a prefix must start with ``/``, a limit
    must be a positive integer, a prefix may appear once)."""
    if raw is None or raw.strip() == "":
        return {}
    limits: dict[str, int] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        prefix, sep, value = part.rpartition("=")
        prefix, value = prefix.strip(), value.strip()
        if not sep or not prefix.startswith("/") or prefix in limits:
            return None
        if not value.isdigit() or int(value) < 1:
            return None
        limits[prefix] = int(value)
    return limits


def parse_trusted_proxies(raw: str | None) -> list[str] | None:
    """Parse ``TRUSTED_PROXIES`` (``10.0.0.5, 10.1.0.0/16, ::1``, or ``*``) into a list;
    [] when empty (trust no proxy), None when an entry is neither an IP nor a CIDR."""
    if raw is None or raw.strip() == "":
        return []
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    if entries == ["*"]:
        return entries
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return None
    return entries


def current_environment(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get("AVENTIDE_ENV") or "development").strip().lower()


def _missing(env: Mapping[str, str], name: str) -> bool:
    return not (env.get(name) or "").strip()


def _check_ring(
    env: Mapping[str, str],
    report: EnvReport,
    *,
    ring_var: str,
    single_var: str,
    required: bool,
) -> None:
    ring = parse_key_ring(env.get(ring_var))
    if ring is None:
        report.problems.append(EnvProblem(ring_var, "invalid", "format kid:secret[,kid:secret]"))
        return
    single = (env.get(single_var) or "").strip()
    if not ring and not single:
        if required:
            report.problems.append(
                EnvProblem(f"{ring_var}|{single_var}", "missing", f"set {ring_var} or {single_var}")
            )
        return
    if required:
        secrets = [s for _, s in ring] or [single]
        if any(len(s) < MIN_SECRET_LENGTH for s in secrets):
            name = ring_var if ring else single_var
            report.problems.append(
                EnvProblem(name, "invalid", f"each secret needs >= {MIN_SECRET_LENGTH} chars")
            )


def check_env(environ: Mapping[str, str] | None = None) -> EnvReport:
    """Return every problem of the environment (no side effects)."""
    env = os.environ if environ is None else environ
    environment = current_environment(env)
    report = EnvReport(environment=environment)
    if environment not in ENVIRONMENTS:
        report.problems.append(EnvProblem("AVENTIDE_ENV", "invalid", "|".join(ENVIRONMENTS)))
        return report
    production = environment == "production"

    for name in ("DEBUG", "ENABLE_PUSH_NOTIFICATIONS", "CELERY_TASK_ALWAYS_EAGER"):
        if parse_bool(env.get(name), default=False) is None:
            report.problems.append(EnvProblem(name, "invalid", "boolean expected"))

    _check_typed(env, report)

    db_url = (env.get("DATABASE_URL") or "").strip()
    if db_url and not db_url.startswith(("postgres://", "postgresql://", "sqlite://")):
        report.problems.append(EnvProblem("DATABASE_URL", "invalid", "postgres:// or sqlite://"))
    redis_url = (env.get("REDIS_URL") or "").strip()
    if redis_url and not redis_url.startswith(("redis://", "rediss://")):
        report.problems.append(EnvProblem("REDIS_URL", "invalid", "redis:// or rediss://"))

    # Key rings are parsed in every mode so a typo fails fast in development too.
    _check_ring(
        env, report, ring_var="JWT_SIGNING_KEYS", single_var="JWT_SECRET", required=production
    )
    _check_ring(
        env, report, ring_var="ANON_SIGNING_KEYS", single_var="ANON_SECRET", required=production
    )

    if production:
        if _missing(env, "SECRET_KEY"):
            report.problems.append(EnvProblem("SECRET_KEY", "missing"))
        elif len(env["SECRET_KEY"].strip()) < MIN_SECRET_LENGTH:
            report.problems.append(
                EnvProblem("SECRET_KEY", "invalid", f">= {MIN_SECRET_LENGTH} chars")
            )
        if _missing(env, "DATABASE_URL"):
            report.problems.append(EnvProblem("DATABASE_URL", "missing"))
        elif not db_url.startswith(("postgres://", "postgresql://")):
            report.problems.append(
                EnvProblem("DATABASE_URL", "invalid", "production needs PostgreSQL")
            )
        if _missing(env, "REDIS_URL"):
            report.problems.append(EnvProblem("REDIS_URL", "missing"))
        if _missing(env, "ALLOWED_HOSTS"):
            report.problems.append(EnvProblem("ALLOWED_HOSTS", "missing"))
        if parse_bool(env.get("DEBUG"), default=False):
            report.problems.append(EnvProblem("DEBUG", "invalid", "must be off in production"))
        _check_integrations(env, report)
        push = parse_bool(env.get("ENABLE_PUSH_NOTIFICATIONS"), default=True)
        if push:
            for name in ("VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY"):
                if _missing(env, name):
                    report.problems.append(EnvProblem(name, "missing", "or push off"))
            if _missing(env, "VAPID_SUBJECT") and _missing(env, "VAPID_EMAIL"):
                report.problems.append(
                    EnvProblem("VAPID_SUBJECT", "missing", "or legacy VAPID_EMAIL, or push off")
                )
            subject = vapid_subject(env)
            if subject and not subject.startswith(("mailto:", "https://")):
                report.problems.append(
                    EnvProblem("VAPID_SUBJECT", "invalid", "mailto: or https://")
                )
    _check_vapid_keys(env, report)
    return report


def b64url_decode(value: str) -> bytes | None:
    """Bytes of a base64url string (padding optional); None when it is not base64url."""
    text = value.strip()
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text):
        return None
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def vapid_private_key_form(raw: str) -> str | None:
    """ "raw" (base64url of the 32-byte secret), "pem", "der" (base64url DER), or None."""
    text = raw.strip()
    if text.startswith("-----BEGIN") and "PRIVATE KEY-----" in text:
        return "pem"
    decoded = b64url_decode("".join(text.split()))
    if decoded is None:
        return None
    if len(decoded) == 32:
        return "raw"
    if len(decoded) > 32 and decoded[0] == 0x30:  # an ASN.1 SEQUENCE
        return "der"
    return None


def _check_vapid_keys(env: Mapping[str, str], report: EnvReport) -> None:
    """The VAPID keys, when set, in the Web Push form (names only in the report, never values)."""
    public = env.get("VAPID_PUBLIC_KEY")
    if public is not None and public.strip():
        point = b64url_decode(public)
        if point is None or len(point) != 65 or point[0] != 0x04:
            report.problems.append(
                EnvProblem(
                    "VAPID_PUBLIC_KEY",
                    "invalid",
                    "base64url of the 65-byte uncompressed P-256 point (manage.py push vapid-keys)",
                )
            )
    private = env.get("VAPID_PRIVATE_KEY")
    if private is not None and private.strip() and vapid_private_key_form(private) is None:
        report.problems.append(
            EnvProblem(
                "VAPID_PRIVATE_KEY",
                "invalid",
                "base64url of the raw 32-byte key, or a PEM key (manage.py push vapid-keys)",
            )
        )


def _check_integrations(env: Mapping[str, str], report: EnvReport) -> None:
    """Production: the secrets the integrations hub cannot work without."""
    raw = env.get("INTEGRATIONS_WEBHOOK_PROVIDERS")
    providers = [p.strip().lower() for p in (raw or "payments,courier").split(",") if p.strip()]
    for provider in providers:
        name = f"WEBHOOK_SECRET_{provider.upper()}"
        if _missing(env, name):
            report.problems.append(EnvProblem(name, "missing", "its webhooks cannot be verified"))
    payments = env.get("INTEGRATIONS_PROVIDER_PAYMENTS") or env.get(
        "INTEGRATIONS_PROVIDERS_PAYMENTS", ""
    )
    if "stripe" in payments.lower() and _missing(env, "STRIPE_API_KEY"):
        report.problems.append(EnvProblem("STRIPE_API_KEY", "missing", "the payments adapter"))


def vapid_subject(environ: Mapping[str, str] | None = None) -> str:
    """VAPID_SUBJECT, or the legacy VAPID_EMAIL turned into a ``mailto:`` subject."""
    env = os.environ if environ is None else environ
    subject = (env.get("VAPID_SUBJECT") or "").strip()
    if subject:
        return subject
    email = (env.get("VAPID_EMAIL") or "").strip()
    if email:
        return email if email.startswith("mailto:") else f"mailto:{email}"
    return ""


def validate_env(environ: Mapping[str, str] | None = None) -> EnvReport:
    """Validate the environment; on failure print one JSON error to stderr and exit non-zero."""
    report = check_env(environ)
    if not report.ok:
        sys.stderr.write(json.dumps(report.as_error(), sort_keys=True) + "\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_CODE)
    return report
