"""Google login against a local JWKS stub (loopback only; the real network stays blocked)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from audit.models import Event
from aventide.accounts.models import User
from tests.accounts.factories import ensure_countries, make_user

pytestmark = pytest.mark.django_db

CLIENT_ID = "web-client.apps.googleusercontent.com"


class JwksStub:
    """A loopback HTTP server serving a JWKS; counts fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.status = 200
        self.max_age = 3600
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.fetches += 1
                body = json.dumps({"keys": [stub.public_jwk(kid) for kid in stub.keys]}).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"public, max-age={stub.max_age}")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/v3/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def sign(
        self, claims: dict[str, Any] | None = None, *, kid: str = "g1", **overrides: Any
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": CLIENT_ID,
            "sub": "1098765432101234567890",
            "email": "Maria.Google@gmail.com",
            "email_verified": True,
            "name": "Maria G",
            "iat": now,
            "exp": now + 3600,
            **(claims or {}),
            **overrides,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def google(settings) -> Iterator[JwksStub]:
    stub = JwksStub()
    stub.add_key("g1")
    settings.GOOGLE_JWKS_URL = stub.url
    settings.GOOGLE_CLIENT_IDS = [CLIENT_ID, "android-client"]
    ensure_countries()
    try:
        yield stub
    finally:
        stub.close()


def _google(api_client, id_token: str, **extra: Any):
    return api_client.post("/api/auth/google", {"idToken": id_token, **extra}, format="json")


def test_google_login_creates_the_user(api_client, google) -> None:
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"access", "refresh", "accessExpiresIn"}
    user = User.objects.get(email="maria.google@gmail.com")
    assert user.google_sub == "1098765432101234567890"
    assert not user.has_usable_password()
    assert user.country_code == "AR" and user.full_name == "Maria G"
    event = Event.objects.get(action="user.registered")
    assert event.data["method"] == "google"
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.json()["email"] == "maria.google@gmail.com"


def test_google_login_links_an_existing_email_account(api_client, google) -> None:
    user = make_user(email="maria.google@gmail.com")
    response = _google(api_client, google.sign())
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.google_sub == "1098765432101234567890"
    assert Event.objects.filter(action="user.google_linked", target_id=str(user.pk)).exists()
    # second login finds it by sub, no new audit event
    assert _google(api_client, google.sign()).status_code == 200
    assert Event.objects.filter(action="user.google_linked").count() == 1


def test_new_google_user_needs_a_country(api_client, google) -> None:
    response = _google(api_client, google.sign())
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "countryCode" in response.json()["details"]


def test_iss_without_scheme_is_accepted(api_client, google) -> None:
    assert (
        _google(api_client, google.sign(iss="accounts.google.com"), countryCode="MX").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"aud": "someone-elses-client"}, "GOOGLE_TOKEN_INVALID"),
        ({"iss": "https://evil.example.com"}, "GOOGLE_TOKEN_INVALID"),
        ({"exp": int(time.time()) - 120}, "GOOGLE_TOKEN_INVALID"),
        ({"email_verified": False}, "GOOGLE_EMAIL_UNVERIFIED"),
        ({"email": None}, "GOOGLE_TOKEN_INVALID"),
    ],
)
def test_bad_google_tokens_are_refused(api_client, google, overrides, code) -> None:
    response = _google(api_client, google.sign(**overrides), countryCode="AR")
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert not User.objects.exists()


def test_token_signed_by_an_unknown_key_is_refused(api_client, google) -> None:
    rogue = JwksStub()
    try:
        rogue.add_key("g1")  # same kid, different key
        response = _google(api_client, rogue.sign(), countryCode="AR")
    finally:
        rogue.close()
    assert response.status_code == 401 and response.json()["code"] == "GOOGLE_TOKEN_INVALID"


def test_hs256_token_using_the_public_key_is_refused(api_client, google) -> None:
    forged = jwt.encode(
        {"iss": "accounts.google.com", "aud": CLIENT_ID, "sub": "1", "email": "x@gmail.com"},
        "some-secret-0000000000000000000000000",
        algorithm="HS256",
        headers={"kid": "g1"},
    )
    response = _google(api_client, forged, countryCode="AR")
    assert response.status_code == 401 and response.json()["code"] == "GOOGLE_TOKEN_INVALID"


def test_jwks_is_cached_and_refetched_when_google_rotates(api_client, google) -> None:
    assert _google(api_client, google.sign(), countryCode="AR").status_code == 200
    assert _google(api_client, google.sign(), countryCode="AR").status_code == 200
    assert google.fetches == 1  # cached
    google.add_key("g2")  # Google rotated: a token with a new kid triggers one refetch
    assert _google(api_client, google.sign(kid="g2"), countryCode="AR").status_code == 200
    assert google.fetches == 2
    # forged unknown kids do not make us hammer the JWKS endpoint (one refetch a minute)
    for _ in range(3):
        forged = jwt.encode(
            {"sub": "x"}, google.keys["g1"], algorithm="RS256", headers={"kid": "zz"}
        )
        assert _google(api_client, forged).status_code == 401
    assert google.fetches == 2


def test_jwks_outage_answers_503_and_counts_auth_5xx(api_client, google) -> None:
    from aventide.core import metrics

    google.status = 500
    before = metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/google", status="503")
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 503
    assert response.json()["code"] == "GOOGLE_UNAVAILABLE"
    assert metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/google", status="503") == before + 1


def test_google_login_disabled_without_client_ids(api_client, google, settings) -> None:
    settings.GOOGLE_CLIENT_IDS = []
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 503
    assert response.json()["code"] == "GOOGLE_LOGIN_DISABLED"


def test_non_https_jwks_url_is_refused(api_client, google, settings) -> None:
    settings.GOOGLE_JWKS_URL = "http://example.com/certs"
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 503
    assert google.fetches == 0
