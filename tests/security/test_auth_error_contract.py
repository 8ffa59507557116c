"""Every auth failure mode answers the error contract with its own code and a requestId,
and none of them writes the token, password or signature into the logs.

`test_every_auth_error_code_has_a_case` discovers every code accounts defines
(`aventide.accounts.errors`) and fails until each has an HTTP case in ``CASES`` -- or, for the
two codes with no HTTP path, a service-level case in ``SERVICE_CASES``: ``WS_TICKET_INVALID``
(tickets are redeemed by the WebSocket handshake, not by an HTTP endpoint) and
``PROTECTED_ACCOUNT`` (raised only in the staff console, the HTML admin, which answers 403).
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
import pytest

from aventide.accounts import errors as accounts_errors
from aventide.accounts import services, tokens
from aventide.accounts.errors import ProtectedAccount, WsTicketInvalid
from aventide.core.context import bound_context
from aventide.core.errors import AuthRequired, DomainError
from aventide.core.principal import SYSTEM
from tests.accounts.factories import (
    PASSWORD,
    anon_headers,
    bearer,
    issue_anon,
    login_headers,
    make_staff,
    make_user,
    principal,
)
from tests.accounts.google_stub import CLIENT_ID, JwksStub

SHAPE = {"error", "code", "message", "requestId"}
SECRET_PASSWORD = "Sup3r-Secret-Passw0rd!"
PROBE_URLS = pytest.mark.urls("tests.accounts.urls_probe")


@dataclass
class Ctx:
    """What a case gets: the API client, pytest-django's ``settings`` (restored after the
    test) and a list of clean-ups run after the request."""

    client: Any
    settings: Any
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def google(self) -> JwksStub:
        stub = JwksStub()
        stub.add_key("g1")
        self.cleanups.append(stub.close)
        self.settings.GOOGLE_JWKS_URL = stub.url
        self.settings.GOOGLE_CLIENT_IDS = [CLIENT_ID]
        return stub


Case = Callable[[Ctx], tuple[Any, list[str]]]


def _login(client: Any, email: str, password: str, ip: str = "203.0.113.9") -> Any:
    return client.post(
        "/api/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def case_auth_required(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    return client.get("/api/auth/me"), []


def case_token_invalid_garbled(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    token = "eyJhbGciOiJIUzI1NiJ9.garbled-payload-XYZ.sig-123456"
    return client.get("/api/auth/me", **bearer(token)), [token, "garbled-payload-XYZ"]


def case_token_invalid_alg_none(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    token = jwt.encode({"sub": "1"}, None, algorithm="none")  # type: ignore[arg-type]
    return client.get("/api/auth/me", **bearer(token)), [token]


def case_token_expired(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
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


def case_refresh_reused(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    user = make_user()
    pair = services.session_start(user=user, method="password")
    client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")
    response = client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")
    return response, [pair.refresh]


def case_invalid_credentials(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    make_user(email="maria.lopez@example.test")
    return _login(client, "maria.lopez@example.test", SECRET_PASSWORD), [SECRET_PASSWORD]


def case_account_locked(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    make_user(email="locked@example.test")
    for _ in range(5):
        _login(client, "locked@example.test", SECRET_PASSWORD)
    return _login(client, "locked@example.test", PASSWORD), [SECRET_PASSWORD, PASSWORD]


def case_rate_limited(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    for i in range(20):
        _login(client, f"stuffing{i}@example.test", SECRET_PASSWORD)
    return _login(client, "another@example.test", SECRET_PASSWORD), [SECRET_PASSWORD]


def case_email_taken(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    make_user(email="dup@example.test")
    response = client.post(
        "/api/auth/register",
        {"email": "dup@example.test", "password": SECRET_PASSWORD, "countryCode": "AR"},
        format="json",
    )
    return response, [SECRET_PASSWORD]


def case_validation_error(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    response = client.post("/api/auth/login", {"email": "x@example.test"}, format="json")
    return response, []


def case_anon_signature_invalid(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    issued = issue_anon(order_id=1)
    bad = "A" * 43
    return client.post("/api/auth/ws-token", **anon_headers(issued.anon_id, bad)), [bad]


def case_anon_revoked(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    issued = issue_anon(order_id=1)
    services.anonymous_identity_revoke(actor=SYSTEM, anon_id=issued.anon_id)
    headers = anon_headers(issued.anon_id, issued.signature)
    return client.post("/api/auth/ws-token", **headers), [issued.signature]


def case_anon_expired(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    issued = issue_anon(order_id=1, ttl=timedelta(seconds=-5))
    headers = anon_headers(issued.anon_id, issued.signature)
    return client.post("/api/auth/ws-token", **headers), [issued.signature]


def case_scope_violation(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    staff = make_staff(level="L2", countries=("AR",))
    headers = login_headers(staff)
    response = client.get("/api/auth/staff/anonymous-identities", {"countryCode": "MX"}, **headers)
    return response, [headers["HTTP_AUTHORIZATION"].split()[1]]


def case_staff_level_required(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
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


def case_forbidden_for_parties(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    headers = login_headers(make_user())
    response = client.get("/api/auth/staff/anonymous-identities", {"countryCode": "AR"}, **headers)
    return response, [headers["HTTP_AUTHORIZATION"].split()[1]]


def case_google_disabled(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.google-id-token.sig"
    return client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


def case_google_invalid(ctx: Ctx) -> tuple[Any, list[str]]:
    client = ctx.client
    ctx.settings.GOOGLE_CLIENT_IDS = ["client-1"]
    token = "not-a-google-token-SECRETISH"
    return client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


def case_token_invalid_dropped_kid(ctx: Ctx) -> tuple[Any, list[str]]:
    ctx.settings.JWT_SIGNING_KEYS = [("k1", "k1-secret-000000000000000000000000000000")]
    headers = login_headers(make_user())
    ctx.settings.JWT_SIGNING_KEYS = [("k2", "k2-secret-111111111111111111111111111111")]
    token = headers["HTTP_AUTHORIZATION"].split()[1]
    return ctx.client.get("/api/auth/me", **headers), [token]


def case_token_invalid_revoked_session(ctx: Ctx) -> tuple[Any, list[str]]:
    headers = login_headers(make_user())
    assert ctx.client.post("/api/auth/logout", {}, format="json", **headers).status_code == 204
    token = headers["HTTP_AUTHORIZATION"].split()[1]
    return ctx.client.get("/api/auth/me", **headers), [token]


def case_rate_limited_auth_request_rate(ctx: Ctx) -> tuple[Any, list[str]]:
    rest = ctx.settings.REST_FRAMEWORK
    ctx.settings.REST_FRAMEWORK = {
        **rest,
        "DEFAULT_THROTTLE_RATES": {**rest["DEFAULT_THROTTLE_RATES"], "auth": "2/min"},
    }
    refresh = "refresh-token-SECRETISH-0001"
    for _ in range(2):
        ctx.client.post("/api/auth/refresh", {"refresh": refresh}, format="json")
    return ctx.client.post("/api/auth/refresh", {"refresh": refresh}, format="json"), [refresh]


def case_account_required(ctx: Ctx) -> tuple[Any, list[str]]:
    issued = issue_anon(order_id=1)
    headers = anon_headers(issued.anon_id, issued.signature)
    return ctx.client.get("/api/_probe/default", **headers), [issued.signature]


def case_anon_identity_not_found(ctx: Ctx) -> tuple[Any, list[str]]:
    staff = make_staff(level="L2", countries=("AR",))
    headers = login_headers(staff)
    response = ctx.client.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": "AR", "anonId": str(uuid.uuid4())},
        format="json",
        **headers,
    )
    return response, [headers["HTTP_AUTHORIZATION"].split()[1]]


def case_google_unverified(ctx: Ctx) -> tuple[Any, list[str]]:
    token = ctx.google().sign(email_verified=False)
    return ctx.client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


def case_google_unavailable(ctx: Ctx) -> tuple[Any, list[str]]:
    stub = ctx.google()
    stub.status = 500
    token = stub.sign()
    return ctx.client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


def case_google_link_refused(ctx: Ctx) -> tuple[Any, list[str]]:
    make_staff(level="L3", countries=("AR",), email="maria.google@gmail.com")
    token = ctx.google().sign()
    return ctx.client.post("/api/auth/google", {"idToken": token}, format="json"), [token]


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
    ("google_disabled", case_google_disabled, 404, "GOOGLE_LOGIN_DISABLED"),
    ("google_invalid", case_google_invalid, 401, "GOOGLE_TOKEN_INVALID"),
    ("dropped_kid", case_token_invalid_dropped_kid, 401, "TOKEN_INVALID"),
    ("revoked_session", case_token_invalid_revoked_session, 401, "TOKEN_INVALID"),
    ("auth_request_rate", case_rate_limited_auth_request_rate, 429, "RATE_LIMITED"),
    ("account_required", case_account_required, 403, "ACCOUNT_REQUIRED"),
    ("anon_not_found", case_anon_identity_not_found, 404, "NOT_FOUND"),
    ("google_unverified", case_google_unverified, 401, "GOOGLE_EMAIL_UNVERIFIED"),
    ("google_unavailable", case_google_unavailable, 503, "GOOGLE_UNAVAILABLE"),
    ("google_link_refused", case_google_link_refused, 403, "GOOGLE_LINK_REFUSED"),
]
NEEDS_PROBE_URLS = {"account_required"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        pytest.param(*c[1:], id=c[0], marks=[PROBE_URLS] if c[0] in NEEDS_PROBE_URLS else [])
        for c in CASES
    ],
)
def test_auth_failure_answers_the_contract_and_logs_no_secret(
    case: Case, status: int, code: str, api_client, json_logs, countries, settings
) -> None:
    ctx = Ctx(client=api_client, settings=settings)
    try:
        response, secrets_ = case(ctx)
    finally:
        for cleanup in ctx.cleanups:
            cleanup()
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


# --- codes without an HTTP path: the same contract body, checked at the service ----------------


def service_ws_ticket_invalid() -> DomainError:
    with pytest.raises(WsTicketInvalid) as err:
        services.ws_ticket_redeem(ticket="t" * 43)
    return err.value


def service_protected_account() -> DomainError:
    lead = make_staff(level="L3", countries=("AR",), ops_lead=True)
    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    root.email = "taken.over@example.test"
    with pytest.raises(ProtectedAccount) as err:
        services.user_save_by_staff(
            actor=principal(lead), user=root, changed_fields=["email"], created=False
        )
    return err.value


def service_throttle_unavailable() -> DomainError:
    """The login throttle's Redis cannot be reached: the auth endpoints refuse (503)."""
    from unittest import mock

    import redis

    from aventide.accounts import throttling
    from aventide.accounts.errors import ThrottleUnavailable

    def down(key: str, ttl: int) -> int:
        raise redis.ConnectionError("Connection refused")

    request = mock.Mock(META={"REMOTE_ADDR": "203.0.113.9"})
    with (
        mock.patch.object(throttling, "incr_counter", down),
        pytest.raises(ThrottleUnavailable) as err,
    ):
        throttling.AuthIPRateThrottle().allow_request(request, None)
    return err.value


