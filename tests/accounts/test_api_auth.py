"""Email/password: register, login, me, refresh rotation (reuse revokes), logout."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher

from audit.models import Event
from aventide.accounts import tokens
from aventide.accounts.models import RefreshFamily, RefreshToken, User
from tests.accounts.factories import PASSWORD, bearer, make_staff, make_user

pytestmark = pytest.mark.django_db


def _login(api_client, email: str, password: str = PASSWORD, **extra):
    return api_client.post(
        "/api/auth/login", {"email": email, "password": password}, format="json", **extra
    )


def test_register_creates_user_and_returns_tokens(api_client, countries) -> None:
    response = api_client.post(
        "/api/auth/register",
        {
            "email": "Ana.Perez@Example.test",
            "password": PASSWORD,
            "fullName": "Ana",
            "countryCode": "mx",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access", "refresh", "accessExpiresIn"}
    assert body["accessExpiresIn"] == 900
    user = User.objects.get(email="ana.perez@example.test")
    assert user.country_code == "MX" and user.check_password(PASSWORD)
    event = Event.objects.get(action="user.registered")
    assert (event.target_type, event.target_id) == ("user", str(user.pk))
    assert event.actor_type == "user" and event.country_code == "MX"
    me = api_client.get("/api/auth/me", **bearer(body["access"]))
    assert me.json()["email"] == "ana.perez@example.test"


def test_register_hashes_with_argon2(api_client, countries, real_password_hasher) -> None:
    api_client.post(
        "/api/auth/register",
        {"email": "argon@example.test", "password": PASSWORD, "countryCode": "AR"},
        format="json",
    )
    user = User.objects.get(email="argon@example.test")
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.password.startswith("argon2$argon2id$")
    # the deliberate parameters (docs/decisions/0011): 19 MiB, 2 passes, 1 lane
    assert "$m=19456,t=2,p=1$" in user.password
    assert _login(api_client, "argon@example.test").status_code == 200


def test_an_older_argon2_hash_still_logs_in_and_is_upgraded(
    api_client, countries, real_password_hasher
) -> None:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    user = make_user(email="old.hash@example.test")
    User.objects.filter(pk=user.pk).update(
        password=Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    )
    assert "$m=102400,t=2,p=8$" in User.objects.get(pk=user.pk).password
    assert _login(api_client, "old.hash@example.test").status_code == 200
    assert "$m=19456,t=2,p=1$" in User.objects.get(pk=user.pk).password


def test_register_existing_email_answers_email_taken(api_client) -> None:
    make_user(email="taken@example.test")
    response = api_client.post(
        "/api/auth/register",
        {"email": "TAKEN@example.test", "password": PASSWORD, "countryCode": "AR"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "EMAIL_TAKEN"


def test_register_weak_password_and_unknown_country_are_validation_errors(
    api_client, countries
) -> None:
    weak = api_client.post(
        "/api/auth/register",
        {"email": "w@example.test", "password": "12345678", "countryCode": "AR"},
        format="json",
    )
    assert weak.status_code == 400 and weak.json()["code"] == "VALIDATION_ERROR"
    assert "password" in weak.json()["details"]
    country = api_client.post(
        "/api/auth/register",
        {"email": "w@example.test", "password": PASSWORD, "countryCode": "ZZ"},
        format="json",
    )
    assert country.status_code == 400 and "countryCode" in country.json()["details"]
    assert not User.objects.filter(email="w@example.test").exists()


def test_login_returns_access_refresh_and_expiry(api_client) -> None:
    user = make_user(email="login@example.test")
    response = _login(api_client, "LOGIN@example.test")
    assert response.status_code == 200
    body = response.json()
    claims = tokens.decode_token(body["access"], typ="access")
    assert claims["sub"] == str(user.pk)
    assert tokens.decode_token(body["refresh"], typ="refresh")["fam"] == claims["fam"]
    assert body["accessExpiresIn"] == 900


def test_wrong_password_and_unknown_email_answer_the_same(api_client) -> None:
    make_user(email="exists@example.test")
    wrong = _login(api_client, "exists@example.test", "Wrong-Password-123")
    unknown = _login(api_client, "nobody@example.test", "Wrong-Password-123")
    assert wrong.status_code == unknown.status_code == 401
    a, b = wrong.json(), unknown.json()
    assert a["code"] == b["code"] == "INVALID_CREDENTIALS"
    assert a["message"] == b["message"]


def test_inactive_user_cannot_log_in(api_client) -> None:
    make_user(email="off@example.test", is_active=False)
    response = _login(api_client, "off@example.test")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_me_shows_staff_level_and_countries(api_client) -> None:
    staff = make_staff(level="L2", countries=("AR", "MX"))
    response = api_client.get(
        "/api/auth/me", **bearer(_login(api_client, staff.email).json()["access"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["isStaff"] is True
    assert body["staff"] == {"level": "L2", "isOpsLead": False, "countries": ["AR", "MX"]}
    assert "password" not in body


def test_me_without_token_is_auth_required(api_client) -> None:
    response = api_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_and_old_refresh_is_single_use(api_client) -> None:
    make_user(email="rot@example.test")
    first = _login(api_client, "rot@example.test").json()
    second = api_client.post("/api/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh"] != first["refresh"]
    assert api_client.get("/api/auth/me", **bearer(rotated["access"])).status_code == 200
    assert RefreshToken.objects.filter(used_at__isnull=False).count() == 1


def test_refresh_reuse_revokes_the_whole_family(api_client) -> None:
    make_user(email="reuse@example.test")
    first = _login(api_client, "reuse@example.test").json()
    rotated = api_client.post("/api/auth/refresh", {"refresh": first["refresh"]}, format="json")
    newer = rotated.json()
    replay = api_client.post("/api/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert replay.status_code == 401 and replay.json()["code"] == "TOKEN_INVALID"
    # the newer refresh token (and the family's access tokens) stop working too
    again = api_client.post("/api/auth/refresh", {"refresh": newer["refresh"]}, format="json")
    assert again.status_code == 401 and again.json()["code"] == "TOKEN_INVALID"
    me = api_client.get("/api/auth/me", **bearer(newer["access"]))
    assert me.status_code == 401 and me.json()["code"] == "TOKEN_INVALID"
    family = RefreshFamily.objects.get()
    assert family.revoked_at is not None and family.revoked_reason == "refresh_reuse"
    event = Event.objects.get(action="auth.refresh_family.revoked")
    assert event.target_id == str(family.pk) and event.data["reason"] == "refresh_reuse"


def test_reuse_in_one_family_leaves_other_sessions_alive(api_client) -> None:
    make_user(email="two@example.test")
    laptop = _login(api_client, "two@example.test").json()
    phone = _login(api_client, "two@example.test").json()
    api_client.post("/api/auth/refresh", {"refresh": laptop["refresh"]}, format="json")
    api_client.post("/api/auth/refresh", {"refresh": laptop["refresh"]}, format="json")
    assert api_client.get("/api/auth/me", **bearer(phone["access"])).status_code == 200


def test_access_token_is_not_a_refresh_token(api_client) -> None:
    make_user(email="typ@example.test")
    pair = _login(api_client, "typ@example.test").json()
    response = api_client.post("/api/auth/refresh", {"refresh": pair["access"]}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "TOKEN_INVALID"
    me = api_client.get("/api/auth/me", **bearer(pair["refresh"]))
    assert me.status_code == 401 and me.json()["code"] == "TOKEN_INVALID"


def test_logout_revokes_this_session_only(api_client) -> None:
    make_user(email="out@example.test")
    one = _login(api_client, "out@example.test").json()
    two = _login(api_client, "out@example.test").json()
    response = api_client.post("/api/auth/logout", {}, format="json", **bearer(one["access"]))
    assert response.status_code == 204
    assert api_client.get("/api/auth/me", **bearer(one["access"])).status_code == 401
    refresh = api_client.post("/api/auth/refresh", {"refresh": one["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert api_client.get("/api/auth/me", **bearer(two["access"])).status_code == 200
    event = Event.objects.get(action="auth.refresh_family.revoked")
    assert event.data["reason"] == "logout" and event.actor_type == "user"


def test_logout_everywhere_revokes_every_session(api_client) -> None:
    make_user(email="all@example.test")
    one = _login(api_client, "all@example.test").json()
    two = _login(api_client, "all@example.test").json()
    api_client.post(
        "/api/auth/logout", {"everywhere": True}, format="json", **bearer(one["access"])
    )
    assert api_client.get("/api/auth/me", **bearer(two["access"])).status_code == 401
    assert RefreshFamily.objects.filter(revoked_at__isnull=True).count() == 0


def test_deactivated_user_tokens_stop_working(api_client) -> None:
    user = make_user(email="gone@example.test")
    pair = _login(api_client, "gone@example.test").json()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api_client.get("/api/auth/me", **bearer(pair["access"])).status_code == 401
    refresh = api_client.post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert refresh.status_code == 401
