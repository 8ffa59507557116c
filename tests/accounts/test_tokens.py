"""JWT done right: claims, pinned algorithm, 30 s leeway, kid + key ring rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from aventide.accounts import tokens
from aventide.accounts.errors import TokenExpired, TokenInvalid
from tests.accounts.factories import bearer, make_user

K1 = ("k1", "k1-secret-0000000000000000000000000000000000")
K2 = ("k2", "k2-secret-1111111111111111111111111111111111")


@pytest.fixture(autouse=True)
def _ring(settings) -> None:
    settings.JWT_SIGNING_KEYS = [K1]


def _raw(claims: dict, *, key: str = K1[1], kid: str = "k1", alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _claims(**overrides) -> dict:
    now = int(time.time())
    base = {
        "sub": "1",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "7d4f7c2e-4e0b-4a53-9b5d-0f3c9a7f1a11",
        "iss": "aventide",
        "aud": "aventide-api",
        "typ": "access",
    }
    base.update(overrides)
    return base


def test_encode_token_has_every_claim_and_kid_header() -> None:
    issued = tokens.encode_token(subject="42", typ="access", ttl=timedelta(minutes=15))
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "HS256" and header["kid"] == "k1"
    claims = tokens.decode_token(issued.token, typ="access")
    assert set(tokens.REQUIRED_CLAIMS) <= set(claims)
    assert claims["sub"] == "42" and claims["typ"] == "access"
    assert claims["iss"] == "aventide" and claims["aud"] == "aventide-api"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"] == str(issued.jti)


def test_expired_by_29_seconds_still_passes_thanks_to_leeway() -> None:
    now = math.ceil(time.time())  # exp at most 29 s ago whatever the sub-second part
    token = _raw(_claims(iat=now - 600, nbf=now - 600, exp=now - 29))
    assert tokens.decode_token(token, typ="access")["sub"] == "1"


def test_expired_by_31_seconds_fails_with_token_expired() -> None:
    now = math.floor(time.time())  # exp at least 31 s ago
    token = _raw(_claims(iat=now - 600, nbf=now - 600, exp=now - 31))
    with pytest.raises(TokenExpired):
        tokens.decode_token(token, typ="access")


def test_not_yet_valid_beyond_leeway_is_invalid() -> None:
    now = int(time.time())
    with pytest.raises(TokenInvalid):
        tokens.decode_token(_raw(_claims(nbf=now + 120, iat=now + 120)), typ="access")


def test_clock_skew_within_leeway_on_nbf_passes() -> None:
    now = int(time.time())
    assert tokens.decode_token(_raw(_claims(nbf=now + 20, iat=now + 20)), typ="access")


def _unsigned(claims: dict, header: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_alg_none_is_rejected() -> None:
    token = _unsigned(_claims(), {"alg": "none", "typ": "JWT", "kid": "k1"})
    with pytest.raises(TokenInvalid):
        tokens.decode_token(token, typ="access")


def test_hs_rs_confusion_tokens_are_rejected() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # 1) a real RS256 token (header alg RS256): refused by the pinned algorithm
    rs_token = _raw(_claims(), key=private, alg="RS256")  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid):
        tokens.decode_token(rs_token, typ="access")
    # 2) HS256 "signed" with the public key PEM as the HMAC secret (classic confusion)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    signing_input = _unsigned(_claims(), header).rstrip(".")
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged_with_pem = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        tokens.decode_token(forged_with_pem, typ="access")


@pytest.mark.parametrize(
    ("overrides", "typ"),
    [
        ({"iss": "someone-else"}, "access"),
        ({"aud": "another-api"}, "access"),
        ({"typ": "refresh"}, "access"),
        ({"sub": 1}, "access"),
        ({"jti": "not-a-uuid"}, "access"),
    ],
)
def test_wrong_claims_are_invalid(overrides: dict, typ: str) -> None:
    with pytest.raises(TokenInvalid):
        tokens.decode_token(_raw(_claims(**overrides)), typ=typ)


@pytest.mark.parametrize("missing", ["sub", "iat", "nbf", "exp", "jti", "iss", "aud", "typ"])
def test_every_claim_is_required(missing: str) -> None:
    claims = _claims()
    del claims[missing]
    with pytest.raises(TokenInvalid):
        tokens.decode_token(_raw(claims), typ="access")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOi.x.y", "x" * 5000])
def test_garbled_tokens_are_invalid(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        tokens.decode_token(garbage, typ="access")


def test_unknown_kid_and_missing_kid_are_invalid() -> None:
    with pytest.raises(TokenInvalid):
        tokens.decode_token(_raw(_claims(), kid="nope"), typ="access")
    no_kid = jwt.encode(_claims(), K1[1], algorithm="HS256")
    with pytest.raises(TokenInvalid):
        tokens.decode_token(no_kid, typ="access")


def test_signature_with_another_secret_is_invalid() -> None:
    with pytest.raises(TokenInvalid):
        tokens.decode_token(
            _raw(_claims(), key="another-secret-xxxxxxxxxxxxxxxxxxxx"), typ="access"
        )


def test_key_rotation_add_then_drop(settings) -> None:
    """Sign with k1; add k2 as signer (k1 still verifies); drop k1 -> old token invalid."""
    old = tokens.encode_token(subject="7", typ="access", ttl=timedelta(minutes=15))
    settings.JWT_SIGNING_KEYS = [K2, K1]
    assert tokens.decode_token(old.token, typ="access")["sub"] == "7"
    new = tokens.encode_token(subject="7", typ="access", ttl=timedelta(minutes=15))
    assert jwt.get_unverified_header(new.token)["kid"] == "k2"
    settings.JWT_SIGNING_KEYS = [K2]
    assert tokens.decode_token(new.token, typ="access")["sub"] == "7"
    with pytest.raises(TokenInvalid):
        tokens.decode_token(old.token, typ="access")


@pytest.mark.django_db
def test_rotation_through_the_api(settings, api_client) -> None:
    from aventide.accounts import services

    user = make_user()
    old = services.session_start(user=user, method="password").access
    settings.JWT_SIGNING_KEYS = [K2, K1]
    assert api_client.get("/api/auth/me", **bearer(old)).status_code == 200
    settings.JWT_SIGNING_KEYS = [K2]
    response = api_client.get("/api/auth/me", **bearer(old))
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


@pytest.mark.django_db
def test_expired_access_token_answers_token_expired(settings, api_client) -> None:
    from aventide.accounts import services

    user = make_user()
    pair = services.session_start(user=user, method="password")
    claims = tokens.decode_token(pair.access, typ="access")
    now = math.floor(timezone.now().timestamp())
    expired = _raw({**claims, "iat": now - 1000, "nbf": now - 1000, "exp": now - 31})
    response = api_client.get("/api/auth/me", **bearer(expired))
    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_EXPIRED"
    now = math.ceil(timezone.now().timestamp())  # fresh: the first request took a while
    within = _raw({**claims, "iat": now - 1000, "nbf": now - 1000, "exp": now - 29})
    assert api_client.get("/api/auth/me", **bearer(within)).status_code == 200
