"""JSON logs (structlog), one object per line on stdout, with redaction.

Every line has ``ts, level, event, logger, requestId`` (and ``actor`` when known). The
redaction processor runs last before rendering, for structlog and stdlib records alike
(Django, uvicorn, Celery go through the same ``ProcessorFormatter``):
- keys that name secrets (tokens, cookies, Authorization, signatures, passwords, tickets) and
  keys that carry raw bodies or query strings are replaced by ``[REDACTED]``;
- in every string value, bearer tokens and JWTs are replaced, query strings are cut from
  URLs/paths, and emails and phone numbers are masked.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from aventide.core import context

REDACTED = "[REDACTED]"
_SECRET_KEY_PARTS = (
    "token",
    "password",
    "passwd",
    "secret",
    "signature",
    "cookie",
    "authorization",
    "ticket",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "session",
)
_RAW_KEYS = {
    "body",
    "raw_body",
    "request_body",
    "response_body",
    "query",
    "query_string",
    "querystring",
    "query_params",
    "headers",
    "http_authorization",
}
_SAFE_KEYS = {"ts", "level", "logger", "requestId", "event_id", "durationMs"}

_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*)?")
# Every pattern below runs in linear time on hostile input (a log line may carry text a client
# sent): a match may only START where the previous character cannot belong to it (the
# lookbehinds), so a long run of candidate characters is scanned once, not once per position;
# the scans that could still repeat are bounded. tests/core/test_logging_redaction_cost.py.
_URL_QUERY_RE = re.compile(
    r"((?:(?<![^\s\"'=(<\[,;])https?://[^\s?#\"']{0,2048})"
    r"|(?:(?<![^\s\"'(<\[,;])/[^\s?#\"']{0,2048}))\?[^\s#\"']*"
)
_EMAIL_RE = re.compile(r"(?i)(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}")
_PHONE_RE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{6,24}\d(?![\w])")
#: UUIDs (request, task, anonymous-identity ids) are ids, not phone numbers: kept as they are.
_UUID_RE = re.compile(
    r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"(?![0-9A-Fa-f-])"
)
#: ISO-8601 timestamps (``2026-12-05T03:56:21.123456+00:00``, also with a space): times, not
#: phone numbers -- kept whole, like UUIDs. Their fraction and offset looked like one
#: (``21.123456``: 8 digits), and every event's ``createdAt`` went out as ``03:56:[phone]+00:00``.
_TIMESTAMP_RE = re.compile(
    r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?(?![0-9])"
)
_KEEP_WHOLE_RE = re.compile(f"{_UUID_RE.pattern}|{_TIMESTAMP_RE.pattern}")
#: Longer strings are cut before redaction (a log line is no place for them).
MAX_REDACTED_CHARS = 16_384
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_KV_SECRET_RE = re.compile(
    r"(?i)\b(token|access_token|refresh_token|password|secret|signature|sig|ticket|api_key|code"
    r"|sessionid|csrftoken|session)=([^&;\s\"']+)"
)
_PII_KEY_PARTS = ("phone", "email", "mobile", "whatsapp")
#: What the patterns above need to change a text: whitespace (a bearer token, and inside a
#: phone), ``@`` (an e-mail), ``?`` (a query), ``=`` (key=value), ``eyJ`` (a JWT), or a digit
#: followed by 6 digits or phone separators (the shortest phone is 8 such characters). A text
#: with none of them -- most of a log line's values: event names, codes, routes, short ids,
#: statuses -- is kept as it is without running them; so is a lone timestamp, and a string
#: of ASCII letters, digits and ``_`` that is not all digits (a hex digest: a phone there
#: would have to be the whole string, as nothing else can precede or end it).
#: tests/core/test_logging.py checks on generated text that the full redaction leaves every
#: such string alone.
_INERT_MAX_CHARS = 512
_MAY_CHANGE_RE = re.compile(r"[\s@?=]|eyJ|\d[\d().-]{6}")
_WORD_RE = re.compile(r"[A-Za-z0-9_]*")


def is_inert(value: str) -> bool:
    """True when ``redact_text`` returns ``value`` unchanged (see ``_MAY_CHANGE_RE``)."""
    if len(value) > _INERT_MAX_CHARS:
        return False
    if _MAY_CHANGE_RE.search(value) is None or _TIMESTAMP_RE.fullmatch(value) is not None:
        return True
    return _WORD_RE.fullmatch(value) is not None and not value.isdigit()


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if digits < 8 or _DATE_RE.match(text):
        return text
    return "[phone]"


def redact_text(value: str) -> str:
    """Mask secrets and PII inside free text (messages, URLs, exception text).

    Text longer than ``MAX_REDACTED_CHARS`` is cut there first, with a marker saying how much
    was dropped."""
    if is_inert(value):
        return value
    return _redact_text_full(value)


def _redact_text_full(value: str) -> str:
    if len(value) > MAX_REDACTED_CHARS:
        dropped = len(value) - MAX_REDACTED_CHARS
        value = f"{value[:MAX_REDACTED_CHARS]}...[{dropped} chars cut]"
    value = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    value = _JWT_RE.sub("[jwt]", value)
    value = _URL_QUERY_RE.sub(lambda m: f"{m.group(1)}?{REDACTED}", value)
    value = _KV_SECRET_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", value)
    value = _EMAIL_RE.sub("[email]", value)
    return _mask_phones(value)


def _mask_phones(value: str) -> str:
    """Phone numbers masked everywhere except inside UUIDs and timestamps (whose digit groups
    look like one: ``fffd444a-819a-4423-8123-d4994d680176``, ``03:56:21.123456+00:00``)."""
    parts: list[str] = []
    last = 0
    for match in _KEEP_WHOLE_RE.finditer(value):
        parts.append(_PHONE_RE.sub(_mask_phone, value[last : match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_PHONE_RE.sub(_mask_phone, value[last:]))
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    if lowered in _RAW_KEYS:
        return True
    return any(part in lowered for part in _SECRET_KEY_PARTS)


def redact_value(value: Any, *, depth: int = 0) -> Any:
    if depth > 6:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value, depth=depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth=depth + 1) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_text(str(value))


def redact_mapping(data: Mapping[str, Any], *, depth: int = 0) -> dict[str, Any]:
    """Redact a mapping: secret/raw keys dropped to [REDACTED], values masked. Pure."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        skey = str(key)
        if skey in _SAFE_KEYS:
            out[skey] = value
        elif _is_secret_key(skey):
            out[skey] = REDACTED
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and any(p in skey.lower() for p in _PII_KEY_PARTS)
        ):
            out[skey] = "[pii]"  # a phone number stored as a number
        else:
            out[skey] = redact_value(value, depth=depth)
    return out


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return redact_mapping(event_dict)


