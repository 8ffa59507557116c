"""Google login against a local JWKS stub (loopback only; the real network stays blocked)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from audit.models import Event
from aventide.accounts.models import User
from tests.accounts.factories import ensure_countries, make_user
from tests.accounts.google_stub import CLIENT_ID, JwksStub

pytestmark = pytest.mark.django_db


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


def test_jwks_outage_is_remembered_so_logins_do_not_each_wait(api_client, google) -> None:
    google.status = 500
    assert _google(api_client, google.sign(), countryCode="AR").status_code == 503
    fetches = google.fetches
    google.status = 200  # Google is back, but the failure is remembered for a short while
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 503
    assert response.json()["code"] == "GOOGLE_UNAVAILABLE"
    assert google.fetches == fetches  # no new fetch, no new timeout


def test_google_login_disabled_without_client_ids(api_client, google, settings) -> None:
    from aventide.core import metrics

    settings.GOOGLE_CLIENT_IDS = []
    before = metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/google", status="404")
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 404
    assert response.json()["code"] == "GOOGLE_LOGIN_DISABLED"
    # a switched-off feature is not an outage: it never feeds the SEV1 auth-5xx signal
    assert metrics.count_of("METRIC_AUTH_5XX", route="/api/auth/google", status="404") == before


def test_non_https_jwks_url_is_refused(api_client, google, settings) -> None:
    settings.GOOGLE_JWKS_URL = "http://example.com/certs"
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 503
    assert google.fetches == 0


# --- account pre-hijacking and staff accounts (review findings 1 and 2) ---------------------


def test_linking_disables_a_preexisting_password_and_ends_its_sessions(api_client, google) -> None:
    """Pre-hijack: someone registers the victim's email with a password before the victim
    ever signs in with Google. The Google link must lock that person out."""
    from tests.accounts.factories import PASSWORD

    registered = api_client.post(
        "/api/auth/register",
        {"email": "maria.google@gmail.com", "password": PASSWORD, "countryCode": "AR"},
        format="json",
    )
    assert registered.status_code == 201
    squatter = registered.json()

    victim = _google(api_client, google.sign())
    assert victim.status_code == 200

    user = User.objects.get(email="maria.google@gmail.com")
    assert user.google_sub == "1098765432101234567890"
    assert not user.has_usable_password()
    # the squatter's password, access token and refresh token all stop working
    login = api_client.post(
        "/api/auth/login",
        {"email": "maria.google@gmail.com", "password": PASSWORD},
        format="json",
    )
    assert login.status_code == 401 and login.json()["code"] == "INVALID_CREDENTIALS"
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {squatter['access']}")
    assert me.status_code == 401 and me.json()["code"] == "TOKEN_INVALID"
    refresh = api_client.post("/api/auth/refresh", {"refresh": squatter["refresh"]}, format="json")
    assert refresh.status_code == 401 and refresh.json()["code"] == "TOKEN_INVALID"
    # the victim's own Google session works
    mine = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {victim.json()['access']}")
    assert mine.status_code == 200 and mine.json()["id"] == user.pk
    linked = Event.objects.get(action="user.google_linked")
    assert linked.data == {"method": "google", "emailLoginDisabled": True}
    revoked = Event.objects.get(action="auth.refresh_family.revoked")
    assert revoked.data["reason"] == "google_linked" and revoked.data["userId"] == user.pk


@pytest.mark.parametrize("kind", ["staff", "superuser"])
def test_staff_accounts_are_never_linked_by_email(api_client, google, kind) -> None:
    from tests.accounts.factories import make_staff

    staff = make_staff(
        level="L3" if kind == "staff" else None,
        countries=("AR",),
        superuser=kind == "superuser",
        email="maria.google@gmail.com",
    )
    response = _google(api_client, google.sign(), countryCode="AR")
    assert response.status_code == 403
    assert response.json()["code"] == "GOOGLE_LINK_REFUSED"
    staff.refresh_from_db()
    assert staff.google_sub is None and staff.has_usable_password()
    assert not staff.refresh_families.exists()
    event = Event.objects.get(action="auth.google_link_refused")
    assert (event.target_type, event.target_id) == ("user", str(staff.pk))
    assert event.data == {"reason": kind}
    assert not Event.objects.filter(action="user.google_linked").exists()