SERVICE_CASES: list[tuple[str, Callable[[], DomainError], int, str, str]] = [
    ("ws_ticket_invalid", service_ws_ticket_invalid, 401, "WS_TICKET_INVALID", "unauthorized"),
    ("protected_account", service_protected_account, 403, "PROTECTED_ACCOUNT", "forbidden"),
    (
        "throttle_unavailable",
        service_throttle_unavailable,
        503,
        "SERVICE_UNAVAILABLE",
        "service_unavailable",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raise_it", "status", "code", "category"),
    [c[1:] for c in SERVICE_CASES],
    ids=[c[0] for c in SERVICE_CASES],
)
def test_service_level_auth_errors_are_contract_errors(
    raise_it, status, code, category, countries, json_logs
) -> None:
    with bound_context(request_id="svc-req-1"):
        error = raise_it()
        body = error.as_body()
    assert body["code"] == code and body["error"] == category
    assert body["requestId"] == "svc-req-1" and body["message"]
    assert error.status == status
    assert "@example.test" not in json_logs.text


def _defined_codes() -> set[str]:
    """Every code accounts defines (its DomainError subclasses) + AUTH_REQUIRED, which it
    re-exports from the kernel."""
    classes = [
        obj
        for obj in vars(accounts_errors).values()
        if inspect.isclass(obj)
        and issubclass(obj, DomainError)
        and obj.__module__ == accounts_errors.__name__
    ]
    return {cls.code for cls in classes} | {AuthRequired.code}


def test_every_auth_error_code_has_a_case() -> None:
    covered = {c[3] for c in CASES} | {c[3] for c in SERVICE_CASES}
    expected = {
        "AUTH_REQUIRED", "TOKEN_INVALID", "TOKEN_EXPIRED", "INVALID_CREDENTIALS",
        "ACCOUNT_LOCKED", "RATE_LIMITED", "EMAIL_TAKEN", "VALIDATION_ERROR",
        "ANON_SIGNATURE_INVALID", "ANON_IDENTITY_REVOKED", "ANON_IDENTITY_EXPIRED", "NOT_FOUND",
        "GOOGLE_TOKEN_INVALID", "GOOGLE_EMAIL_UNVERIFIED", "GOOGLE_LINK_REFUSED",
        "GOOGLE_LOGIN_DISABLED", "GOOGLE_UNAVAILABLE", "WS_TICKET_INVALID", "ACCOUNT_REQUIRED",
        "STAFF_LEVEL_REQUIRED", "PROTECTED_ACCOUNT", "SCOPE_VIOLATION", "SERVICE_UNAVAILABLE",
    }  # fmt: skip
    assert _defined_codes() == expected, "a new accounts error code: add it here AND a case"
    assert expected <= covered, f"no contract case for {sorted(expected - covered)}"
