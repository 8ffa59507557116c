"""Web Push on the field's libraries: ``pywebpush`` (RFC 8030 delivery, RFC 8291 aes128gcm
encryption through ``http_ece``) and ``py_vapid`` (RFC 8292 VAPID).

Settings: ``VAPID_PRIVATE_KEY`` (base64url of the raw 32-byte P-256 secret, or a PEM/DER
private key), ``VAPID_SUBJECT`` (``mailto:`` or ``https:``; the legacy ``VAPID_EMAIL`` is
turned into one by the settings). Each request is signed with a fresh VAPID JWT (``aud`` =
the push service's origin, ``exp`` = now + ``VAPID_JWT_SECONDS`` (12 h, never over 24 h),
``sub`` = the subject) and carries ``TTL``, ``Urgency`` and, when given, ``Topic`` (a newer
message with the same topic replaces a pending one at the push service).

The endpoint and the keys are capabilities: they never appear in an error detail, a log line
or the provider reference (``wp_`` + a digest of our idempotency key). The push service's
``Location`` (the message URL) is not kept.

Classification (RFC 8030 section 5 and the push services' documented answers):

- 2xx -> delivered to the push service;
- 404, 410 -> ``PUSH_SUBSCRIPTION_GONE`` (``JobObsolete``: the subscription is dead, the job
  is discarded -- not the DLQ -- and the owner of the subscriptions deletes it when the job
  ends with this code);
- 413 -> ``PUSH_PAYLOAD_TOO_LARGE`` (permanent); a payload over 4 KB is refused before sending;
- 401, 403 -> ``PROVIDER_AUTH_FAILED`` (permanent: VAPID keys or subject refused);
- 429 -> transient, ``retry_after`` from ``Retry-After`` (seconds or an HTTP date);
- 5xx, connection errors, timeouts -> transient (retried, counted by the circuit breaker);
- any other 4xx -> ``PUSH_REFUSED`` (permanent).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from integrations.providers.base import (
    JobObsolete,
    Kind,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.kinds import CallContext, KindAdapter, MessageResult, PushRequest

# urllib3 logs the request line (the endpoint's path is a capability) at DEBUG: keep warnings.
logging.getLogger("urllib3.connectionpool").setLevel(logging.WARNING)

#: RFC 8291: a push message body is at most 4096 octets; aes128gcm adds a 86-octet header,
#: a 16-octet tag and a 1-octet delimiter to the plaintext.
MAX_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1
#: VAPID JWT lifetime: RFC 8292 allows at most 24 h.
DEFAULT_JWT_SECONDS = 12 * 3600
MAX_JWT_SECONDS = 24 * 3600


def reference_for(idempotency_key: str) -> str:
    return "wp_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def load_vapid(private_key: str) -> Vapid02:
    """The VAPID signer of a private key: base64url raw (32 bytes), base64url DER, or PEM."""
    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        return Vapid02.from_pem(text.replace("\\n", "\n").encode())
    return Vapid02.from_string("".join(text.split()))


def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date (None when absent/garbled)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def classify_status(
    status: int, retry_after: str | None = None
) -> TransientProviderError | PermanentProviderError:  # JobObsolete is permanent
    """A push service's non-2xx answer as the worker's error (no endpoint in the detail)."""
    detail = f"push service answered {status}"
    if status in (404, 410):
        return JobObsolete(detail, status_code=status, code="PUSH_SUBSCRIPTION_GONE")
    if status == 413:
        return PermanentProviderError(detail, status_code=status, code="PUSH_PAYLOAD_TOO_LARGE")
    if status == 429:
        return TransientProviderError(
            detail,
            status_code=status,
            code="PROVIDER_RATE_LIMITED",
            retry_after=retry_after_seconds(retry_after),
        )
    if status >= 500:
        return TransientProviderError(detail, status_code=status)
    if status in (401, 403):
        return PermanentProviderError(detail, status_code=status, code="PROVIDER_AUTH_FAILED")
    return PermanentProviderError(detail, status_code=status, code="PUSH_REFUSED")


def message_bytes(request: PushRequest) -> bytes:
    """The plaintext the browser's service worker receives (JSON, encrypted before sending)."""
    body: dict[str, object] = {"title": request.title}
    if request.body:
        body["body"] = request.body
    if request.data:
        body["data"] = dict(request.data)
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class WebPush(KindAdapter):
    name = "webpush"
    kind = Kind.PUSH.value

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signers: dict[str, Vapid02] = {}
        self._session = requests.Session()

    def _signer(self) -> Vapid02:
        private_key = str(getattr(settings, "VAPID_PRIVATE_KEY", "") or "")
        if not private_key or not settings.VAPID_SUBJECT:
            raise PermanentProviderError(
                "VAPID_PRIVATE_KEY or VAPID_SUBJECT is not set", code="PROVIDER_NOT_CONFIGURED"
            )
        with self._lock:
            signer = self._signers.get(private_key)
            if signer is None:
                try:
                    signer = load_vapid(private_key)
                except Exception:  # noqa: BLE001 -- any parse failure: the key is unusable
                    raise PermanentProviderError(
                        "VAPID_PRIVATE_KEY is not a P-256 private key",
                        code="PROVIDER_NOT_CONFIGURED",
                    ) from None
                self._signers = {private_key: signer}  # a rotated key replaces the old one
        return signer

    def _check_endpoint(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        insecure_hosts = set(getattr(settings, "PUSH_INSECURE_ENDPOINT_HOSTS", []) or [])
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and (parts.hostname or "") in insecure_hosts
        )
        if not secure or not parts.hostname or parts.username or parts.password:
            raise PermanentProviderError(
                "the endpoint is not an https URL", code="PUSH_SUBSCRIPTION_INVALID"
            )

    def send(self, request: PushRequest, ctx: CallContext) -> MessageResult:
        self._check_endpoint(request.endpoint)
        plaintext = message_bytes(request)
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise PermanentProviderError(
                f"payload of {len(plaintext)} bytes is over the 4 KB limit",
                code="PUSH_PAYLOAD_TOO_LARGE",
            )
        signer = self._signer()
        lifetime = min(
            int(getattr(settings, "VAPID_JWT_SECONDS", DEFAULT_JWT_SECONDS)), MAX_JWT_SECONDS
        )
        claims = {
            "sub": settings.VAPID_SUBJECT,
            "aud": origin_of(request.endpoint),
            "exp": int(time.time()) + lifetime,
        }
        try:
            headers = dict(signer.sign(claims))
        except Exception:  # noqa: BLE001 -- py_vapid refuses a malformed subject/audience
            raise PermanentProviderError(
                "VAPID claims refused (check VAPID_SUBJECT)", code="PROVIDER_NOT_CONFIGURED"
            ) from None
        headers["Urgency"] = request.urgency or "normal"
        if request.topic:
            headers["Topic"] = request.topic
        keys = {"p256dh": request.keys.get("p256dh", ""), "auth": request.keys.get("auth", "")}
        subscription = {"endpoint": request.endpoint, "keys": keys}
        try:
            pusher = WebPusher(subscription, requests_session=self._session)
        except WebPushException:
            raise PermanentProviderError(
                "the subscription's keys are not valid", code="PUSH_SUBSCRIPTION_INVALID"
            ) from None
        try:
            response = pusher.send(
                plaintext,
                headers,
                ttl=max(int(request.ttl), 0),
                content_encoding="aes128gcm",
                timeout=ctx.timeout_seconds,
            )
        except requests.Timeout:
            raise ProviderTimeout("the push service did not answer in time") from None
        except requests.RequestException as exc:
            raise TransientProviderError(
                f"push service unreachable ({exc.__class__.__name__})", code="PROVIDER_UNREACHABLE"
            ) from None
        except WebPushException:
            raise PermanentProviderError(
                "the subscription's keys are not valid", code="PUSH_SUBSCRIPTION_INVALID"
            ) from None
        if not isinstance(response, requests.Response):  # only the curl mode returns a str
            raise TransientProviderError("no answer from the push service")
        if 200 <= response.status_code < 300:
            return MessageResult(reference_for(ctx.idempotency_key), "accepted")
        raise classify_status(response.status_code, response.headers.get("Retry-After"))
