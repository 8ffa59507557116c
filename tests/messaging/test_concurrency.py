"""Concurrency of the chat on PostgreSQL with real threads (issue 14, acceptance):

- 20 concurrent sends of one clientMessageId -> 1 row, 1 event, 1 ``message.sent`` audit row
  and 20 answers with the same message id;
- ``seq`` stays gapless under 10 concurrent senders in one conversation;
- an ack never waits for a send's conversation lock, and concurrent sends (whose bridge
  touches the participants) and acks never deadlock;
- concurrent acks of one participant land on the maximum, and the receipt events they publish
  only ever go up.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from audit.models import Event as AuditEvent
from aventide.core.errors import DomainError
from aventide.core.principal import Principal
from messaging import services
from messaging.models import Conversation, Message, NotificationDecision, Participant
from realtime.models import Event as RealtimeEvent
from tests.concurrency import WAIT, _row_locked
from tests.messaging.conftest import ChatWorld

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

#: distinct texts (moderation blocks the same normalised text repeated as spam)
WORDS = (
    *("alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"),
    *("juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"),
    *("sierra", "tango", "uniform", "victor", "whiskey", "xray"),
)


def text(thread: int, n: int) -> str:
    return f"consulta {WORDS[thread]} {WORDS[n]} sobre la entrega"


@pytest.fixture
def roomy(settings: Any) -> None:
    """These tests send more than the default allowance: lift it here (not the defaults)."""
    settings.MESSAGING_RATE_PER_CONVERSATION = 100_000
    settings.MESSAGING_RATE_PER_SENDER = 100_000


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at once (a barrier), each in its own thread and connection; each
    result, or the DomainError code, or the repr of any other error."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=WAIT)
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc.code
        except Exception as exc:  # noqa: BLE001 -- any other error fails the asserts
            results[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results


def test_20_concurrent_sends_of_one_client_message_id_make_one_message(
    countries: list[str],
) -> None:
    chat = ChatWorld("AR")
    conversation = chat.active()
    buyer = chat.p(chat.buyer)

    def send() -> tuple[int, bool]:
        result = services.message_send(
            actor=buyer,
            conversation_id=conversation.pk,
            client_message_id="double-tap-1",
            body="¿Llega antes de las 18?",
        )
        return result.message.pk, result.created

    results = in_threads([send] * 20)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({message_id for message_id, _ in results}) == 1
    assert Counter(created for _, created in results) == {True: 1, False: 19}
    message = Message.objects.get(conversation=conversation, client_message_id="double-tap-1")
    assert message.pk == results[0][0] and message.seq == 2
    assert Message.objects.filter(conversation=conversation).count() == 2  # + activation's
    created = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.created")
    assert [e.payload["messageId"] for e in created if e.payload["seq"] == 2] == [message.pk]
    assert created.count() == 2
    sent = AuditEvent.objects.filter(action="message.sent", target_id=str(conversation.pk))
    assert sent.count() == 1 and sent.get().data["messageId"] == message.pk


def test_seq_stays_gapless_under_10_concurrent_senders(countries: list[str], roomy: None) -> None:
    chat = ChatWorld("AR")
    order = chat.new_order()
    conversation = chat.active(order)  # seq 1
    senders: list[Principal] = [
        chat.p(chat.buyer),
        chat.p(chat.seller),
        chat.recipient(order),
        chat.staff_principal("L1"),
        chat.staff_principal("L2"),
    ] * 2
    per_thread = 20

    def sender(i: int) -> Callable[[], list[int]]:
        def run() -> list[int]:
            return [
                services.message_send(
                    actor=senders[i],
                    conversation_id=conversation.pk,
                    client_message_id=f"t{i}-m{n}",
                    body=text(i, n),
                ).message.seq
                for n in range(per_thread)
            ]

        return run

    results = in_threads([sender(i) for i in range(10)])
    assert all(isinstance(r, list) for r in results), results
    total = 1 + 10 * per_thread
    seqs = sorted(s for batch in results for s in batch)
    assert seqs == list(range(2, total + 1))  # no gap, no duplicate
    for batch in results:
        assert batch == sorted(batch)  # each sender's messages in the order it sent them
    stored = list(
        Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq")
    )
    assert [s for (s,) in stored] == list(range(1, total + 1))
    assert Conversation.objects.get(pk=conversation.pk).last_seq == total
    events = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.created")
    assert sorted(e.payload["seq"] for e in events) == list(range(1, total + 1))


def _with_lock_timeout(call: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``call`` on a connection that gives up after 5 s on a row lock (LockNotAvailable
    instead of waiting): a call that waits on the held lock fails the test."""

    def run() -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        return call()

    return run


