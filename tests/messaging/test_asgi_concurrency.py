"""The chat through the real ASGI server under concurrent clients (issue 14, acceptance):
``python -m aventide.server`` on this test database; buyer, seller and the anonymous
recipient send, ack and reconcile at once over HTTP while a client retries one
clientMessageId. No answer is a 5xx, seq stays gapless, every effect happens once.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from audit.models import Event as AuditEvent
from aventide.accounts import services as accounts
from aventide.accounts.tokens import sign_anonymous_id
from messaging.models import Conversation, Message, Participant
from realtime.models import Event as RealtimeEvent
from tests.messaging.conftest import ChatWorld
from tests.ops.live_server import live_server
from tests.ops.test_pool_live import dsn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PER_PARTY = 4  # clients per party
ROUNDS = 6  # send + ack + reconcile per client
RETRIES = 12  # clients retrying one clientMessageId
WORDS = (
    *("alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"),
    *("juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"),
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_acks_and_reconciles_through_the_asgi_server_never_answer_5xx(
    tmp_path: Path, countries: list[str]
) -> None:
    chat = ChatWorld("AR")
    order = chat.new_order()
    conversation = chat.active(order)  # seq 1
    anon = chat.recipient(order)
    headers = {
        "buyer": {
            "Authorization": "Bearer "
            + accounts.session_start(user=chat.buyer, method="password").access
        },
        "seller": {
            "Authorization": "Bearer "
            + accounts.session_start(user=chat.seller, method="password").access
        },
        "recipient": {
            "X-Anonymous-Id": str(anon.anon_id),
            "X-Anonymous-Signature": sign_anonymous_id(anon.id),
        },
    }
    parties = list(headers)
    base = f"/api/conversations/{conversation.pk}"
    env = {
        "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
        "WEB_CONCURRENCY": "1",
        "ASGI_THREADS": "8",
        "DB_POOL_MAX_SIZE": "8",
        "DB_POOL_TIMEOUT_SECONDS": "30",
        "THROTTLE_USER": "100000/min",
        "THROTTLE_ANON": "100000/min",
        # more sends per sender than the default allowance (20/min per conversation)
        "MESSAGING_RATE_PER_CONVERSATION": "100000",
        "MESSAGING_RATE_PER_SENDER": "100000",
        "PGAPPNAME": f"aventide-chat-race-{os.getpid()}",
    }
    with live_server(tmp_path, env) as server:

        def client(index: int) -> list[tuple[str, int, Any]]:
            party = parties[index % len(parties)]
            out: list[tuple[str, int, Any]] = []
            with httpx.Client(
                base_url=server.url, timeout=120, headers=headers[party], trust_env=False
            ) as http:
                for n in range(ROUNDS):
                    sent = http.post(
                        f"{base}/messages",
                        json={
                            "clientMessageId": f"c{index}-{n}",
                            "body": f"consulta {WORDS[index]} {WORDS[n]} sobre la entrega",
                        },
                    )
                    seq = sent.json().get("seq") if sent.status_code < 300 else None
                    out.append(("send", sent.status_code, seq))
                    kind = "read" if n % 2 else "delivered"
                    acked = http.post(f"{base}/ack", json={"kind": kind, "upToSeq": seq or 0})
                    out.append(("ack", acked.status_code, acked.json()))
                    state = http.post(f"{base}/reconcile", json={"lastSeqSeen": seq or 0})
                    out.append(("reconcile", state.status_code, state.json()))
            return out

        def retry(_: int) -> tuple[int, Any]:
            with httpx.Client(
                base_url=server.url, timeout=120, headers=headers["buyer"], trust_env=False
            ) as http:
                response = http.post(
                    f"{base}/messages",
                    json={"clientMessageId": "asgi-double-tap", "body": "¿Llega antes de las 18?"},
                )
                return response.status_code, response.json().get("id")

        clients = PER_PARTY * len(parties)
        with ThreadPoolExecutor(max_workers=clients + RETRIES) as pool:
            client_results = pool.map(client, range(clients))
            retry_results = list(pool.map(retry, range(RETRIES)))
            calls = [call for batch in client_results for call in batch]
        log = server.log()

    statuses = Counter((what, status) for what, status, _ in calls)
    assert statuses == {
        ("send", 201): clients * ROUNDS,
        ("ack", 200): clients * ROUNDS,
        ("reconcile", 200): clients * ROUNDS,
    }, (statuses, log[-3000:])
    assert Counter(status for status, _ in retry_results) == {201: 1, 200: RETRIES - 1}
    assert len({message_id for _, message_id in retry_results}) == 1

    total = 1 + clients * ROUNDS + 1  # activation + the clients' sends + the retried one
    seqs = list(
        Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq")
    )
    assert [s for (s,) in seqs] == list(range(1, total + 1))  # gapless, no duplicate
    assert Conversation.objects.get(pk=conversation.pk).last_seq == total
    sent_rows = AuditEvent.objects.filter(action="message.sent", target_id=str(conversation.pk))
    assert sent_rows.count() == total - 1
    created = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.created")
    assert created.count() == total

    # every answer was consistent with what the server stored
    for what, _, body in calls:
        if what == "ack":
            assert body["readUpToSeq"] <= body["deliveredUpToSeq"] <= body["lastSeq"] <= total
        if what == "reconcile":
            assert body["behind"] == (body["lastSeqSeen"] < body["lastSeq"])
    rows = {
        p.role: (p.delivered_up_to_seq, p.read_up_to_seq)
        for p in Participant.objects.filter(conversation=conversation)
    }
    for party in parties:
        acks = [body for what, _, body in calls if what == "ack" and body["role"] == party]
        assert rows[party] == (
            max(a["deliveredUpToSeq"] for a in acks),
            max(a["readUpToSeq"] for a in acks),
        )
    assert "Traceback" not in log, log[-3000:]
