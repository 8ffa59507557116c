"""Sending a notice end to end through the outbox to a local HTTP server acting as the push
service: the payload decrypts (aes128gcm) with the browser's key and holds no message text,
the VAPID JWT verifies, TTL/Topic/Urgency are set; the push service's answers (404/410, 413,
429, 5xx) and the flag (off: nothing enqueued, nothing sent; stale notices never sent)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import http_ece
import pytest
from django.utils import timezone
from py_vapid.jwt import decode

from audit.models import Event
from aventide.core.principal import SYSTEM, Principal
from integrations import services as outbox
from integrations.errors import JobNotInDlq
from integrations.models import Job, JobStatus
from integrations.providers import registry
from integrations.providers.push_webpush import WebPush
from realtime.push import services as push
from realtime.push.errors import PushNoticeInvalid
from realtime.push.models import PushSubscription
from tests.accounts.factories import make_user, principal
from tests.realtime.push_helpers import (
    Answer,
    Browser,
    Keys,
    PushServiceStub,
    memory_breaker,
    push_service,
    vapid_keys,
)

__all__ = ["memory_breaker", "push_service", "vapid_keys"]

pytestmark = pytest.mark.django_db

MESSAGE_TEXT = "Hola, el repartidor llega a las 5 con tu regalo"


@pytest.fixture
def webpush(memory_breaker: Any) -> Iterator[WebPush]:
    adapter = WebPush()
    with registry.override("push", adapter):
        yield adapter


@pytest.fixture
def buyer() -> Principal:
    return principal(make_user(country_code="AR"))


def subscribe(actor: Principal, stub: PushServiceStub, name: str = "sub-1") -> Browser:
    browser = Browser()
    push.push_subscribe(
        actor=actor, endpoint=stub.endpoint(name), p256dh=browser.p256dh, auth=browser.auth
    )
    return browser


def notice(ref: str = "evt-1", **overrides: Any) -> push.Notice:
    fields: dict[str, Any] = {
        "ref": ref,
        "kind": "chat.message",
        "url": "/orders/12/chat",
        "order_id": 12,
        "conversation_id": 34,
        "unread_count": 3,
        **overrides,
    }
    return push.Notice(**fields)


def run(job_id: int) -> Job:
    outbox.job_run(job_id=job_id)
    return Job.objects.get(pk=job_id)


def decrypt(browser: Browser, body: bytes) -> dict[str, Any]:
    plaintext = http_ece.decrypt(
        body,
        private_key=browser.private_key,
        auth_secret=browser.auth_secret,
        version="aes128gcm",
    )
    result: dict[str, Any] = json.loads(plaintext)
    return result


def test_notify_sends_an_encrypted_vapid_signed_push_without_message_text(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    browser = subscribe(buyer, push_service)
    [job_id] = push.notify(buyer, notice())
    job = run(job_id)
    assert job.status == JobStatus.SUCCEEDED
    [request] = push_service.requests
    assert request["path"] == "/wpush/v2/sub-1"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert 0 < int(headers["ttl"]) <= 3600
    assert headers["topic"] == "c34"
    assert headers["urgency"] == "normal"
    assert len(request["body"]) <= 4096

    message = decrypt(browser, request["body"])
    assert message == {
        "title": "chat.message",
        "data": {
            "url": "/orders/12/chat",
            "orderId": "12",
            "conversationId": "34",
            "unreadCount": "3",
        },
    }
    assert MESSAGE_TEXT not in json.dumps(message)

    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(part.split("=", 1) for part in params.split(","))
    assert parts["k"] == vapid_keys.public
    claims = decode(parts["t"], vapid_keys.public)  # raises unless the signature verifies
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == vapid_keys.subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_the_outbox_row_and_the_audit_trail_never_hold_the_endpoint_or_keys(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    browser = subscribe(buyer, push_service)
    [job_id] = push.notify(buyer, notice())
    stored = json.dumps(Job.objects.get(pk=job_id).payload)
    run(job_id)
    trail = json.dumps([e.data for e in Event.objects.all()])
    for secret in ("/wpush/v2/sub-1", browser.p256dh, browser.auth):
        assert secret not in stored
        assert secret not in trail
        assert secret not in json.dumps(Job.objects.get(pk=job_id).payload)


def test_notify_one_job_per_subscription_and_once_per_notice(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    subscribe(buyer, push_service, "phone")
    subscribe(buyer, push_service, "laptop")
    other = principal(make_user(country_code="AR"))
    subscribe(other, push_service, "someone-else")
    jobs = push.notify(buyer, notice())
    assert len(jobs) == 2
    assert push.notify(buyer, notice()) == []  # the same notice again: nothing new
    for job_id in jobs:
        run(job_id)
    assert sorted(r["path"] for r in push_service.requests) == [
        "/wpush/v2/laptop",
        "/wpush/v2/phone",
    ]


def test_notice_without_conversation_uses_the_order_as_topic(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    subscribe(buyer, push_service)
    [job_id] = push.notify(
        buyer, notice(kind="order.status", conversation_id=None, unread_count=None, urgency="high")
    )
    run(job_id)
    headers = {k.lower(): v for k, v in push_service.requests[0]["headers"].items()}
    assert (headers["topic"], headers["urgency"]) == ("o12", "high")


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_deleted_with_evidence(
    status: int,
    vapid_keys: Keys,
    push_service: PushServiceStub,
    webpush: WebPush,
    buyer: Principal,
) -> None:
    subscribe(buyer, push_service)
    subscription_id = PushSubscription.objects.get().pk
    push_service.script.append(Answer(status))
    [job_id] = push.notify(buyer, notice())
    job = run(job_id)
    assert job.status == JobStatus.DISCARDED  # not the DLQ: nothing to look at
    assert job.last_error_code == "PUSH_SUBSCRIPTION_GONE"
    assert job.attempts == 1
    assert not PushSubscription.objects.exists()
    event = Event.objects.get(action="push.subscription_removed")
    assert event.actor_type == "system"
    assert event.data["subscriptionId"] == subscription_id
    assert event.data["errorCode"] == "PUSH_SUBSCRIPTION_GONE"
    assert "/wpush/" not in json.dumps(event.data)
    assert push.notify(buyer, notice("evt-2")) == []  # nothing left to push to


def test_payload_too_large_is_dead_at_once_and_keeps_the_subscription(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    subscribe(buyer, push_service)
    push_service.script.append(Answer(413))
    [job_id] = push.notify(buyer, notice())
    job = run(job_id)
    assert (job.status, job.attempts, job.last_error_code) == (
        JobStatus.DEAD,
        1,
        "PUSH_PAYLOAD_TOO_LARGE",
    )
    subscription = PushSubscription.objects.get()
    assert subscription.last_failure_code == "PUSH_PAYLOAD_TOO_LARGE"


def test_rate_limited_is_rescheduled_no_sooner_than_retry_after(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    subscribe(buyer, push_service)
    push_service.script.append(Answer(429, {"Retry-After": "120"}))
    [job_id] = push.notify(buyer, notice())
    before = timezone.now()
    job = run(job_id)
    assert job.status == JobStatus.RETRY_SCHEDULED
    assert job.last_error_code == "PROVIDER_RATE_LIMITED"
    assert job.next_attempt_at >= before + timedelta(seconds=120)
    assert PushSubscription.objects.exists()


def test_server_error_is_retried_then_delivered(
    vapid_keys: Keys, push_service: PushServiceStub, webpush: WebPush, buyer: Principal
) -> None:
    subscribe(buyer, push_service)
    push_service.script.append(Answer(503))
    [job_id] = push.notify(buyer, notice())
    job = run(job_id)
    assert (job.status, job.attempts) == (JobStatus.RETRY_SCHEDULED, 1)
    Job.objects.filter(pk=job_id).update(next_attempt_at=timezone.now())
    job = run(job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert len(push_service.requests) == 2
    assert PushSubscription.objects.get().last_success_at is not None


def test_flag_off_enqueues_nothing_and_sends_nothing(
    vapid_keys: Keys,
    push_service: PushServiceStub,
    webpush: WebPush,
    buyer: Principal,
    settings: Any,
) -> None:
    subscribe(buyer, push_service)
    [queued_before] = push.notify(buyer, notice("before-off"))
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    assert push.notify(buyer, notice("while-off")) == []
    job = run(queued_before)  # the worker, restarted with the flag off
    assert job.status == JobStatus.DISCARDED  # drained nothing into the DLQ
    assert job.last_error_code == "PUSH_DISABLED"
    assert push_service.requests == []
    assert Job.objects.filter(kind="push").count() == 1
    assert PushSubscription.objects.exists()  # nothing else is lost


def test_flag_back_on_does_not_replay_stale_notices(
    vapid_keys: Keys,
    push_service: PushServiceStub,
    webpush: WebPush,
    buyer: Principal,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subscribe(buyer, push_service)
    [dropped_while_off] = push.notify(buyer, notice("before-off-1"))
    [still_queued] = push.notify(buyer, notice("before-off-2"))
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    dropped = run(dropped_while_off)
    assert (dropped.status, dropped.last_error_code) == (JobStatus.DISCARDED, "PUSH_DISABLED")
    # Two hours later the flag is back on: the notice that waited in the outbox is not sent,
    # and the one dropped while off is closed for good (no DLQ replay of it).
    real_now = timezone.now
    monkeypatch.setattr("django.utils.timezone.now", lambda: real_now() + timedelta(hours=2))
    settings.ENABLE_PUSH_NOTIFICATIONS = True
    with pytest.raises(JobNotInDlq):
        outbox.job_replay(actor=SYSTEM, job_id=dropped_while_off)
    expired = run(still_queued)
    assert (expired.status, expired.last_error_code) == (JobStatus.DISCARDED, "PUSH_EXPIRED")
    assert push_service.requests == []
    [fresh] = push.notify(buyer, notice("after-on"))
    assert run(fresh).status == JobStatus.SUCCEEDED
    assert len(push_service.requests) == 1


def test_notice_carries_no_free_text(vapid_keys: Keys, buyer: Principal) -> None:
    with pytest.raises(TypeError):
        push.Notice(ref="x", kind="chat.message", url="/o/1", body=MESSAGE_TEXT)  # type: ignore[call-arg]  # no text field
    with pytest.raises(PushNoticeInvalid):
        push.notify(buyer, notice(url="https://evil.example/phish"))


def test_sandbox_push_needs_no_network(
    vapid_keys: Keys, buyer: Principal, memory_breaker: Any
) -> None:
    browser = Browser()
    push.push_subscribe(
        actor=buyer,
        endpoint="https://updates.push.services.mozilla.com/wpush/v2/abc",
        p256dh=browser.p256dh,
        auth=browser.auth,
    )
    [job_id] = push.notify(buyer, notice())
    assert run(job_id).status == JobStatus.SUCCEEDED


def test_payload_is_small(vapid_keys: Keys) -> None:
    rendered = base64.b64encode(json.dumps(notice().as_params()).encode())
    assert len(rendered) < 1024


def test_metrics_count_sent_failed_by_class_and_removed_and_logs_hold_no_endpoint(
    vapid_keys: Keys,
    push_service: PushServiceStub,
    webpush: WebPush,
    buyer: Principal,
    json_logs: Any,
) -> None:
    subscribe(buyer, push_service, "ok")
    subscribe(buyer, push_service, "gone")
    push_service.script.extend([Answer(201), Answer(410)])
    for job_id in push.notify(buyer, notice()):  # in subscription order: ok, then gone
        run(job_id)
    assert len(json_logs.events("METRIC_PUSH_SENT")) == 1
    [failed] = json_logs.events("METRIC_PUSH_FAILED")
    assert (failed["class"], failed["code"]) == ("gone", "PUSH_SUBSCRIPTION_GONE")
    assert len(json_logs.events("METRIC_PUSH_SUBSCRIPTION_REMOVED")) == 1
    assert "/wpush/v2/" not in json_logs.text


def test_flag_state_gauge(vapid_keys: Keys, settings: Any) -> None:
    from aventide.core.metrics import exposition
    from realtime.push import metrics

    metrics.report_flag_state()
    assert b"aventide_push_enabled 1.0" in exposition()
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    metrics.report_flag_state()
    assert b"aventide_push_enabled 0.0" in exposition()
