"""REST API of Web Push: the VAPID key, subscribe / list / delete (own only), the validation
of subscriptions, the audit trail, and the flag (503 PUSH_DISABLED)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import Event
from realtime.push import services
from realtime.push.models import PushSubscription
from tests.accounts.factories import (
    anon_headers,
    issue_anon,
    login_headers,
    make_user,
    principal,
)
from tests.realtime.push_helpers import Browser, Keys, b64url, push_off, vapid_keys

__all__ = ["push_off", "vapid_keys"]

pytestmark = pytest.mark.django_db

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def-123"


def client_for(headers: dict[str, str]) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**headers)
    return client


@pytest.fixture
def user_client() -> APIClient:
    return client_for(login_headers(make_user(country_code="AR")))


def subscribe(client: APIClient, body: dict[str, Any]) -> Any:
    return client.post("/api/push/subscriptions", body, format="json")


def test_vapid_public_key_is_the_application_server_key(
    api_client: APIClient, vapid_keys: Keys
) -> None:
    response = api_client.get("/api/push/vapid-public-key")
    assert response.status_code == 200
    assert response.json() == {"publicKey": vapid_keys.public}


def test_subscribe_stores_the_subscription_for_the_user_and_country(
    user_client: APIClient, vapid_keys: Keys
) -> None:
    browser = Browser()
    response = subscribe(user_client, {**browser.subscription(ENDPOINT), "expirationTime": None})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["endpoint"] == ENDPOINT
    assert body["countryCode"] == "AR"
    assert "keys" not in body
    row = PushSubscription.objects.get(pk=body["id"])
    assert row.principal_key.startswith("user:")
    assert (row.p256dh, row.auth) == (browser.p256dh, browser.auth)
    event = Event.objects.get(action="push.subscribed")
    assert event.data["pushService"] == "https://fcm.googleapis.com"
    assert ENDPOINT not in str(event.data) and browser.auth not in str(event.data)


def test_subscribe_same_endpoint_updates_in_place(user_client: APIClient, vapid_keys: Keys) -> None:
    first = subscribe(user_client, Browser().subscription(ENDPOINT)).json()
    renewed = Browser()
    again = subscribe(user_client, renewed.subscription(ENDPOINT))
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert PushSubscription.objects.count() == 1
    assert PushSubscription.objects.get().auth == renewed.auth


def test_anonymous_recipient_subscribes_with_its_signed_identity(
    api_client: APIClient, vapid_keys: Keys
) -> None:
    issued = issue_anon(order_id=7, country_code="MX")
    client = client_for(anon_headers(issued.anon_id, issued.signature))
    response = subscribe(client, Browser().subscription(ENDPOINT))
    assert response.status_code == 201, response.content
    assert response.json()["countryCode"] == "MX"
    assert PushSubscription.objects.get().principal_key == f"anon:{issued.anon_id}"
    listed = client.get("/api/push/subscriptions")
    assert [s["id"] for s in listed.json()] == [response.json()["id"]]


def test_subscribe_requires_authentication(api_client: APIClient, vapid_keys: Keys) -> None:
    response = subscribe(api_client, Browser().subscription(ENDPOINT))
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.update(endpoint="http://push.example.com/abc"), "endpoint"),
        (lambda s: s.update(endpoint="not a url"), "endpoint"),
        (lambda s: s.update(endpoint="https://user:pw@push.example.com/abc"), "endpoint"),
        (lambda s: s.update(endpoint="https://10.0.0.7/internal"), "endpoint"),
        (lambda s: s.update(endpoint="https://[::1]:8443/internal"), "endpoint"),
        (lambda s: s.update(endpoint="https://localhost/internal"), "endpoint"),
        (lambda s: s["keys"].update(p256dh=b64url(b"\x04" + b"\x01" * 40)), "keys.p256dh"),
        (lambda s: s["keys"].update(p256dh=b64url(b"\x04" + b"\x01" * 64)), "keys.p256dh"),
        (lambda s: s["keys"].update(p256dh="!!!not-base64!!!"), "keys.p256dh"),
        (lambda s: s["keys"].update(auth=b64url(b"\x00" * 8)), "keys.auth"),
        (lambda s: s["keys"].update(auth="%%%"), "keys.auth"),
    ],
    ids=[
        "http",
        "not-url",
        "credentials",
        "ip-address",
        "ipv6-loopback",
        "localhost",
        "short-p256dh",
        "off-curve",
        "garbage-p256dh",
        "short-auth",
        "garbage-auth",
    ],
)
def test_subscribe_bad_subscription_answers_the_error_contract_and_stores_nothing(
    user_client: APIClient, vapid_keys: Keys, mutate: Any, field: str
) -> None:
    body = Browser().subscription(ENDPOINT)
    mutate(body)
    response = subscribe(user_client, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "PUSH_SUBSCRIPTION_INVALID"
    assert set(payload) >= {"error", "code", "message", "requestId"}
    assert field in payload["details"]
    assert not PushSubscription.objects.exists()
    assert not Event.objects.filter(action="push.subscribed").exists()


def test_subscribe_missing_keys_is_a_validation_error(
    user_client: APIClient, vapid_keys: Keys
) -> None:
    response = subscribe(user_client, {"endpoint": ENDPOINT})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not PushSubscription.objects.exists()


def test_list_shows_only_the_callers_subscriptions(
    user_client: APIClient, vapid_keys: Keys
) -> None:
    mine = subscribe(user_client, Browser().subscription(ENDPOINT)).json()
    other = client_for(login_headers(make_user(country_code="AR")))
    subscribe(other, Browser().subscription(ENDPOINT + "-other"))
    listed = user_client.get("/api/push/subscriptions")
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()] == [mine["id"]]


def test_delete_own_subscription_is_audited(user_client: APIClient, vapid_keys: Keys) -> None:
    mine = subscribe(user_client, Browser().subscription(ENDPOINT)).json()
    response = user_client.delete(f"/api/push/subscriptions/{mine['id']}")
    assert response.status_code == 204
    assert not PushSubscription.objects.exists()
    assert Event.objects.filter(action="push.unsubscribed").count() == 1


def test_delete_another_principals_subscription_is_404_and_keeps_it(
    user_client: APIClient, vapid_keys: Keys
) -> None:
    other = client_for(login_headers(make_user(country_code="AR")))
    theirs = subscribe(other, Browser().subscription(ENDPOINT)).json()
    response = user_client.delete(f"/api/push/subscriptions/{theirs['id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    unknown = user_client.delete("/api/push/subscriptions/999999")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == response.json()["message"]
    assert PushSubscription.objects.filter(pk=theirs["id"]).exists()


def test_flag_off_every_push_endpoint_answers_503_push_disabled(
    user_client: APIClient, vapid_keys: Keys, push_off: None
) -> None:
    responses = [
        user_client.get("/api/push/vapid-public-key"),
        user_client.get("/api/push/subscriptions"),
        subscribe(user_client, Browser().subscription(ENDPOINT)),
        user_client.delete("/api/push/subscriptions/1"),
    ]
    for response in responses:
        assert response.status_code == 503, response.content
        assert response.json()["code"] == "PUSH_DISABLED"
        assert response.json()["requestId"]
    assert not PushSubscription.objects.exists()


def test_without_vapid_keys_outside_production_push_is_off(
    user_client: APIClient, settings: Any
) -> None:
    settings.ENABLE_PUSH_NOTIFICATIONS = True
    settings.VAPID_PRIVATE_KEY = ""
    response = user_client.get("/api/push/vapid-public-key")
    assert response.status_code == 503
    assert response.json()["code"] == "PUSH_DISABLED"


def test_subscribe_query_budget(vapid_keys: Keys, django_assert_max_num_queries: Any) -> None:
    actor = principal(make_user(country_code="AR"))
    browser = Browser()
    # lock the endpoint, insert, the owner's surplus, the audit row (+ the test's savepoints)
    with django_assert_max_num_queries(6):
        services.push_subscribe(
            actor=actor, endpoint=ENDPOINT, p256dh=browser.p256dh, auth=browser.auth
        )
