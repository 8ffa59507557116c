"""Signed credentials at their edges: the token size limit, issued times, id parsing, rings."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from aventide.accounts import tokens
from aventide.accounts.errors import TokenInvalid

K1 = ("k1", "k1-secret-0000000000000000000000000000000000")


@pytest.fixture(autouse=True)
def _ring(settings) -> None:
    settings.JWT_SIGNING_KEYS = [K1]


# --- the token API (one place each) ---------------------------------------------------------


def _decode(token: str) -> dict:
    return tokens.decode_token(token, typ="access")


def _token_of_length(length: int) -> str:
    """A correctly signed access token exactly ``length`` characters long."""
    now = int(time.time())
    for sub, note in ((s, n) for s in ("1", "12", "123") for n in ("", "a", "ab")):
        for pad in range(2700, 3100):
            claims = {
                "sub": sub,
                "iat": now,
                "nbf": now,
                "exp": now + 60,
                "jti": str(uuid.UUID(int=7)),
                "iss": "aventide",
                "aud": "aventide-api",
                "typ": "access",
                "pad": "x" * pad,
            }
            headers = {"kid": K1[0], **({"note": note} if note else {})}
            token = jwt.encode(claims, K1[1], algorithm="HS256", headers=headers)
            if len(token) == length:
                return token
    raise AssertionError(f"no token of {length} chars")


def test_tokens_decode_accepts_a_token_of_exactly_the_size_limit() -> None:
    assert tokens.MAX_TOKEN_LENGTH == 4096
    assert _decode(_token_of_length(4096))["typ"] == "access"
    assert _decode(_token_of_length(4095))["typ"] == "access"


def test_tokens_decode_refuses_a_well_signed_token_over_the_size_limit() -> None:
    with pytest.raises(TokenInvalid):
        _decode(_token_of_length(4097))


def test_tokens_encode_reports_the_times_written_in_the_token() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, 987_654, tzinfo=UTC)
    issued = tokens.encode_token(subject="9", typ="access", ttl=timedelta(minutes=5), now=now)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert issued.issued_at == datetime.fromtimestamp(claims["iat"], tz=UTC)
    assert issued.issued_at == now.replace(microsecond=0)
    assert issued.expires_at == datetime.fromtimestamp(claims["exp"], tz=UTC)
    assert claims["nbf"] == claims["iat"]
    assert str(issued.jti) == claims["jti"]


def test_tokens_parse_anonymous_id_accepts_up_to_64_characters() -> None:
    anon = uuid.uuid4()
    padded = f"{anon}".rjust(64)  # whitespace around an id is tolerated up to 64 chars
    assert tokens.parse_anonymous_id(padded) == anon
    assert tokens.parse_anonymous_id(" " + padded) is None
    assert tokens.parse_anonymous_id("not-a-uuid") is None


def test_tokens_key_rings_must_not_be_empty(settings) -> None:
    settings.JWT_SIGNING_KEYS = []
    with pytest.raises(RuntimeError, match="JWT_SIGNING_KEYS"):
        tokens.encode_token(subject="1", typ="access", ttl=timedelta(minutes=1))
    settings.ANON_SIGNING_KEYS = []
    with pytest.raises(RuntimeError, match="ANON_SIGNING_KEYS"):
        tokens.sign_anonymous_id(uuid.uuid4())
