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
- ENABLE_PUSH_NOTIFICATIONS (default true): when true in production, VAPID_PUBLIC_KEY,
  VAPID_PRIVATE_KEY and VAPID_SUBJECT (or the legacy VAPID_EMAIL) are required.
"""

from __future__ import annotations

import json
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
    "AUTH_IP_BLOCK_SECONDS",
    "AUTH_IP_FAILURE_LIMIT",
    "AUTH_IP_FAILURE_WINDOW_SECONDS",
    "AUTH_IPV6_PREFIX_LENGTH",
    "AUTH_LOCKOUT_BASE_SECONDS",
    "AUTH_LOCKOUT_FAILURES",
    "AUTH_LOCKOUT_MAX_SECONDS",
    "AUTH_LOCKOUT_WINDOW_SECONDS",
    "DB_CONNECT_TIMEOUT",
    "DB_CONN_MAX_AGE",
    "JWT_ACCESS_TTL_SECONDS",
    "JWT_LEEWAY_SECONDS",
    "JWT_REFRESH_TTL_SECONDS",
    "NUM_PROXIES",
    "PORT",
    "SECURE_HSTS_SECONDS",
    "WEB_CONCURRENCY",
)
FLOAT_VARIABLES = ("GOOGLE_JWKS_TIMEOUT_SECONDS", "HEALTH_CHECK_TIMEOUT_SECONDS")
RATE_VARIABLES = ("THROTTLE_ANON", "THROTTLE_AUTH", "THROTTLE_USER")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_RATE_RE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _check_typed(env: Mapping[str, str], report: EnvReport) -> None:
    for name in INT_VARIABLES:
        raw = (env.get(name) or "").strip()
        if raw and not (raw.isdigit() and int(raw) >= 0):
            report.problems.append(EnvProblem(name, "invalid", "non-negative integer"))
    for name in FLOAT_VARIABLES:
        raw = (env.get(name) or "").strip()
        if raw:
            try:
                if float(raw) <= 0:
                    raise ValueError
            except ValueError:
                report.problems.append(EnvProblem(name, "invalid", "positive number"))
    for name in RATE_VARIABLES:
        raw = (env.get(name) or "").strip()
        if raw and not _RATE_RE.match(raw):
            report.problems.append(EnvProblem(name, "invalid", "like 120/min"))
    level = (env.get("LOG_LEVEL") or "").strip().upper()
    if level and level not in LOG_LEVELS:
        report.problems.append(EnvProblem("LOG_LEVEL", "invalid", "|".join(LOG_LEVELS)))


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
    return report


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