def test_an_ack_does_not_wait_for_a_send_holding_the_conversation(
    countries: list[str],
) -> None:
    chat = ChatWorld("AR")
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "¿Llega hoy?")
    seller = chat.p(chat.seller)
    sql = "SELECT id FROM messaging_conversation WHERE id = %s FOR UPDATE"
    with _row_locked(sql, [conversation.pk]):  # what a send in progress holds
        results = in_threads(
            [
                _with_lock_timeout(
                    lambda: services.message_ack(
                        actor=seller, conversation_id=conversation.pk, kind="read", up_to_seq=2
                    ).read_up_to_seq
                )
            ]
        )
    assert results == [2]


def test_concurrent_sends_and_acks_never_deadlock(countries: list[str], settings: Any) -> None:
    """Sends whose bridge notifies every offline party (no coalescing: each send writes
    decisions referencing the participants and updates their ``last_notified_at`` after its
    event) race acks that move the same participants' watermarks. An ack that locked its row
    before taking the event log's publish lock deadlocked with them (found through the ASGI
    server); every call must succeed."""
    settings.MESSAGING_RATE_PER_CONVERSATION = 100_000
    settings.MESSAGING_RATE_PER_SENDER = 100_000
    settings.MESSAGING_NOTIFY_COALESCE_SECONDS = 0
    chat = ChatWorld("AR")
    order = chat.new_order()
    conversation = chat.active(order)
    parties = {"buyer": chat.p(chat.buyer), "seller": chat.p(chat.seller)}
    parties["recipient"] = chat.recipient(order)
    rounds = 8

    def sender(i: int, who: str) -> Callable[[], int]:
        def run() -> int:
            for n in range(rounds):
                services.message_send(
                    actor=parties[who],
                    conversation_id=conversation.pk,
                    client_message_id=f"{who}-{i}-{n}",
                    body=text(i, n),
                )
            return rounds

        return run

    def acker(who: str, kind: str) -> Callable[[], int]:
        def run() -> int:
            moved = 0
            for _ in range(rounds * 3):
                last = Conversation.objects.get(pk=conversation.pk).last_seq
                moved += services.message_ack(
                    actor=parties[who], conversation_id=conversation.pk, kind=kind, up_to_seq=last
                ).moved
            return moved

        return run

    calls = [sender(i, who) for i, who in enumerate(parties)]
    calls += [acker(who, kind) for who in parties for kind in ("delivered", "read")]
    results = in_threads(calls)
    assert all(isinstance(r, int) for r in results), results
    total = 1 + rounds * len(parties)
    assert Conversation.objects.get(pk=conversation.pk).last_seq == total
    assert NotificationDecision.objects.filter(conversation=conversation).exists()
    for row in Participant.objects.filter(conversation=conversation):
        assert row.read_up_to_seq <= row.delivered_up_to_seq <= total


