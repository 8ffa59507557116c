"""The documented API throttles are applied: THROTTLE_ANON per client IP, THROTTLE_USER per
registered user / anonymous identity, on the shared cache with an atomic counter.

Regression of issue 7 item 3 (620 authenticated reads in 28 s and 130 anonymous listing reads
all answered 200). Rates use a one-day window so a window boundary never falls inside a test.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import AnonymousUser

from aventide.accounts.throttling import APIRateThrottle, throttle_caller
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from aventide.orders import services as orders
from tests.accounts.factories import anon_headers, login_headers, make_user, principal
from tests.security.live_server import live_servers, purge_cache_prefix, server_env

ANON_IP = "203.0.113.50"
OTHER_IP = "198.51.100.60"


@pytest.fixture
def rates(settings: Any) -> Any:
    def set_rates(anon: str = "3/day", user: str = "4/day") -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "anon": anon,
                "user": user,
            },
        }

    return set_rates


def _assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content[:300]
    body = response.json()
    assert body["code"] == "RATE_LIMITED" and body["error"] == "rate_limited"
    assert body["requestId"] and response["X-Request-ID"] == body["requestId"]
    assert 1 <= int(response["Retry-After"]) <= 86400


@pytest.mark.django_db
def test_anonymous_reads_over_the_anon_rate_are_429_per_ip(api_client, rates) -> None:
    rates(anon="3/day")
    codes = [api_client.get("/api/listings", REMOTE_ADDR=ANON_IP).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    _assert_throttled(api_client.get("/api/listings", REMOTE_ADDR=ANON_IP))
    # another client address has its own budget
    assert api_client.get("/api/listings", REMOTE_ADDR=OTHER_IP).status_code == 200


@pytest.mark.django_db
def test_users_are_throttled_by_identity_not_by_address(api_client, rates) -> None:
    rates(anon="1/day", user="4/day")
    alice, bob = make_user(), make_user()
    alice_auth, bob_auth = login_headers(alice), login_headers(bob)
    # one user from rotating addresses shares one budget...
    codes = [
        api_client.get("/api/orders", REMOTE_ADDR=f"203.0.113.{i}", **alice_auth).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 200]
    _assert_throttled(api_client.get("/api/orders", REMOTE_ADDR="203.0.113.99", **alice_auth))
    # ...and another user behind the same address has their own (the anon rate is not used)
    codes = [api_client.get("/api/orders", REMOTE_ADDR="203.0.113.1", **bob_auth) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 200]


@pytest.mark.django_db
def test_anonymous_identities_are_throttled_by_anon_id(api_client, rates, countries) -> None:
    rates(anon="1/day", user="2/day")
    seller = make_user(is_seller=True)
    buyer = make_user()
    listing = orders.listing_create(actor=principal(seller), title="Flores", price_minor=1500)
    created = [
        orders.order_create(actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana")
        for _ in range(2)
    ]
    recipients = []
    for c in created:
        access = c.recipient_access
        assert access is not None
        recipients.append((c.order.pk, anon_headers(access.anon_id, access.signature)))
    first, second = recipients
    for _ in range(2):
        assert api_client.get(f"/api/orders/{first[0]}", **first[1]).status_code == 200
    _assert_throttled(api_client.get(f"/api/orders/{first[0]}", **first[1]))
    assert api_client.get(f"/api/orders/{second[0]}", **second[1]).status_code == 200


@pytest.mark.django_db
def test_health_endpoints_are_not_throttled(api_client, rates) -> None:
    rates(anon="1/day")
    assert all(api_client.get("/healthz").status_code == 200 for _ in range(5))


@pytest.mark.django_db
def test_auth_endpoints_keep_their_own_rate_not_the_anon_one(api_client, rates) -> None:
    rates(anon="1/day")
    for _ in range(3):
        response = api_client.post(
            "/api/auth/refresh", {"refresh": "x"}, format="json", REMOTE_ADDR=ANON_IP
        )
        assert response.status_code == 401  # THROTTLE_AUTH (60/min) still far away


def test_throttle_caller_keys_each_kind_of_principal() -> None:
    anon_id = uuid.uuid4()
    recipient = Principal(
        kind=PrincipalKind.ANONYMOUS, id=str(anon_id), order_id=1, role="recipient"
    )
    user = Principal(kind=PrincipalKind.USER, id="42")
    staff = Principal(kind=PrincipalKind.STAFF, id="43", level="L2")
    assert throttle_caller(SimpleNamespace(user=user)) == "user:42"
    assert throttle_caller(SimpleNamespace(user=staff)) == "user:43"
    assert throttle_caller(SimpleNamespace(user=recipient)) == f"anon:{anon_id}"
    assert throttle_caller(SimpleNamespace(user=SYSTEM)) is None
    assert throttle_caller(SimpleNamespace(user=AnonymousUser())) is None
    assert throttle_caller(SimpleNamespace()) is None


@pytest.mark.redis
def test_concurrent_requests_never_pass_more_than_the_limit(rates) -> None:
    """50 simultaneous checks of one caller on Redis: exactly the limit is allowed (the
    counter is one atomic INCR, not DRF's read-modify-write of a list)."""
    rates(anon="10/day")
    request = SimpleNamespace(user=AnonymousUser(), META={"REMOTE_ADDR": "192.0.2.10"})
    barrier = threading.Barrier(50)

    def attempt(_: int) -> bool:
        barrier.wait(timeout=30)
        return APIRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(attempt, range(50)))
    assert results.count(True) == 10


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_two_server_processes_share_one_count(tmp_path: Path, django_db_setup: None) -> None:
    """Two real server processes on one Redis: 30 concurrent anonymous reads, alternated
    between them, let exactly THROTTLE_ANON=10 through in total (not 10 per process)."""
    prefix = f"aventide:test:throttle:{uuid.uuid4().hex[:12]}"
    env = server_env(CACHE_KEY_PREFIX=prefix, THROTTLE_ANON="10/day")
    try:
        with live_servers(tmp_path, env, dict(env)) as bases:

            def read(i: int) -> httpx.Response:
                return httpx.get(f"{bases[i % 2]}/api/listings", timeout=30, trust_env=False)

            with ThreadPoolExecutor(max_workers=15) as pool:
                responses = list(pool.map(read, range(30)))
    finally:
        purge_cache_prefix(prefix)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["code"] == "RATE_LIMITED" and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-Request-ID"] == limited.json()["requestId"]


@pytest.mark.redis
def test_throttle_counters_share_one_bounded_redis_client_per_process() -> None:
    """Each request context gets its own Django cache instance; the throttle must not pin a
    Redis connection pool per context (that exhausted Redis' client slots under load)."""
    from concurrent.futures import ThreadPoolExecutor

    from aventide.accounts import throttling

    redis_client = throttling._shared_redis()
    assert redis_client is not None
    before = redis_client[1].info("clients")["connected_clients"]

    def hit(n: int) -> int:
        return throttling.incr_counter(f"throttle:test:{n % 7}", 60)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(hit, range(2000)))
    assert len(throttling._redis_clients) == 1
    after = redis_client[1].info("clients")["connected_clients"]
    assert after - before <= throttling.REDIS_MAX_CONNECTIONS
