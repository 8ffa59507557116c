"""Web Push test helpers: VAPID settings, a browser's subscription keys, and a local HTTP
server acting as the push service (records each request, answers what the test scripts)."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integrations import breaker
from realtime.push import vapid

SUBJECT = "mailto:ops@aventide.test"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Browser:
    """A browser's push keys: the P-256 key pair behind ``p256dh`` and the auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        return {"endpoint": endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass
class Keys:
    public: str
    private: str
    subject: str = SUBJECT


def enable_push(settings: Any) -> Keys:
    """Switch push on with a fresh VAPID pair (for tests that enumerate every endpoint:
    with push off the push endpoints answer 503 PUSH_DISABLED by design)."""
    public, private = vapid.generate_pair()
    settings.ENABLE_PUSH_NOTIFICATIONS = True
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = SUBJECT
    return Keys(public, private)


@pytest.fixture
def vapid_keys(settings: Any) -> Keys:
    """Push switched on with a fresh VAPID pair; http endpoints allowed on 127.0.0.1 only."""
    public, private = vapid.generate_pair()
    settings.ENABLE_PUSH_NOTIFICATIONS = True
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = SUBJECT
    settings.PUSH_INSECURE_ENDPOINT_HOSTS = ["127.0.0.1"]
    return Keys(public, private)


@pytest.fixture
def push_off(settings: Any) -> None:
    settings.ENABLE_PUSH_NOTIFICATIONS = False


@pytest.fixture
def memory_breaker() -> Iterator[breaker.MemoryStorage]:
    store = breaker.MemoryStorage()
    breaker.use_storage(store)
    yield store
    breaker.use_storage(None)


@dataclass
class Answer:
    status: int = 201
    headers: dict[str, str] = field(default_factory=dict)


class PushServiceStub:
    """The push service: every request is recorded (path, headers, body); the answer is the
    next scripted one, else 201 Created."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Answer] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with stub.lock:
                    stub.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    answer = stub.script.pop(0) if stub.script else Answer()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, name: str = "sub-1") -> str:
        return f"{self.origin}/wpush/v2/{name}"


@pytest.fixture
def push_service() -> Iterator[PushServiceStub]:
    stub = PushServiceStub()
    stub.thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()
