"""Every auth failure mode answers the error contract with its own code and a requestId,
and none of them writes the token, password or signature into the logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest

from aventide.accounts import services, tokens
from aventide.accounts.errors import WsTicketInvalid
from aventide.core.context import Actor, bound_context
from tests.accounts.factories import (
    PASSWORD,
    anon_headers,
    bearer,
    issue_anon,
    login_headers,
    make_staff,
    make_user,
)

SHAPE = {"error", "code", "message", "requestId"}
SECRET_PASSWORD = "Sup3r-Secret-Passw0rd!"

Case = Callable[[Any], tuple[Any, list[str]]]


def _login(client: Any, email: str, password: str, ip: str = "203.0.113.9") -> Any:
    return client.post(
        "/api/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def case_auth_required(client: Any) -> tuple[Any, list[str]]:
    return client.get("/api/auth/me"), []


def case_token_invalid_garbled(client: Any) -> tuple[Any, list[str]]:
    token = "eyJhbGciOiJIUzI1NiJ9.garbled-payload-XYZ.sig-123456"
    return client.get("/api/auth/me", **bearer(token)), [token, "garbled-payload-XYZ"]


def case_token_invalid_alg_none(client: Any) -> tuple[Any, list[str]]:
    token = jwt.encode({"sub": "1"}, None, algorithm="none")  # type: ignore[arg-type]
    return client.get("/api/auth/me", **bearer(token)), [token]


def case_token_expired(client: Any) -> tuple[Any, list[str]]:
    user = make_user()
    pair = services.session_start(user=user, method="password")
    claims = tokens.decode_token(pair.access, typ="access")
    kid, secret = tokens.jwt_key_ring()[0]
    now = int(time.time())
    token = jwt.encode(
        {**claims, "iat": now - 900, "nbf": now - 900, "exp": now - 60},
        secret,
        algorithm="HS256",
        headers={"kid": kid},
    )
    return client.get("/api/auth/me", **bearer(token)), [token]


def case_refresh_reused(client: Any) -> tuple[Any, list[str]]:
    user = make_user()
    pair = services.session_start(user=user, method="password")
    client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")
    response = client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")
    return response, [pair.refresh]


def case_invalid_credentials(client: Any) -> tuple[Any, list[str]]:
    make_user(email="maria.lopez@example.test")
    return _login(client, "maria.lopez@example.test", SECRET_PASSWORD), [SECRET_PASSWORD]


def case_account_locked(client: Any) -> tuple[Any, list[str]]:
    make_user(email="locked@example.test")
    for _ in range(5):
        _login(client, "locked@example.test", SECRET_PASSWORD)
    return _login(client, "locked@example.test", PASSWORD), [SECRET_PASSWORD, PASSWORD]


def case_rate_limited(client: Any) -> tuple[Any, list[str]]:
    for i in range(20):
        _login(client, f"stuffing{i}@example.test", SECRET_PASSWORD)
    return _login(client, "another@example.test", SECRET_PASSWORD), [SECRET_PASSWORD]


def case_email_taken(client: Any) -> tuple[Any, list[str]]:
    make_user(email="dup@example.test")
    response = client.post(
        "/api/auth/register",
        {"email": "dup@example.test", "password": SECRET_PASSWORD, "countryCode": "AR"},
        format="json",
    )
    return response, [SECRET_PASSWORD]


def case_validation_error(client: Any) -> tuple[Any, list[str]]:
    response = client.post("/api/auth/login", {"email": "x@example.test"}, format="json")
    return response, []


def case_anon_signature_invalid(client: Any) -> tuple[Any, list[str]]:
    issued = issue_anon(order_id=1)
    bad = "A" * 43
    return client.post("/api/auth/ws-token", **anon_headers(issued.anon_id, bad)), [bad]


def case_anon_revoked(client: Any) -> tuple[Any, list[str]]:
    issued = issue_anon(order_id=1)
    services.anonymous_identity_revoke(actor=Actor(type="system", id="t"), anon_id=issued.anon_id)
    headers = anon_headers(issued.anon_id, issued.signature)
    return client.post("/api/auth/ws-token", **headers), [issued.signature]


def case_anon_expired(client: Any) -> tuple[Any, list[str]]:
    issued = issue_anon(order_id=1, ttl=timedelta(seconds=-5))
    headers = anon_headers(issued.anon_id, issued.signature)
    return client.post("/api/auth/ws-token", **headers), [issued.signature]


def case_scope_violation(client: Any) -> tuple[Any, list[str]]:
    staff = make_staff(level="L2", countries=("AR",))
    headers = login_headers(staff)
    response = client.get("/api/auth/staff/anonymous-identities", {"countryCode": "MX"}, **headers)
    return response, [headers["HTTP_AUTHORIZATION"].split()[1]]


def case_staff_level_required(client: Any) -> tuple[Any, list[str]]:
    staff = make_staff(level="L1", countries=("AR",))
    issued = issue_anon(order_id=1, country_code="AR")
    headers = login_headers(staff)
    response = client.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": "AR", "anonId": str(issued.anon_id)},
        format="json",
        **headers,
    )
    return response, [headers["HTTP_AUTHORIZATION"].split()[1], issued.signature]


def case_forbidden_for_parties(client: Any) -> tuple[Any, list[str]]:
    headers = login_headers(make_user())
    response = client.get("/api/auth/staff/anonymous-identities", {"countryCode": "AR"}, **headers)
    return response, [headers["HTTP_AUTHORIZATION"].split()[1]]


def case_google_disabled(client: Any) -> tuple[Any, list[str]]:
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.google-id-token.sig"
    return client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


def case_google_invalid(client: Any) -> tuple[Any, list[str]]:
    from django.conf import settings

    settings.GOOGLE_CLIENT_IDS = ["client-1"]
    token = "not-a-google-token-SECRETISH"
    return client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


CASES: list[tuple[str, Case, int, str]] = [
    ("auth_required", case_auth_required, 401, "AUTH_REQUIRED"),
    ("garbled", case_token_invalid_garbled, 401, "TOKEN_INVALID"),
    ("alg_none", case_token_invalid_alg_none, 401, "TOKEN_INVALID"),
    ("expired", case_token_expired, 401, "TOKEN_EXPIRED"),
    ("refresh_reused", case_refresh_reused, 401, "TOKEN_INVALID"),
    ("invalid_credentials", case_invalid_credentials, 401, "INVALID_CREDENTIALS"),
    ("account_locked", case_account_locked, 429, "ACCOUNT_LOCKED"),
    ("rate_limited", case_rate_limited, 429, "RATE_LIMITED"),
    ("email_taken", case_email_taken, 409, "EMAIL_TAKEN"),
    ("validation", case_validation_error, 400, "VALIDATION_ERROR"),
    ("anon_signature", case_anon_signature_invalid, 401, "ANON_SIGNATURE_INVALID"),
    ("anon_revoked", case_anon_revoked, 401, "ANON_IDENTITY_REVOKED"),
    ("anon_expired", case_anon_expired, 401, "ANON_IDENTITY_EXPIRED"),
    ("scope_violation", case_scope_violation, 403, "SCOPE_VIOLATION"),
    ("staff_level", case_staff_level_required, 403, "STAFF_LEVEL_REQUIRED"),
    ("parties_forbidden", case_forbidden_for_parties, 403, "FORBIDDEN"),
    ("google_disabled", case_google_disabled, 503, "GOOGLE_LOGIN_DISABLED"),
    ("google_invalid", case_google_invalid, 401, "GOOGLE_TOKEN_INVALID"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_auth_failure_answers_the_contract_and_logs_no_secret(
    case: Case, status: int, code: str, api_client, json_logs, countries
) -> None:
    response, secrets_ = case(api_client)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert SHAPE <= set(body) <= SHAPE | {"details"}
    assert body["code"] == code
    assert body["requestId"] and body["requestId"] == response["X-Request-ID"]
    if status == 429:
        assert int(response["Retry-After"]) >= 1
    if status == 401:
        assert response.has_header("WWW-Authenticate")
    logged = json_logs.text
    assert logged, "the request should have logged at least its METRIC_HTTP_REQUEST"
    for secret in [*secrets_, SECRET_PASSWORD, PASSWORD]:
        assert secret not in logged, f"{code}: a secret leaked into the logs"
    assert "@example.test" not in logged  # emails are masked


@pytest.mark.django_db
def test_ws_ticket_invalid_is_a_contract_error() -> None:
    ticket = "t" * 43
    with bound_context(request_id="ws-req-1"), pytest.raises(WsTicketInvalid) as err:
        services.ws_ticket_redeem(ticket=ticket)
    body = err.value.as_body()
    assert body["code"] == "WS_TICKET_INVALID" and body["error"] == "unauthorized"
    assert err.value.status == 401


def test_every_case_covers_a_distinct_code() -> None:
    codes = {c[3] for c in CASES}
    expected = {
        "AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED", "INVALID_CREDENTIALS",
        "ACCOUNT_LOCKED", "RATE_LIMITED", "EMAIL_TAKEN", "ANON_SIGNATURE_INVALID",
        "ANON_IDENTITY_REVOKED", "ANON_IDENTITY_EXPIRED", "SCOPE_VIOLATION",
        "STAFF_LEVEL_REQUIRED", "GOOGLE_TOKEN_INVALID",
    }  # fmt: skip
    assert expected <= codes
