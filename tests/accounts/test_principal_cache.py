"""Authentication without a database round trip, and the documented revocation bound.

A request's principal is cached per process for AUTH_PRINCIPAL_CACHE_SECONDS (5 s by
default). A session revoked in this process stops working at once; revoked in another
process (here: written straight to the database) it stops working within the TTL.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aventide.accounts import principals, services
from aventide.accounts.models import RefreshFamily, User
from tests.accounts.factories import bearer, make_staff, make_user, principal

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(principals, "_now", fake)
    return fake


def _me(api_client: Any, access: str) -> int:
    return int(api_client.get("/api/auth/me", **bearer(access)).status_code)


def test_a_warm_cache_authenticates_without_a_query(api_client, clock) -> None:
    pair = services.session_start(user=make_user(), method="password")
    assert _me(api_client, pair.access) == 200  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        assert _me(api_client, pair.access) == 200
    assert len(queries) == 0


def test_a_session_revoked_elsewhere_is_refused_within_the_documented_delay(
    api_client, clock, settings
) -> None:
    settings.AUTH_PRINCIPAL_CACHE_SECONDS = 5
    pair = services.session_start(user=make_user(), method="password")
    assert _me(api_client, pair.access) == 200  # cache warm
    # another process revokes it: this process's cache does not know yet
    RefreshFamily.objects.filter(pk=pair.family_id).update(
        revoked_at=timezone.now(), revoked_reason="logout"
    )
    clock.now += 4.9
    assert _me(api_client, pair.access) == 200  # within the bound, still cached
    clock.now += 0.2  # 5.1 s after warming: past the bound
    assert _me(api_client, pair.access) == 401


def test_a_session_revoked_in_this_process_is_refused_at_once(api_client, clock) -> None:
    user = make_user()
    pair = services.session_start(user=user, method="password")
    assert _me(api_client, pair.access) == 200  # cache warm
    services.session_logout(actor=principal(user), family_id=pair.family_id)
    assert _me(api_client, pair.access) == 401  # no wait


def test_a_deactivated_user_is_refused_within_the_delay(api_client, clock) -> None:
    user = make_user()
    pair = services.session_start(user=user, method="password")
    assert _me(api_client, pair.access) == 200
    User.objects.filter(pk=user.pk).update(is_active=False)  # as another process would
    clock.now += 5.1
    assert _me(api_client, pair.access) == 401


def test_a_staff_scope_change_reaches_the_principal(api_client, clock) -> None:
    staff = make_staff(level="L2", countries=("AR",))
    pair = services.session_start(user=staff, method="password")
    assert api_client.get("/api/auth/me", **bearer(pair.access)).json()["staff"]["countries"] == [
        "AR"
    ]
    services.staff_scope_grant(
        actor=principal(make_staff(level="L3", countries=("AR", "MX"), ops_lead=True)),
        staff=staff.staff_profile,
        country_code="MX",
    )
    body = api_client.get("/api/auth/me", **bearer(pair.access)).json()
    assert body["staff"]["countries"] == ["AR", "MX"]  # changed in this process: at once


def test_zero_disables_the_cache(api_client, clock, settings) -> None:
    settings.AUTH_PRINCIPAL_CACHE_SECONDS = 0
    pair = services.session_start(user=make_user(), method="password")
    assert _me(api_client, pair.access) == 200
    RefreshFamily.objects.filter(pk=pair.family_id).update(revoked_at=timezone.now())
    assert _me(api_client, pair.access) == 401


@pytest.mark.parametrize("staff", [False, True])
def test_a_cache_miss_reads_the_same_principal_as_the_user_row_gives(
    staff: bool, clock: FakeClock
) -> None:
    """A party's cache miss is one plain statement (no ORM join to compile); staff take the
    ORM path for their profile and scopes. Both give exactly the principal of the user row;
    an inactive user, another user's session or a revoked one give none."""
    user = make_staff(level="L2", countries=("AR",)) if staff else make_user(is_seller=True)
    pair = services.session_start(user=user, method="password")
    principals.clear_caches()
    with CaptureQueriesContext(connection) as queries:
        got = principals.principal_for_access_token(
            user_id=str(user.pk), family_id=str(pair.family_id)
        )
    assert got == principals.principal_for_user(User.objects.get(pk=user.pk))
    if not staff:
        assert len(queries) == 1
    fresh = principals.principal_for_session_fresh(user_id=user.pk, family_id=str(pair.family_id))
    assert fresh == got  # the sockets' uncached re-check reads the same
    other = services.session_start(user=make_user(), method="password")
    principals.clear_caches()
    assert (
        principals.principal_for_access_token(user_id=str(user.pk), family_id=str(other.family_id))
        is None
    )
    User.objects.filter(pk=user.pk).update(is_active=False)
    principals.clear_caches()
    assert (
        principals.principal_for_access_token(user_id=str(user.pk), family_id=str(pair.family_id))
        is None
    )
