"""Web Push use cases (docs/operations/push.md; the recipe: docs/development/recipe.md).

- ``push_subscribe`` / ``push_unsubscribe`` -- a principal (a user or an anonymous recipient)
  registers or drops one browser's subscription; audited (``push.subscribed``,
  ``push.unsubscribed``) with the push service's origin only, never the endpoint or keys.
- ``notify(principal, notice)`` -- called INSIDE the caller's transaction (the notification
  bridge): one outbox job (``push``/``push.send``) per subscription of the principal. The job
  stores ids and the notice only (``{"render": "realtime.push.notice", "params": ...}``): the
  endpoint and keys are rendered by ``render_notice`` when the worker sends it.
- ``on_push_job_ended`` -- the hub's result listener: a job that ended with
  ``PUSH_SUBSCRIPTION_GONE`` (the push service answered 404/410) deletes its subscription
  (``push.subscription_removed``, evidence); success and failure stamp the subscription.

Jobs that no longer apply -- the subscription is gone, the notice expired, push is switched
off -- end ``discarded`` (``JobObsolete``), not in the DLQ: they raise no alert and cannot be
replayed. A 413, an auth refusal or exhausted retries are real failures: DLQ and alert.

The flag (``ENABLE_PUSH_NOTIFICATIONS``, and outside production the VAPID keys): off, the
endpoints answer 503 ``PUSH_DISABLED``, ``notify`` enqueues nothing, and a job still in the
outbox is not sent (``render_notice`` drops it: ``PUSH_DISABLED``). Every notice expires
``PUSH_TTL_SECONDS`` after it was created: a job run later (a retry, a DLQ replay, the flag
back on) is dropped with ``PUSH_EXPIRED`` -- stale notices are never sent.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit import services as audit
from aventide.accounts.contracts import use_case
from aventide.core.env import b64url_decode
from aventide.core.logging import get_logger
from aventide.core.metrics import emit
from aventide.core.principal import SYSTEM, Principal
from integrations import selectors as outbox_selectors
from integrations import services as outbox
from integrations.contracts import JobObsolete, JobOutcome, PermanentProviderError
from realtime.contracts import anon_key, user_key
from realtime.push.audit_actions import PushAction
from realtime.push.errors import (
    PushDisabled,
    PushNoticeInvalid,
    PushSubscriberForbidden,
    PushSubscriptionInvalid,
    PushSubscriptionNotFound,
)
from realtime.push.models import ENDPOINT_MAX_LENGTH, PushSubscription

logger = get_logger("aventide.realtime.push")

KIND = "push"
OPERATION = "push.send"
RENDERER = "realtime.push.notice"
#: the adapter's codes (integrations/providers/push_webpush.py) this app acts on
SUBSCRIPTION_GONE = "PUSH_SUBSCRIPTION_GONE"
DISABLED = "PUSH_DISABLED"
EXPIRED = "PUSH_EXPIRED"
URGENCIES = ("very-low", "low", "normal", "high")

_NOTICE_KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
_REF_RE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
_DEEP_LINK_RE = re.compile(r"^/[A-Za-z0-9/_.~%?&=#-]{0,199}$")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")


# --- the flag ------------------------------------------------------------------------------


def push_enabled() -> bool:
    """``ENABLE_PUSH_NOTIFICATIONS`` on and the VAPID keys configured (production refuses to
    start with the flag on and no keys; elsewhere missing keys switch push off)."""
    return bool(
        settings.ENABLE_PUSH_NOTIFICATIONS
        and settings.VAPID_PUBLIC_KEY
        and settings.VAPID_PRIVATE_KEY
        and settings.VAPID_SUBJECT
    )


def require_push_enabled() -> None:
    if not push_enabled():
        raise PushDisabled()


def vapid_public_key() -> str:
    """The browser's ``applicationServerKey`` (base64url of the uncompressed P-256 point)."""
    require_push_enabled()
    return str(settings.VAPID_PUBLIC_KEY).strip()


# --- subscriptions -------------------------------------------------------------------------


def principal_key(actor: Principal) -> str:
    """The owner key of ``actor``'s subscriptions; only people (users, staff, anonymous
    recipients) have browsers to push to."""
    if actor.is_anonymous_identity:
        return anon_key(actor.id)
    if actor.is_registered:
        return user_key(int(actor.id))
    raise PushSubscriberForbidden()


_b64url = b64url_decode  # the kernel's strict base64url (aventide/core/env.py)


