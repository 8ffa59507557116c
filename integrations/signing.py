"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``, rotatable secrets.

Header (ours, Stripe-like): ``X-Aventide-Signature: t=<unix seconds>,v1=<hex digest>``; a
header may carry several ``v1=`` values (one per secret during a rotation). Secrets come from
``WEBHOOK_SECRET_<PROVIDER>`` (comma-separated: the first signs, all verify), parsed into
``settings.WEBHOOK_SECRETS``. The sandbox providers sign with ``sign``; the webhook endpoint
checks with ``verify``. Stripe's own ``Stripe-Signature`` header has the same shape
(``t=...,v1=...``) and the same construction, so ``verify`` accepts it too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from django.conf import settings

SIGNATURE_HEADER = "X-Aventide-Signature"
STRIPE_SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 2048


class SignatureInvalid(Exception):
    """The signature is missing, malformed, stale or matches no secret. ``reason`` is for logs
    (never the secret or the body)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def secrets_for(provider: str) -> list[str]:
    """The provider's webhook secrets, signing secret first ([] when none is configured)."""
    configured: dict[str, list[str]] = getattr(settings, "WEBHOOK_SECRETS", {})
    return list(configured.get(provider, []))


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The signature header value for ``body``, signed now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={_digest(secret, ts, body)}"


def verify(
    body: bytes,
    header: str | None,
    *,
    secrets: Sequence[str],
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check ``header`` for ``body``; return the signed timestamp or raise ``SignatureInvalid``.

    Valid when one ``v1`` value equals the HMAC of one of ``secrets`` (constant-time compare)
    and the timestamp is within ``tolerance_seconds`` of now, in either direction."""
    if not secrets:
        raise SignatureInvalid("no secret configured")
    if not header or len(header) > MAX_HEADER_LENGTH:
        raise SignatureInvalid("missing or oversized header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("malformed timestamp") from None
        elif key == "v1":
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SignatureInvalid("malformed header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureInvalid("stale timestamp")
    for secret in secrets:
        expected = _digest(secret, timestamp, body)
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return timestamp
    raise SignatureInvalid("no matching signature")