def add_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.setdefault("requestId", context.get_request_id())
    principal = context.get_principal()
    if principal is not None:
        event_dict.setdefault("actor", principal.as_log())
    return event_dict


def _drop_stdlib_noise(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn/Django attach request objects or sockets via `extra`; never render them.
    for key in ("request", "scope", "server_time", "color_message", "_from_structlog"):
        event_dict.pop(key, None)
    record = event_dict.pop("_record", None)
    if record is not None and "logger" not in event_dict:
        event_dict["logger"] = record.name
    return event_dict


class DropTraceback(logging.Filter):
    """For expected client faults (a bad Host header): keep the line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    add_context,
]


def build_logging_config(level: str = "INFO", task_events_level: str = "WARNING") -> dict[str, Any]:
    """Configure structlog and return the stdlib dictConfig that renders JSON on stdout."""
    # The JSON lines never show the caller's file and line, thread or process names: the
    # stdlib's documented switches stop every LogRecord from walking the stack to find the
    # caller and from looking those names up.
    # logging/__init__.py: "Setting _srcfile to None will prevent findCaller() from being called"
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": SHARED_PROCESSORS,
                "processors": [
                    _drop_stdlib_noise,
                    structlog.processors.format_exc_info,
                    redact_processor,
                    structlog.processors.JSONRenderer(sort_keys=False, default=str),
                ],
            }
        },
        "filters": {"drop_traceback": {"()": "aventide.core.logging.DropTraceback"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
            },
            "stdout_no_traceback": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
                "filters": ["drop_traceback"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django": {"handlers": ["stdout"], "level": level, "propagate": False},
            # 4xx are already one METRIC_HTTP_REQUEST line; 5xx keep Django's ERROR line
            # (path only, never the query string) with the traceback.
            "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
            "django.server": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            # Bad Host headers, malformed cookies...: a client fault, one line, no traceback.
            "django.security": {
                "handlers": ["stdout_no_traceback"],
                "level": "WARNING",
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stdout"], "level": level, "propagate": False},
            # The access log prints raw paths with query strings: off (METRIC_HTTP_REQUEST
            # replaces it). Kept routed through redaction in case it is switched on.
            "uvicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            "celery": {"handlers": ["stdout"], "level": level, "propagate": False},
            # Task loggers (get_task_logger) hang below celery.task; Celery would otherwise
            # give them a plain-text stderr handler of its own.
            "celery.task": {"handlers": ["stdout"], "level": level, "propagate": False},
            "celery.redirected": {"handlers": ["stdout"], "level": level, "propagate": False},
            # Celery's two INFO lines per task ("received", "succeeded in"): ~3% of a job's
            # worker CPU (bench/outbox.py); the job's own metric line and audit rows keep the
            # record. Failures are WARNING/ERROR and stay. CELERY_TASK_EVENTS_LOG_LEVEL=INFO
            # brings them back.
            "celery.app.trace": {
                "handlers": ["stdout"],
                "level": task_events_level,
                "propagate": False,
            },
            "celery.worker.strategy": {
                "handlers": ["stdout"],
                "level": task_events_level,
                "propagate": False,
            },
            "daphne": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
    }


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def log_runtime_flags() -> None:
    """Say at start-up which optional features are off, so "off" is explicit in the logs."""
    from django.conf import settings

    if not settings.PUSH_EFFECTIVELY_ENABLED:
        get_logger("aventide.startup").warning(
            "PUSH_DISABLED",
            reason="ENABLE_PUSH_NOTIFICATIONS=false"
            if not settings.ENABLE_PUSH_NOTIFICATIONS
            else "VAPID keys not configured",
        )


__all__ = ["build_logging_config", "get_logger", "logging", "redact_mapping", "redact_text"]