def _endpoint_problem(endpoint: str) -> str | None:
    if not endpoint or len(endpoint) > ENDPOINT_MAX_LENGTH or _CONTROL_RE.search(endpoint):
        return f"An https URL of at most {ENDPOINT_MAX_LENGTH} characters."
    try:
        parts = urlsplit(endpoint)
        _ = parts.port  # a malformed port raises here
    except ValueError:
        return "Not a URL."
    insecure_hosts = set(settings.PUSH_INSECURE_ENDPOINT_HOSTS or [])
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in insecure_hosts
    )
    if not secure:
        return "Must be an https URL."
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        return "Must be a push service URL (a host, no credentials, no fragment)."
    if parts.hostname not in insecure_hosts and _is_ip_literal(parts.hostname):
        # Push services are named hosts; an address would let a client aim the worker's
        # requests at internal services.
        return "Must be a push service URL (a host name, not an IP address)."
    if parts.hostname.rstrip(".").lower() in ("localhost", "localhost.localdomain") and (
        parts.hostname not in insecure_hosts
    ):
        return "Must be a push service URL (not this machine)."
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def validate_subscription(*, endpoint: str, p256dh: str, auth: str) -> None:
    """Raise ``PUSH_SUBSCRIPTION_INVALID`` naming each bad field (never echoing values)."""
    problems: dict[str, list[str]] = {}
    if (why := _endpoint_problem(endpoint)) is not None:
        problems["endpoint"] = [why]
    point = _b64url(p256dh)
    if point is None or len(point) != 65 or point[0] != 0x04:
        problems["keys.p256dh"] = ["The base64url of a 65-byte uncompressed P-256 point."]
    else:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            problems["keys.p256dh"] = ["Not a point on the P-256 curve."]
    secret = _b64url(auth)
    if secret is None or len(secret) != 16:
        problems["keys.auth"] = ["The base64url of the 16-byte authentication secret."]
    if problems:
        raise PushSubscriptionInvalid(details=problems)


