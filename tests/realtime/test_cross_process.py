"""Two real server processes (``python -m aventide.server``) on one PostgreSQL and one Redis,
a real WebSocket client (``websockets``): what happens on process A reaches sockets on B,
presence is one count for all processes, and a process killed without cleanup stops
counting once its entries expire."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from aventide.accounts import services as accounts
from aventide.core.principal import SYSTEM
from aventide.orders import services as orders
from realtime import presence
from tests.accounts.factories import ensure_countries, principal
from tests.orders.conftest import make_user
from tests.realtime.ws import user_ticket
from tests.security.live_server import ROOT, _stop, _wait_ready, free_port, server_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

ORIGIN = "http://127.0.0.1:8000"
WAIT_SECONDS = 20


@contextmanager
def two_servers(
    tmp_path: Path, **overrides: str
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Processes A and B sharing this test's cache and channel-layer prefixes (tickets issued
    here redeem there; presence written there is read here)."""
    env = server_env(
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        WS_ALLOWED_ORIGINS=ORIGIN,
        **overrides,
    )
    with ExitStack() as stack:
        started = []
        for index in range(2):
            port = free_port()
            log_path = tmp_path / f"server-{index}.log"
            log = stack.enter_context(log_path.open("wb"))
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aventide.server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            started.append((proc, f"http://127.0.0.1:{port}", log_path))
        deadline = time.monotonic() + 60
        for proc, base, log_path in started:
            _wait_ready(proc, base, log_path, deadline)
        yield [(proc, base) for proc, base, _ in started]


def socket_to(base: str, ticket: str) -> ClientConnection:
    """An authenticated socket to ``base`` (ticket in the subprotocol header)."""
    ws = connect(
        base.replace("http://", "ws://") + "/ws/realtime/",
        origin=Origin(ORIGIN),
        subprotocols=[Subprotocol("aventide.v1"), Subprotocol(f"ticket.{ticket}")],
        open_timeout=10,
        proxy=None,
        legacy=True,  # a plain connection object (closed by the test), not a context manager
    )
    assert ws.subprotocol == "aventide.v1"
    assert json.loads(ws.recv(timeout=10))["type"] == "authenticated"
    return ws


def next_frame(ws: ClientConnection, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if accept(frame):
            return frame
    raise AssertionError("no such frame")


def eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_an_order_transition_on_process_a_reaches_a_socket_on_process_b(tmp_path: Path) -> None:
    ensure_countries()
    seller = make_user("seller@x.test", "AR", is_seller=True)
    buyer = make_user("buyer@x.test", "AR")
    listing = orders.listing_create(actor=principal(seller), title="Flores", price_minor=9_000)
    order = orders.order_create(
        actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana"
    ).order
    orders.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference="psp-1")
    seller_token = accounts.session_start(user=seller, method="password").access
    with two_servers(tmp_path) as ((_, base_a), (_, base_b)):
        ws = socket_to(base_b, user_ticket(buyer))
        ws.send(json.dumps({"type": "subscribe", "stream": f"order:{order.pk}"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        response = httpx.post(
            f"{base_a}/api/orders/{order.pk}/accept",
            headers={"Authorization": f"Bearer {seller_token}"},
            timeout=30,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        frame = next_frame(ws, lambda f: f["type"] == "event")
        assert (frame["stream"], frame["event"], frame["data"]["status"]) == (
            f"order:{order.pk}",
            "order.status_changed",
            "accepted",
        )
        ws.close()


def test_presence_is_one_count_across_processes_and_a_killed_one_stops_counting(
    tmp_path: Path,
) -> None:
    ensure_countries()
    user = make_user("present@x.test", "AR")
    key = f"user:{user.pk}"
    servers = two_servers(
        tmp_path, REALTIME_PRESENCE_TTL_SECONDS="2", REALTIME_WS_HEARTBEAT_SECONDS="0.5"
    )
    with servers as ((proc_a, base_a), (_, base_b)):
        on_a = socket_to(base_a, user_ticket(user))
        assert eventually(lambda: presence.connection_count(key) == 1)
        on_b = socket_to(base_b, user_ticket(user))
        assert eventually(lambda: presence.connection_count(key) == 2)
        os.kill(proc_a.pid, signal.SIGKILL)  # no disconnect handler runs on A
        proc_a.wait(timeout=10)
        assert eventually(lambda: presence.connection_count(key) == 1)  # B still heartbeats
        assert presence.is_online(principal(user))
        on_b.close()
        assert eventually(lambda: presence.connection_count(key) == 0)
        del on_a
