"""Signed credentials: our JWTs (HS256, key ring with ``kid``) and anonymous-identity HMACs.

JWT
- Claims: ``sub, iat, nbf, exp, jti, iss, aud, typ`` (+ ``fam``, the refresh family = login
  session). Header: ``alg=HS256``, ``kid``.
- Key ring ``settings.JWT_SIGNING_KEYS`` = [(kid, secret), ...]: the first key signs, every key
  verifies. Rotation: deploy with the new key FIRST (old one still listed so live tokens keep
  working), later drop the old key; tokens signed by a dropped key answer ``TOKEN_INVALID``.
- The algorithm is pinned: the header must say HS256 and decoding allows only HS256, so
  ``alg: none`` and HS/RS confusion tokens are refused before any key is used.
- Clock leeway ``settings.JWT_LEEWAY_SECONDS`` (30 s) for ``exp``/``nbf``/``iat``.

Anonymous identities
- ``signature = base64url(HMAC-SHA256(key, str(anon_id)))`` without padding, with the first
  key of ``settings.ANON_SIGNING_KEYS``; verification tries every key of the ring with
  ``hmac.compare_digest`` (constant time, no early exit), so ANON keys rotate like JWT keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from aventide.accounts.errors import TokenExpired, TokenInvalid

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ("sub", "iat", "nbf", "exp", "jti", "iss", "aud", "typ")
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: uuid.UUID
    issued_at: datetime
    expires_at: datetime


def jwt_key_ring() -> list[tuple[str, str]]:
    ring: list[tuple[str, str]] = list(settings.JWT_SIGNING_KEYS)
    if not ring:
        raise RuntimeError("JWT_SIGNING_KEYS is empty")  # validate_env prevents this
    return ring


def anon_key_ring() -> list[tuple[str, str]]:
    ring: list[tuple[str, str]] = list(settings.ANON_SIGNING_KEYS)
    if not ring:
        raise RuntimeError("ANON_SIGNING_KEYS is empty")  # validate_env prevents this
    return ring


def encode_token(
    *,
    subject: str,
    typ: str,
    ttl: timedelta,
    extra: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Sign a token of type ``typ`` for ``subject`` with the first key of the ring."""
    kid, secret = jwt_key_ring()[0]
    issued = (now or timezone.now()).replace(microsecond=0)
    expires = issued + ttl
    jti = uuid.uuid4()
    payload: dict[str, Any] = {
        **(extra or {}),
        "sub": subject,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": str(jti),
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "typ": typ,
    }
    token = jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token=token, jti=jti, issued_at=issued, expires_at=expires)


def decode_token(token: str, *, typ: str) -> dict[str, Any]:
    """Verify ``token`` and return its claims.

    Raises ``TokenExpired`` (valid signature, past ``exp`` + leeway) or ``TokenInvalid``
    (anything else: garbled, wrong alg, unknown/dropped kid, bad signature, wrong
    iss/aud/typ, missing claim, not yet valid).
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if header.get("alg") != ALGORITHM:
        raise TokenInvalid()
    kid = header.get("kid")
    secret = dict(jwt_key_ring()).get(kid) if isinstance(kid, str) else None
    if secret is None:
        raise TokenInvalid()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if claims.get("typ") != typ or not isinstance(claims.get("sub"), str):
        raise TokenInvalid()
    try:
        uuid.UUID(str(claims["jti"]))
    except ValueError:
        raise TokenInvalid() from None
    return claims


# --- anonymous identities ---------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _anon_mac(secret: str, anon_id: uuid.UUID) -> str:
    digest = hmac.new(secret.encode(), str(anon_id).encode("ascii"), hashlib.sha256).digest()
    return _b64url(digest)


def sign_anonymous_id(anon_id: uuid.UUID | str, *, kid: str | None = None) -> str:
    """The signature a client sends in ``X-Anonymous-Signature`` (current key, or ``kid``)."""
    ring = anon_key_ring()
    secret = dict(ring)[kid] if kid is not None else ring[0][1]
    return _anon_mac(secret, uuid.UUID(str(anon_id)))


def parse_anonymous_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw.strip()) if len(raw) <= 64 else None
    except (ValueError, AttributeError):
        return None


def verify_anonymous_signature(anon_id: uuid.UUID, signature: str) -> bool:
    """True when ``signature`` matches ``anon_id`` under any key of the ring.

    Every key is compared with ``hmac.compare_digest`` and the loop never exits early, so the
    time taken does not depend on where the signatures differ nor on which key matched.
    """
    presented = signature.strip().encode("utf-8", "replace")[:128]
    matched = False
    for _, secret in anon_key_ring():
        expected = _anon_mac(secret, anon_id).encode("ascii")
        matched = hmac.compare_digest(expected, presented) | matched
    return matched