def push_subscribe(*, actor: Principal, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Register one browser's subscription for ``actor`` (in ``actor``'s country).

    The same endpoint again updates the row in place (new keys, and the owner who subscribed
    last: a browser profile has one subscription per application server). Beyond
    ``PUSH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL`` the owner's oldest subscriptions are dropped.
    Locks the endpoint's row. Audit ``push.subscribed`` (subscription id, push service origin,
    whether it replaced one). 503 ``PUSH_DISABLED`` when push is off; 400
    ``PUSH_SUBSCRIPTION_INVALID`` stores nothing.
    """
    require_push_enabled()
    owner = principal_key(actor)
    endpoint, p256dh, auth = endpoint.strip(), p256dh.strip(), auth.strip()
    validate_subscription(endpoint=endpoint, p256dh=p256dh, auth=auth)
    try:
        return _subscribe(actor, owner, endpoint, p256dh, auth)
    except IntegrityError:
        # Two first subscriptions of one endpoint raced on its unique index: the loser's
        # transaction rolled back; run again, now updating the winner's row in place.
        return _subscribe(actor, owner, endpoint, p256dh, auth)


def _subscribe(
    actor: Principal, owner: str, endpoint: str, p256dh: str, auth: str
) -> PushSubscription:
    with use_case(actor):
        subscription = (
            PushSubscription.objects.select_for_update(of=("self",))
            .filter(endpoint=endpoint)
            .first()
        )
        replaced = subscription is not None
        if subscription is None:
            subscription = PushSubscription(endpoint=endpoint)
        subscription.principal_key = owner
        subscription.country_code = (actor.country_code or "").upper()[:2]
        subscription.p256dh = p256dh
        subscription.auth = auth
        subscription.last_failure_code = ""
        subscription.save()
        limit = max(1, int(settings.PUSH_MAX_SUBSCRIPTIONS_PER_PRINCIPAL))
        surplus = list(
            PushSubscription.objects.filter(principal_key=owner)
            .order_by("-updated_at", "-pk")
            .values_list("pk", flat=True)[limit:]
        )
        if surplus:
            PushSubscription.objects.filter(pk__in=surplus).delete()
        audit.record(
            PushAction.SUBSCRIBED,
            subscription,
            data={
                "subscriptionId": subscription.pk,
                "pushService": subscription.endpoint_origin,
                "replaced": replaced,
                "dropped": surplus,
            },
        )
    return subscription


def push_unsubscribe(*, actor: Principal, subscription_id: int) -> None:
    """Drop one of ``actor``'s subscriptions; another principal's id is 404 like an unknown
    one. Works with push switched off (a user may always stop notifications). Audit
    ``push.unsubscribed``."""
    owner = principal_key(actor)
    with use_case(actor) as uc:
        subscription = uc.lock(
            PushSubscription.objects.filter(pk=subscription_id, principal_key=owner)
        )
        if subscription is None:
            raise PushSubscriptionNotFound()
        audit.record(
            PushAction.UNSUBSCRIBED,
            subscription,
            data={"subscriptionId": subscription.pk, "pushService": subscription.endpoint_origin},
        )
        subscription.delete()


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Notice:
    """What a push tells the device: never message text or personal data -- the client
    fetches the details once opened (``url``).

    ``ref`` identifies the notice (an event id): with the subscription it is the job's
    idempotency key, so a notice is pushed once per device however often it is notified.
    ``kind`` is a notice type (``chat.message``, ``order.status``, ...); ``url`` a path in
    the client app (``/orders/12``). The ``Topic`` is the order or the conversation: a newer
    notice about it replaces one still pending at the push service.
    """

    ref: str
    kind: str
    url: str
    order_id: int | None = None
    conversation_id: int | None = None
    unread_count: int | None = None
    urgency: str = "normal"

    def validate(self) -> None:
        problems: dict[str, list[str]] = {}
        if not _REF_RE.match(self.ref):
            problems["ref"] = ["1..80 of A-Z a-z 0-9 . _ : -"]
        if not _NOTICE_KIND_RE.match(self.kind):
            problems["kind"] = ["A notice type like chat.message."]
        if not _DEEP_LINK_RE.match(self.url) or self.url.startswith("//"):
            problems["url"] = ["A path in the client app, like /orders/12."]
        for name in ("order_id", "conversation_id", "unread_count"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems[name] = ["An integer."]
            elif value is not None and value < 0:
                problems[name] = ["Not negative."]
        if self.urgency not in URGENCIES:
            problems["urgency"] = [" | ".join(URGENCIES)]
        if problems:
            raise PushNoticeInvalid(details=problems)

    @property
    def topic(self) -> str:
        """RFC 8030 Topic (<= 32 base64url characters): the conversation, else the order."""
        if self.conversation_id is not None:
            return f"c{self.conversation_id}"
        if self.order_id is not None:
            return f"o{self.order_id}"
        return ""

    def as_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"kind": self.kind, "url": self.url, "urgency": self.urgency}
        if self.order_id is not None:
            params["orderId"] = self.order_id
        if self.conversation_id is not None:
            params["conversationId"] = self.conversation_id
        if self.unread_count is not None:
            params["unreadCount"] = self.unread_count
        return params


def notify(principal: Principal, notice: Notice) -> list[int]:
    """Enqueue one ``push.send`` job per subscription of ``principal``; the new job ids.

    Joins the caller's use-case frame (or opens one as the system). Push off: nothing is
    enqueued (``METRIC_PUSH_SKIPPED{reason=disabled}``). The job expires
    ``PUSH_TTL_SECONDS`` after now. Idempotent per (subscription, ``notice.ref``): a notice
    already queued for a device is not queued again (and not in the returned ids).
    """
    notice.validate()
    if not push_enabled():
        emit("METRIC_PUSH_SKIPPED", labels={"reason": "disabled"})
        return []
    try:
        owner = principal_key(principal)
    except PushSubscriberForbidden:
        return []
    now = timezone.now()
    expires = now + timedelta(seconds=max(1, int(settings.PUSH_TTL_SECONDS)))
    job_ids: list[int] = []
    with use_case(SYSTEM):
        subscriptions = list(
            PushSubscription.objects.filter(principal_key=owner)
            .order_by("pk")
            .values_list("pk", "country_code")
        )
        for subscription_id, country in subscriptions:
            key = f"push:{subscription_id}:{notice.ref}"
            if outbox_selectors.job_exists(idempotency_key=key):
                continue  # this notice was already queued for this device
            job = outbox.enqueue(
                kind=KIND,
                operation=OPERATION,
                payload={
                    "render": RENDERER,
                    "params": {
                        "subscriptionId": subscription_id,
                        "notice": notice.as_params(),
                        "createdAt": now.isoformat(),
                        "expiresAt": expires.isoformat(),
                    },
                },
                idempotency_key=key,
                country_code=country,
            )
            job_ids.append(job.pk)
    if job_ids:
        emit("METRIC_PUSH_ENQUEUED", labels={"kind": notice.kind}, count=len(job_ids))
    return job_ids


def _refuse(code: str, detail: str) -> PermanentProviderError:
    return PermanentProviderError(detail, code=code)


def _obsolete(code: str, detail: str) -> JobObsolete:
    """Not sent, and nothing to look at: the job is discarded (no DLQ, no alert)."""
    return JobObsolete(detail, code=code)


def render_notice(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``push.send`` payload of a notice job, built when the worker sends it (the
    endpoint and keys never rest in the outbox row). Drops the job (``JobObsolete``: discarded,
    not the DLQ) when push is switched off (``PUSH_DISABLED``), the notice expired
    (``PUSH_EXPIRED``) or the subscription was deleted meanwhile (``PUSH_SUBSCRIPTION_GONE``)."""
    if not push_enabled():
        raise _obsolete(DISABLED, "push notifications are switched off")
    try:
        subscription_id = int(params["subscriptionId"])
        notice = dict(params["notice"])
        expires_at = parse_datetime(str(params["expiresAt"]))
        created_at = parse_datetime(str(params["createdAt"]))
    except (KeyError, TypeError, ValueError):
        raise _refuse("RENDER_INVALID", "push notice params are malformed") from None
    if expires_at is None or created_at is None:
        raise _refuse("RENDER_INVALID", "push notice params are malformed")
    now = timezone.now()
    if now >= expires_at:
        raise _obsolete(EXPIRED, "the notice expired before it could be sent")
    subscription = PushSubscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        raise _obsolete(SUBSCRIPTION_GONE, "the subscription was removed")
    data = {
        key: notice[key]
        for key in ("url", "orderId", "conversationId", "unreadCount")
        if key in notice
    }
    topic = ""
    if "conversationId" in notice:
        topic = f"c{int(notice['conversationId'])}"
    elif "orderId" in notice:
        topic = f"o{int(notice['orderId'])}"
    return {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        "title": str(notice.get("kind", "notice")),
        "data": data,
        "ttl": max(1, int((expires_at - now).total_seconds())),
        "topic": topic,
        "urgency": str(notice.get("urgency", "normal")),
    }