def test_concurrent_acks_of_one_participant_land_on_the_maximum(countries: list[str]) -> None:
    chat = ChatWorld("AR")
    conversation = chat.active()
    for n in range(5):
        chat.send(chat.p(chat.buyer), conversation, text(0, n))
    last = 6
    seller = chat.p(chat.seller)

    def ack(kind: str, seq: int) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            r = services.message_ack(
                actor=seller, conversation_id=conversation.pk, kind=kind, up_to_seq=seq
            )
            assert r.read_up_to_seq <= r.delivered_up_to_seq
            return r.delivered_up_to_seq, r.read_up_to_seq

        return run

    calls = [ack("read" if n % 2 else "delivered", n % (last + 1)) for n in range(20)]
    results = in_threads(calls)
    assert all(isinstance(r, tuple) for r in results), results
    row = Participant.objects.get(conversation=conversation, role="seller")
    reads = [n % (last + 1) for n in range(20) if n % 2]
    assert (row.delivered_up_to_seq, row.read_up_to_seq) == (last, max(reads))
    published = [
        (e.payload["deliveredUpToSeq"], e.payload["readUpToSeq"])
        for e in RealtimeEvent.objects.filter(
            stream=conversation.stream, type="message.receipt"
        ).order_by("id")
    ]
    assert published == sorted(set(published))  # each move strictly above the last
    assert published[-1] == (last, max(reads))


def _send_and_read_meanwhile(
    chat: ChatWorld, conversation: Conversation, body: str, seq: int
) -> None:
    """In another thread and connection, now: the buyer sends ``body`` (message ``seq``) and
    the seller acks it read -- what another client does between two statements of the call
    under test."""

    def meanwhile() -> None:
        try:
            chat.send(chat.p(chat.buyer), conversation, body)
            services.message_ack(
                actor=chat.p(chat.seller),
                conversation_id=conversation.pk,
                kind="read",
                up_to_seq=seq,
            )
        finally:
            connection.close()

    worker = threading.Thread(target=meanwhile, daemon=True)
    worker.start()
    worker.join(WAIT)
    assert not worker.is_alive(), "the other client is stuck"


def test_an_ack_overtaken_by_a_newer_ack_never_answers_a_watermark_beyond_last_seq(
    countries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the ASGI test met (an answer with deliveredUpToSeq 69 > lastSeq 68): the ack
    reads the conversation, then -- before it locks the watermarks -- another client of the
    same party acknowledges a message sent meanwhile. The answer must show the committed
    lastSeq, not the one read before the lock."""
    from messaging.services import receipts

    chat = ChatWorld("AR")
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, text(0, 0))  # seq 2
    seller = chat.p(chat.seller)
    real_lock = receipts._lock_watermarks
    overtaken: list[int] = []

    def overtake(participant: Participant) -> Participant:
        if not overtaken:
            overtaken.append(3)  # once: the other client's own ack locks as usual
            _send_and_read_meanwhile(chat, conversation, text(0, 1), seq=3)
        return real_lock(participant)

    monkeypatch.setattr(receipts, "_lock_watermarks", overtake)
    answer = services.message_ack(
        actor=seller, conversation_id=conversation.pk, kind="delivered", up_to_seq=2
    )
    assert overtaken == [3]
    assert (answer.delivered_up_to_seq, answer.read_up_to_seq) == (3, 3)
    assert answer.last_seq == 3


def test_a_reconcile_overtaken_by_an_ack_never_answers_a_watermark_beyond_last_seq(
    countries: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconcile reads the conversation, then the participants: a message sent and acked
    in between must not show up as a watermark beyond the answer's lastSeq (the service reads
    the conversation through ``messaging.selectors``)."""
    from messaging import selectors as messaging_selectors

    chat = ChatWorld("AR")
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, text(1, 0))  # seq 2
    real_read = messaging_selectors.conversation_for

    def read_then_overtaken(actor: Principal, conversation_id: int) -> Conversation:
        found = real_read(actor, conversation_id)
        _send_and_read_meanwhile(chat, conversation, text(1, 1), seq=3)
        return found

    monkeypatch.setattr(messaging_selectors, "conversation_for", read_then_overtaken)
    state = services.conversation_reconcile(
        actor=chat.p(chat.buyer), conversation_id=conversation.pk, last_seq_seen=2
    )
    (theirs,) = [m for m in state.others if m.role == "seller"]
    assert theirs.read_up_to_seq == 3
    assert state.last_seq == 3 and state.behind
