"""Verify Google Sign-In ID tokens against Google's JWKS.

- RS256 only; the signing key is picked by the token's ``kid`` from the JWKS at
  ``settings.GOOGLE_JWKS_URL``. The JWKS is cached in the shared Django cache for its
  ``Cache-Control: max-age`` (clamped to 5 min .. 24 h; 1 h when absent). A ``kid`` missing
  from the cached set triggers at most one refetch per minute (Google rotated its keys), so
  forged kids cannot make us hammer Google.
- Checks ``iss`` (accounts.google.com), ``aud`` (one of ``settings.GOOGLE_CLIENT_IDS``),
  ``exp``/``iat`` (with ``JWT_LEEWAY_SECONDS``), ``sub`` and ``email_verified``.
- The JWKS URL must be https (plain http is accepted only for a loopback host: tests).
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.core.cache import cache

from aventide.accounts.errors import (
    GoogleEmailUnverified,
    GoogleNotConfigured,
    GoogleTokenInvalid,
    GoogleUnavailable,
)
from aventide.core.logging import get_logger

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
JWKS_CACHE_KEY = "auth:google:jwks"
JWKS_REFETCH_GUARD_KEY = "auth:google:jwks:refetch"
JWKS_DEFAULT_TTL = 3600
JWKS_MIN_TTL = 300
JWKS_MAX_TTL = 86400
JWKS_REFETCH_INTERVAL = 60
JWKS_MAX_BYTES = 256 * 1024
_MAX_AGE_RE = re.compile(r"max-age=(\d+)")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

logger = get_logger("aventide.auth.google")


@dataclass(frozen=True)
class GoogleIdentity:
    sub: str
    email: str
    name: str


JWKS_FAILURE_KEY = "google:jwks:failed"
JWKS_FAILURE_TTL = 30


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return
    raise GoogleUnavailable()


def fetch_jwks() -> dict[str, Any]:
    """Download the JWKS and cache it for its max-age. GoogleUnavailable on any failure.

    A failure is remembered for ``JWKS_FAILURE_TTL`` seconds: during a Google outage logins
    answer ``GOOGLE_UNAVAILABLE`` at once instead of each waiting for the fetch timeout.
    """
    url: str = settings.GOOGLE_JWKS_URL
    _check_url(url)
    if cache.get(JWKS_FAILURE_KEY):
        raise GoogleUnavailable()
    try:
        return _download_jwks(url)
    except GoogleUnavailable:
        cache.set(JWKS_FAILURE_KEY, 1, JWKS_FAILURE_TTL)
        raise


def _download_jwks(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(  # noqa: S310  # scheme checked above (https/loopback)
            url, timeout=settings.GOOGLE_JWKS_TIMEOUT_SECONDS
        ) as response:
            body = response.read(JWKS_MAX_BYTES + 1)
            cache_control = response.headers.get("Cache-Control", "")
    except OSError:
        logger.warning("GOOGLE_JWKS_FETCH_FAILED")
        raise GoogleUnavailable() from None
    if len(body) > JWKS_MAX_BYTES:
        raise GoogleUnavailable()
    try:
        jwks = json.loads(body)
        keys = jwks["keys"]
        if not isinstance(keys, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        logger.warning("GOOGLE_JWKS_MALFORMED")
        raise GoogleUnavailable() from None
    match = _MAX_AGE_RE.search(cache_control)
    ttl = int(match.group(1)) if match else JWKS_DEFAULT_TTL
    ttl = max(JWKS_MIN_TTL, min(ttl, JWKS_MAX_TTL))
    cache.set(JWKS_CACHE_KEY, {"keys": keys}, ttl)
    return {"keys": keys}


def _find_key(jwks: dict[str, Any], kid: str) -> Any:
    for entry in jwks.get("keys", []):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            try:
                return jwt.PyJWK(entry, algorithm="RS256").key
            except jwt.PyJWTError:
                return None
    return None


def signing_key(kid: str) -> Any:
    jwks = cache.get(JWKS_CACHE_KEY)
    if jwks is None:
        jwks = fetch_jwks()
    key = _find_key(jwks, kid)
    if key is None and cache.add(JWKS_REFETCH_GUARD_KEY, 1, JWKS_REFETCH_INTERVAL):
        key = _find_key(fetch_jwks(), kid)
    if key is None:
        raise GoogleTokenInvalid()
    return key


def verify_id_token(id_token: str) -> GoogleIdentity:
    """Verify a Google ID token and return the identity. Raises a DomainError otherwise."""
    client_ids: list[str] = list(settings.GOOGLE_CLIENT_IDS)
    if not client_ids:
        raise GoogleNotConfigured()
    if not id_token or len(id_token) > 8192:
        raise GoogleTokenInvalid()
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise GoogleTokenInvalid() from None
    kid = header.get("kid")
    if header.get("alg") != "RS256" or not isinstance(kid, str):
        raise GoogleTokenInvalid()
    key = signing_key(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=["RS256"],
            audience=client_ids,
            issuer=GOOGLE_ISSUERS,
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.PyJWTError:
        raise GoogleTokenInvalid() from None
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise GoogleTokenInvalid()
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise GoogleEmailUnverified()
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise GoogleTokenInvalid()
    name = claims.get("name")
    return GoogleIdentity(
        sub=sub, email=email.strip().lower(), name=name[:150] if isinstance(name, str) else ""
    )