#: how a dead push job's code reads in ``METRIC_PUSH_FAILED{class}``
_FAILURE_CLASS = {
    SUBSCRIPTION_GONE: "gone",
    "PUSH_PAYLOAD_TOO_LARGE": "too_large",
    "PUSH_REFUSED": "refused",
    "PUSH_SUBSCRIPTION_INVALID": "refused",
    "PROVIDER_AUTH_FAILED": "auth",
    "PROVIDER_NOT_CONFIGURED": "auth",
    DISABLED: "disabled",
    EXPIRED: "expired",
}


def _subscription_id(outcome: JobOutcome) -> int | None:
    params = outcome.payload.get("params")
    if not isinstance(params, Mapping):
        return None
    try:
        return int(params["subscriptionId"])
    except (KeyError, TypeError, ValueError):
        return None


def on_push_job_ended(outcome: JobOutcome) -> None:
    """Result listener of ``push``/``push.send`` (inside the settling transaction, as the
    system): count it; stamp the subscription; a push service's 404/410 deletes it."""
    subscription_id = _subscription_id(outcome)
    if outcome.status == "succeeded":
        emit("METRIC_PUSH_SENT", labels={"country": outcome.country_code}, jobId=outcome.job_id)
        if subscription_id is not None:
            PushSubscription.objects.filter(pk=subscription_id).update(
                last_success_at=timezone.now(), last_failure_code=""
            )
        return
    if outcome.status not in ("dead", "discarded"):
        return
    fallback = "refused" if outcome.permanent else "unavailable"
    failure = _FAILURE_CLASS.get(outcome.error_code, fallback)
    emit(
        "METRIC_PUSH_FAILED",
        labels={"class": failure, "code": outcome.error_code or "UNKNOWN"},
        jobId=outcome.job_id,
    )
    if subscription_id is None:
        return
    if outcome.error_code != SUBSCRIPTION_GONE:
        PushSubscription.objects.filter(pk=subscription_id).update(
            last_failure_at=timezone.now(), last_failure_code=outcome.error_code[:64]
        )
        return
    subscription = (
        PushSubscription.objects.select_for_update(of=("self",)).filter(pk=subscription_id).first()
    )
    if subscription is None:
        return
    audit.record(
        PushAction.SUBSCRIPTION_REMOVED,
        subscription,
        data={
            "subscriptionId": subscription.pk,
            "owner": subscription.principal_key,
            "pushService": subscription.endpoint_origin,
            "jobId": outcome.job_id,
            "errorCode": outcome.error_code,
        },
    )
    subscription.delete()
    emit("METRIC_PUSH_SUBSCRIPTION_REMOVED", labels={"reason": "gone"}, jobId=outcome.job_id)
    logger.info("PUSH_SUBSCRIPTION_REMOVED", subscriptionId=subscription_id, jobId=outcome.job_id)


def register() -> None:
    """Plug push into the integrations hub (``RealtimeConfig.ready()``)."""
    from integrations.contracts import register_renderer, register_result_listener

    register_renderer(RENDERER, render_notice)
    register_result_listener(KIND, OPERATION, on_push_job_ended)
