"""Failed logins cost the same password hashing whether or not the email has an account
(no timing oracle for account existence): a spy hasher counts the hasher runs."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher

from aventide.accounts.models import User
from tests.accounts.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

WRONG = "Wrong-Password-000"


class SpyHasher(MD5PasswordHasher):
    """MD5 (fast) that records its calls. ``encode`` is the hash computation itself (MD5's
    ``verify`` encodes the candidate and compares), so equal ``encode`` counts = equal work."""

    runs: ClassVar[list[str]] = []

    def encode(self, password: str, salt: str) -> str:
        SpyHasher.runs.append("encode")
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        SpyHasher.runs.append("verify")
        return super().verify(password, encoded)


@pytest.fixture(autouse=True)
def spy_hasher(settings: Any) -> list[str]:
    settings.PASSWORD_HASHERS = [f"{__name__}.SpyHasher"]
    SpyHasher.runs.clear()
    return SpyHasher.runs


def _failed_login_runs(api_client: Any, email: str, ip: str) -> list[str]:
    SpyHasher.runs.clear()
    response = api_client.post(
        "/api/auth/login", {"email": email, "password": WRONG}, format="json", REMOTE_ADDR=ip
    )
    assert response.status_code == 401 and response.json()["code"] == "INVALID_CREDENTIALS"
    return list(SpyHasher.runs)


def test_unknown_email_still_runs_the_password_hasher(api_client) -> None:
    make_user(email="known@example.test")
    known = _failed_login_runs(api_client, "known@example.test", "192.0.2.10")
    unknown = _failed_login_runs(api_client, "unknown@example.test", "192.0.2.11")
    assert known == ["verify", "encode"]
    assert unknown == ["encode"]  # ModelBackend hashes the password against nobody
    assert known.count("encode") == unknown.count("encode") == 1


def test_accounts_without_a_usable_password_still_run_the_hasher(api_client) -> None:
    user = make_user(email="google.only@example.test")
    User.objects.filter(pk=user.pk).update(password="!unusable")
    assert _failed_login_runs(api_client, "google.only@example.test", "192.0.2.12") == ["encode"]


def test_the_right_password_runs_the_hasher_once(api_client) -> None:
    make_user(email="ok@example.test", password=PASSWORD)
    SpyHasher.runs.clear()
    response = api_client.post(
        "/api/auth/login", {"email": "ok@example.test", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200 and SpyHasher.runs == ["verify", "encode"]
