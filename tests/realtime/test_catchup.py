"""``GET /api/realtime/catchup``: the caller's events after a cursor, camelCase, the error
contract for bad cursors, the limit clamp, JWT and anonymous-recipient callers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from aventide.accounts import services as accounts
from aventide.orders.models import Order, OrderStatus
from realtime import selectors
from realtime import services as realtime
from tests.accounts.factories import anon_headers, login_headers
from tests.orders.conftest import OrderWorld

pytestmark = pytest.mark.django_db

URL = "/api/realtime/catchup"


def recipient_headers(order: Order) -> dict[str, str]:
    anon_id = order.recipient_anon_id
    assert anon_id is not None
    return anon_headers(anon_id, accounts.sign_anonymous_id(anon_id))


def get(client: APIClient, headers: dict[str, Any], **params: Any) -> Any:
    return client.get(URL, params, **headers)


def test_catchup_without_since_gives_the_current_cursor_and_no_events(
    api_client: APIClient, world: OrderWorld
) -> None:
    world.order_in(OrderStatus.PAID)
    response = get(api_client, login_headers(world.buyer))
    assert response.status_code == 200
    assert response.json() == {
        "events": [],
        "nextCursor": selectors.current_cursor(),
        "hasMore": False,
    }


def test_catchup_returns_the_buyers_events_in_order_as_frames(
    api_client: APIClient, world: OrderWorld
) -> None:
    order = world.order_in(OrderStatus.ACCEPTED)
    body = get(api_client, login_headers(world.buyer), since=0).json()
    assert [(e["event"], e["data"]["status"]) for e in body["events"]] == [
        ("order.created", "pending_payment"),
        ("order.status_changed", "paid"),
        ("order.status_changed", "accepted"),
    ]
    first = body["events"][0]
    assert set(first) == {"type", "id", "stream", "event", "data", "createdAt"}
    assert first["type"] == "event" and first["stream"] == f"order:{order.pk}"
    assert body["hasMore"] is False
    assert body["nextCursor"] == body["events"][-1]["id"]


def test_catchup_pages_with_has_more(api_client: APIClient, world: OrderWorld) -> None:
    world.order_in(OrderStatus.IN_TRANSIT)  # 4 events for the seller
    headers = login_headers(world.seller)
    first = get(api_client, headers, since=0, limit=3).json()
    assert len(first["events"]) == 3 and first["hasMore"] is True
    assert first["nextCursor"] == first["events"][-1]["id"]
    rest = get(api_client, headers, since=first["nextCursor"], limit=3).json()
    assert len(rest["events"]) == 1 and rest["hasMore"] is False


def test_catchup_works_for_the_anonymous_recipient_of_the_order(
    api_client: APIClient, world: OrderWorld
) -> None:
    order = world.order_in(OrderStatus.PAID)
    other = world.order_in(OrderStatus.PAID)
    mine = get(api_client, recipient_headers(order), since=0).json()
    assert {e["stream"] for e in mine["events"]} == {f"order:{order.pk}"}
    theirs = get(api_client, recipient_headers(other), since=0).json()
    assert {e["stream"] for e in theirs["events"]} == {f"order:{other.pk}"}


def test_catchup_staff_see_their_countrys_queue(api_client: APIClient, world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    body = get(api_client, login_headers(world.staff["L1"]), since=0).json()
    assert [(e["stream"], e["data"]["status"]) for e in body["events"]] == [
        (f"order:{order.pk}", "paid")
    ]


def test_catchup_without_credentials_is_401(api_client: APIClient, countries: Any) -> None:
    response = api_client.get(URL, {"since": 0})
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "0x10", "99999999999999999999"])
def test_catchup_a_malformed_cursor_is_invalid_cursor(
    api_client: APIClient, world: OrderWorld, since: str
) -> None:
    response = get(api_client, login_headers(world.buyer), since=since)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_CURSOR"
    assert body["error"] == "bad_request"
    assert body["requestId"] == response["X-Request-ID"]


def test_catchup_a_cursor_ahead_of_the_log_is_invalid_cursor(
    api_client: APIClient, world: OrderWorld
) -> None:
    world.new_order()
    response = get(api_client, login_headers(world.buyer), since=selectors.current_cursor() + 1)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_CURSOR"


def test_catchup_a_cursor_older_than_retention_is_cursor_expired(
    api_client: APIClient, world: OrderWorld, settings: Any
) -> None:
    settings.REALTIME_RETENTION_SECONDS = 60
    world.order_in(OrderStatus.PAID)
    realtime.purge_expired(now=timezone.now() + timedelta(seconds=61))
    response = get(api_client, login_headers(world.buyer), since=0)
    assert response.status_code == 410
    body = response.json()
    assert (body["code"], body["error"]) == ("CURSOR_EXPIRED", "gone")
    # the documented recovery: a catchup without ``since`` gives a fresh cursor
    fresh = get(api_client, login_headers(world.buyer)).json()["nextCursor"]
    assert get(api_client, login_headers(world.buyer), since=fresh).status_code == 200


def test_catchup_the_limit_is_clamped(
    api_client: APIClient, world: OrderWorld, settings: Any
) -> None:
    settings.REALTIME_CATCHUP_MAX_LIMIT = 2
    world.order_in(OrderStatus.ACCEPTED)
    body = get(api_client, login_headers(world.buyer), since=0, limit=500).json()
    assert len(body["events"]) == 2 and body["hasMore"] is True


@pytest.mark.parametrize("limit", ["x", "-3", "1.5"])
def test_catchup_a_non_integer_limit_is_a_validation_error(
    api_client: APIClient, world: OrderWorld, limit: str
) -> None:
    response = get(api_client, login_headers(world.buyer), since=0, limit=limit)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "limit" in response.json()["details"]


def test_catchup_emits_its_metric(api_client: APIClient, world: OrderWorld, json_logs: Any) -> None:
    world.order_in(OrderStatus.PAID)
    get(api_client, login_headers(world.buyer), since=0)
    (metric,) = json_logs.events("METRIC_REALTIME_CATCHUP")
    assert metric["eventCount"] == 2
    assert isinstance(metric["durationMs"], int | float)
    assert metric["via"] == "rest"


def test_catchup_refusals_are_counted_by_code(
    api_client: APIClient, world: OrderWorld, json_logs: Any
) -> None:
    get(api_client, login_headers(world.buyer), since="nope")
    (metric,) = json_logs.events("METRIC_REALTIME_CATCHUP_REFUSED")
    assert metric["code"] == "INVALID_CURSOR"
