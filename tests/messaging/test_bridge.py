"""The notification bridge (issue 14, Deliver 11): on a message or an activation, each other
party that is not online gets a notice through the outbox -- push if subscribed, else email,
anonymous recipients by their invitation's channel -- coalesced to one per party per
conversation per window, with the unread count and never the text; every decision recorded."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aventide.orders import services as orders
from aventide.orders.models import Order
from integrations import services as outbox
from integrations.hooks import render_payload
from integrations.models import Job
from integrations.providers import registry
from integrations.providers.base import Call, Outcome
from messaging import services
from messaging.models import Conversation, Message, NotificationDecision, Participant
from messaging.services import bridge
from realtime import presence
from realtime.push import services as push
from tests.accounts.factories import anonymous_principal, principal
from tests.concurrency import race
from tests.messaging.conftest import ChatWorld, make_user
from tests.realtime.push_helpers import Browser, enable_push

pytestmark = pytest.mark.django_db

PHONE_CANARY = "11 4187-2290"
BROWSER = Browser()
#: ten different messages (the same text repeated would be blocked as spam)
BURST = [
    "¿A qué hora llega?",
    "Estoy en casa hasta las seis.",
    "El timbre no anda, golpeen la puerta.",
    "¿Pueden dejarlo con el portero?",
    "Mi vecina también puede recibirlo.",
    "Es un regalo de cumpleaños.",
    "¿Viene con tarjeta?",
    "Gracias por avisar.",
    "¿Cuánto falta?",
    "Perfecto, los espero.",
]


@pytest.fixture(autouse=True)
def _push_off_by_default(settings: Any) -> None:
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    settings.MESSAGING_NOTIFY_COALESCE_SECONDS = 300
    # the burst tests send more than the default per-conversation rate in one window
    settings.MESSAGING_RATE_PER_CONVERSATION = 100
    settings.MESSAGING_RATE_PER_SENDER = 100


def decisions_for(conversation: Conversation, user_id: int | None = None) -> list[Any]:
    qs = NotificationDecision.objects.filter(conversation=conversation).order_by("pk")
    if user_id is not None:
        qs = qs.filter(participant__user_id=user_id)
    return list(qs.values_list("trigger", "seq", "outcome", "channel", "unread_count"))


def notice_jobs(conversation: Conversation) -> list[Job]:
    return list(
        Job.objects.filter(payload__render="messaging.chat_notice")
        .filter(payload__params__conversationId=conversation.pk)
        .order_by("pk")
    )


def seller_active(chat: ChatWorld, order: Order | None = None) -> Conversation:
    """A chat the seller opened (the seller gets no notice of its own activation)."""
    order = order or chat.new_order()
    conversation = chat.conversation(order)
    services.conversation_activate(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, reason_code="delay"
    )
    conversation.refresh_from_db()
    return conversation


def order_with_recipient(chat: ChatWorld, **recipient: str) -> Order:
    return orders.order_create(
        actor=principal(chat.buyer), listing_id=chat.listing.pk, recipient_name="Ana", **recipient
    ).order


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The bridge's clock, moved forward by ``clock.advance(seconds)``."""
    state = types.SimpleNamespace(offset=timedelta(0))

    def now() -> Any:
        return timezone.now() + state.offset

    def advance(seconds: float) -> None:
        state.offset += timedelta(seconds=seconds)

    monkeypatch.setattr(bridge, "timezone", types.SimpleNamespace(now=now))
    state.advance = advance
    return state


# --- coalescing: one notice per burst -----------------------------------------------------------


def test_on_activity_burst_of_ten_gives_an_offline_party_one_notice_and_nine_coalesced(
    chat: ChatWorld,
) -> None:
    conversation = seller_active(chat)
    for body in BURST:
        chat.send(chat.p(chat.buyer), conversation, body)
    seller = decisions_for(conversation, chat.seller.pk)
    assert [d[2] for d in seller] == ["sent"] + ["coalesced"] * 9
    assert seller[0][:4] == ("message", 2, "sent", "email")
    # the seller's one notice is one outbox job (email: no push subscription)
    jobs = [j for j in notice_jobs(conversation) if j.idempotency_key.endswith(f":{2}")]
    assert len(jobs) == 1
    decision = NotificationDecision.objects.get(participant__user_id=chat.seller.pk, outcome="sent")
    assert decision.job_key == jobs[0].idempotency_key
    assert jobs[0].kind == "email" and jobs[0].operation == "email.send"
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    assert party.last_notified_at is not None
    # the unread count grows with the burst (nothing was read)
    assert [d[4] for d in seller] == list(range(2, 12))


def test_on_activity_after_the_window_a_new_message_sends_a_new_notice(
    chat: ChatWorld, clock: Any
) -> None:
    conversation = seller_active(chat)
    chat.send(chat.p(chat.buyer), conversation, "hola")
    clock.advance(299)
    chat.send(chat.p(chat.buyer), conversation, "¿estás?")
    clock.advance(2)  # 301 s after the first notice
    chat.send(chat.p(chat.buyer), conversation, "¿hola?")
    seller = decisions_for(conversation, chat.seller.pk)
    assert [(d[1], d[2]) for d in seller] == [(2, "sent"), (3, "coalesced"), (4, "sent")]
    keys = [j.idempotency_key for j in notice_jobs(conversation)]
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    assert f"chat:{conversation.pk}:notice:{party.pk}:2" in keys
    assert f"chat:{conversation.pk}:notice:{party.pk}:4" in keys


def test_on_activity_a_low_window_setting_notifies_every_message(
    chat: ChatWorld, settings: Any
) -> None:
    settings.MESSAGING_NOTIFY_COALESCE_SECONDS = 0
    conversation = seller_active(chat)
    for body in BURST[:3]:
        chat.send(chat.p(chat.buyer), conversation, body)
    assert [d[2] for d in decisions_for(conversation, chat.seller.pk)] == ["sent"] * 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_activity_a_concurrent_burst_of_ten_still_gives_one_notice(chat: ChatWorld) -> None:
    """Ten sends racing on the conversation's row lock (two waves of five: the test process's
    pool holds 8 connections): the coalescing decision is taken under that lock, so exactly
    one of them notifies the offline seller."""
    conversation = seller_active(chat)
    buyer = chat.p(chat.buyer)
    results: list[Any] = []
    for wave in (BURST[:5], BURST[5:]):
        calls = [
            (lambda body=body: chat.send(buyer, conversation, body).message.seq) for body in wave
        ]
        results += race(
            calls,
            "SELECT id FROM messaging_conversation WHERE id = %s FOR UPDATE",
            [conversation.pk],
        )
    assert sorted(results) == list(range(2, 12)), repr(results)
    seller = decisions_for(conversation, chat.seller.pk)
    assert sorted(d[2] for d in seller) == ["coalesced"] * 9 + ["sent"]
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    assert len([j for j in notice_jobs(conversation) if f":{party.pk}:" in j.idempotency_key]) == 1


# --- presence -----------------------------------------------------------------------------------


@pytest.fixture
def online() -> Iterator[Any]:
    """Mark audience keys online in the real presence store (a live socket each)."""
    marked: list[str] = []

    def mark(key: str) -> None:
        async_to_sync(presence.touch)(key, f"socket-of-{key}")
        marked.append(key)

    yield mark
    for key in marked:
        async_to_sync(presence.leave)(key, f"socket-of-{key}")


@pytest.mark.redis
def test_message_send_skips_a_party_that_is_online(chat: ChatWorld, online: Any) -> None:
    conversation = seller_active(chat)
    online(f"user:{chat.seller.pk}")
    assert presence.connection_count(f"user:{chat.seller.pk}") == 1
    for body in BURST[:3]:
        chat.send(chat.p(chat.buyer), conversation, body)
    seller = decisions_for(conversation, chat.seller.pk)
    assert [d[2] for d in seller] == ["skipped_online"] * 3
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    assert party.last_notified_at is None
    assert not [j for j in notice_jobs(conversation) if f":{party.pk}:" in j.idempotency_key]


@pytest.mark.redis
def test_the_send_reads_presence_in_its_admission_round_trip(
    chat: ChatWorld, online: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Redis the limits script counts the other parties' live sockets too: no separate
    presence read -- and it still tells an online party (skipped) from an offline one."""
    conversation = seller_active(chat)
    online(f"user:{chat.seller.pk}")

    def no_separate_read(keys: Any) -> frozenset[str]:
        raise AssertionError("presence was read in a round trip of its own")

    monkeypatch.setattr("realtime.selectors.online_keys", no_separate_read)
    chat.send(chat.p(chat.buyer), conversation, BURST[0])
    assert [d[2] for d in decisions_for(conversation, chat.seller.pk)] == ["skipped_online"]
    async_to_sync(presence.leave)(f"user:{chat.seller.pk}", f"socket-of-user:{chat.seller.pk}")
    chat.send(chat.p(chat.buyer), conversation, BURST[1])
    assert [d[2] for d in decisions_for(conversation, chat.seller.pk)][-1] == "sent"


@pytest.mark.redis
def test_a_party_going_offline_is_notified_again(chat: ChatWorld, online: Any) -> None:
    conversation = seller_active(chat)
    key = f"user:{chat.seller.pk}"
    online(key)
    chat.send(chat.p(chat.buyer), conversation, BURST[4])
    async_to_sync(presence.leave)(key, f"socket-of-{key}")
    chat.send(chat.p(chat.buyer), conversation, BURST[5])
    assert [d[2] for d in decisions_for(conversation, chat.seller.pk)] == [
        "skipped_online",
        "sent",
    ]


# --- who is decided for -------------------------------------------------------------------------


def test_every_decision_is_recorded_for_each_other_party_and_never_the_sender_or_staff(
    chat: ChatWorld,
) -> None:
    conversation = seller_active(chat)
    # staff post (they become a participant), then the buyer and the recipient write
    chat.send(chat.staff_principal("L1"), conversation, "Hola, soy soporte.")
    chat.send(chat.p(chat.buyer), conversation, "gracias")
    order = Order.objects.get(pk=conversation.order_id)
    chat.send(chat.recipient(order), conversation, "¿me llaman antes?")
    rows = list(
        NotificationDecision.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("seq", "participant__role", "outcome")
    )
    # activation (seq 1, by the seller): buyer + recipient; staff post (2): all three
    # parties; buyer (3): seller + recipient; recipient (4): buyer + seller
    assert [(seq, role) for seq, role, _ in rows] == [
        (1, "buyer"),
        (1, "recipient"),
        (2, "buyer"),
        (2, "seller"),
        (2, "recipient"),
        (3, "seller"),
        (3, "recipient"),
        (4, "buyer"),
        (4, "seller"),
    ]
    assert "staff" not in {role for _, role, _ in rows}
    outcomes = {(seq, role): outcome for seq, role, outcome in rows}
    # the recipient of chat.new_order() was invited by no channel and has no push
    assert outcomes[(1, "recipient")] == "no_channel"
    assert outcomes[(1, "buyer")] == "sent"
    assert outcomes[(2, "buyer")] == "coalesced"
    assert outcomes[(2, "seller")] == "sent"


def test_system_activation_notifies_every_party_with_presence_unknown(chat: ChatWorld) -> None:
    order = order_with_recipient(chat, recipient_email="ana.gift@example.com")
    services.conversation_system_activate(order_id=order.pk, reason="delivery_overdue")
    conversation = chat.conversation(order)
    rows = list(
        NotificationDecision.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("participant__role", "trigger", "outcome", "channel", "unread_count", "detail")
    )
    assert [r[:5] for r in rows] == [
        ("buyer", "activation", "sent", "email", 1),
        ("seller", "activation", "sent", "email", 1),
        ("recipient", "activation", "sent", "email", 1),
    ]
    assert all("presence unknown" in r[5] for r in rows)


# --- channels -----------------------------------------------------------------------------------


def test_an_anonymous_recipient_is_reached_by_its_invitation_email(chat: ChatWorld) -> None:
    order = order_with_recipient(chat, recipient_email="ana.gift@example.com")
    conversation = seller_active(chat, order)
    decision = NotificationDecision.objects.get(
        conversation=conversation, participant__role="recipient"
    )
    assert (decision.outcome, decision.channel) == ("sent", "email")
    job = Job.objects.get(idempotency_key=decision.job_key)
    assert "ana.gift@example.com" not in json.dumps(job.payload)  # ids only at rest
    email = render_payload(job.payload)
    assert email["to"] == "ana.gift@example.com"
    assert email["subject"] == "Se abrió una conversación sobre tu regalo"  # AR: Spanish
    # its personal (signed) link, as in the invitation
    assert re.search(rf"/gift/{order.recipient_anon_id}#sig=[A-Za-z0-9_\-]+", email["body"])


def test_an_anonymous_recipient_invited_by_sms_gets_an_sms(chat: ChatWorld) -> None:
    order = order_with_recipient(chat, recipient_phone="011 15-2345-6789")
    conversation = seller_active(chat, order)
    chat.send(chat.p(chat.buyer), conversation, "¿a qué hora estás en casa?")
    decisions = list(
        NotificationDecision.objects.filter(
            conversation=conversation, participant__role="recipient"
        ).order_by("pk")
    )
    assert [(d.outcome, d.channel) for d in decisions] == [("sent", "sms"), ("coalesced", "")]
    job = Job.objects.get(idempotency_key=decisions[0].job_key)
    assert (job.kind, job.operation) == ("sms", "sms.send")
    sms = render_payload(job.payload)
    assert sms["to"] == "+5491123456789"
    assert "2 mensaje(s) sin leer" in sms["body"]  # rendered now: both messages unread
    assert f"/gift/{order.recipient_anon_id}#sig=" in sms["body"]


def test_a_registered_recipient_gets_email_with_the_chat_link(
    chat: ChatWorld, settings: Any
) -> None:
    settings.MESSAGING_APP_BASE_URL = "https://app.aventide.test"
    make_user("rita@t.test")
    order = order_with_recipient(chat, recipient_email="rita@t.test")
    assert order.recipient_user_id is not None
    conversation = seller_active(chat, order)
    decision = NotificationDecision.objects.get(
        conversation=conversation, participant__role="recipient"
    )
    email = render_payload(Job.objects.get(idempotency_key=decision.job_key).payload)
    assert email["to"] == "rita@t.test"
    assert f"https://app.aventide.test/orders/{order.pk}/chat" in email["body"]


def test_a_party_with_push_gets_a_push_notice_with_the_unread_count(
    chat: ChatWorld, settings: Any
) -> None:
    enable_push(settings)
    subscription = push.push_subscribe(
        actor=chat.p(chat.seller),
        endpoint="https://push.example.test/wpush/seller-1",
        p256dh=BROWSER.p256dh,
        auth=BROWSER.auth,
    )
    conversation = seller_active(chat)
    chat.send(chat.p(chat.buyer), conversation, "hola")
    decision = NotificationDecision.objects.get(participant__user_id=chat.seller.pk)
    assert (decision.outcome, decision.channel, decision.unread_count) == ("sent", "push", 2)
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    ref = f"chat:{conversation.pk}:{party.pk}:2"
    job = Job.objects.get(idempotency_key=f"push:{subscription.pk}:{ref}")
    notice = job.payload["params"]["notice"]
    assert notice == {
        "kind": "chat.message",
        "url": f"/orders/{conversation.order_id}/chat",
        "urgency": "normal",
        "orderId": conversation.order_id,
        "conversationId": conversation.pk,
        "unreadCount": 2,
    }
    assert decision.job_key == f"push:*:{ref}"
    # no email for a party reached by push
    assert not [j for j in notice_jobs(conversation) if f":{party.pk}:" in j.idempotency_key]


def test_an_anonymous_recipient_with_push_gets_a_push_to_its_gift_page(
    chat: ChatWorld, settings: Any
) -> None:
    enable_push(settings)
    order = order_with_recipient(chat, recipient_email="ana.gift@example.com")
    subscription = push.push_subscribe(
        actor=anonymous_principal(order.recipient_anon_id),
        endpoint="https://push.example.test/wpush/recipient-1",
        p256dh=BROWSER.p256dh,
        auth=BROWSER.auth,
    )
    conversation = seller_active(chat, order)
    decision = NotificationDecision.objects.get(
        conversation=conversation, participant__role="recipient"
    )
    assert (decision.outcome, decision.channel) == ("sent", "push")  # push before its email
    ref = f"chat:{conversation.pk}:{decision.participant_id}:1"
    job = Job.objects.get(idempotency_key=f"push:{subscription.pk}:{ref}")
    notice = job.payload["params"]["notice"]
    assert (notice["kind"], notice["url"]) == ("chat.activated", f"/gift/{order.recipient_anon_id}")
    assert "sig" not in json.dumps(job.payload)  # the client holds its identity
    # no email to the recipient: the only email notice is the buyer's
    buyer = Participant.objects.get(conversation=conversation, user_id=chat.buyer.pk)
    assert [j.idempotency_key for j in notice_jobs(conversation)] == [
        f"chat:{conversation.pk}:notice:{buyer.pk}:1"
    ]


def test_a_brazilian_order_notices_in_portuguese(countries: list[str]) -> None:
    world = ChatWorld("BR")
    conversation = seller_active(world)
    world.send(world.p(world.buyer), conversation, "Que horas chega?")
    decision = NotificationDecision.objects.get(
        participant__user_id=world.seller.pk, outcome="sent"
    )
    email = render_payload(Job.objects.get(idempotency_key=decision.job_key).payload)
    assert email["subject"] == "Você tem mensagens novas sobre seu pedido"
    assert "Você tem 2 mensagens não lidas" in email["body"]


# --- the canary: a redacted original never reaches a notice ---------------------------------------


def test_a_redacted_original_never_reaches_a_push_payload_or_an_email(
    chat: ChatWorld, settings: Any
) -> None:
    enable_push(settings)
    push.push_subscribe(
        actor=chat.p(chat.seller),
        endpoint="https://push.example.test/wpush/seller-canary",
        p256dh=BROWSER.p256dh,
        auth=BROWSER.auth,
    )
    order = order_with_recipient(chat, recipient_email="ana.gift@example.com")
    conversation = chat.conversation(order)
    services.conversation_activate(
        actor=chat.p(chat.buyer), conversation_id=conversation.pk, reason_code="delay"
    )
    # the activation's notices are coalesced into; start a fresh window for the canary
    settings.MESSAGING_NOTIFY_COALESCE_SECONDS = 0
    body = f"escribime al {PHONE_CANARY} y arreglamos"
    message = chat.send(chat.p(chat.buyer), conversation, body).message
    assert message.verdict == "redact" and "4187" in message.original_body
    sent = NotificationDecision.objects.filter(seq=message.seq, outcome="sent")
    assert {d.channel for d in sent} == {"push", "email"}
    jobs = list(Job.objects.filter(kind__in=["push", "email", "sms"]))
    assert jobs
    for job in jobs:
        stored = json.dumps(job.payload)
        rendered = json.dumps(render_payload(job.payload), ensure_ascii=False)
        for text in (PHONE_CANARY, "4187", "2290", "arreglamos", message.body):
            assert text not in stored
            assert text not in rendered
    details = json.dumps(list(NotificationDecision.objects.values_list("detail", flat=True)))
    assert "4187" not in details


# --- failures never break the send ----------------------------------------------------------------


def test_a_failing_enqueue_is_recorded_failed_and_the_message_is_sent(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seller_active(chat)

    def broken(**kwargs: Any) -> Any:
        # a database error inside the enqueue: only its savepoint rolls back
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    monkeypatch.setattr(outbox, "enqueue", broken)
    result = chat.send(chat.p(chat.buyer), conversation, "¿sale hoy?")
    assert result.created
    assert Message.objects.filter(pk=result.message.pk).exists()
    decision = NotificationDecision.objects.get(participant__user_id=chat.seller.pk)
    assert decision.outcome == "failed" and decision.detail.startswith("DataError")
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    assert party.last_notified_at is None  # not coalesced into a notice that never went
    monkeypatch.undo()
    chat.send(chat.p(chat.buyer), conversation, "¿sale hoy? (2)")
    assert [d[2] for d in decisions_for(conversation, chat.seller.pk)] == ["failed", "sent"]


# --- the unread count is the one of send time ---------------------------------------------------


def test_the_email_is_rendered_at_send_time_with_the_current_unread_count(
    chat: ChatWorld,
) -> None:
    conversation = seller_active(chat)
    for body in BURST[:3]:
        chat.send(chat.p(chat.buyer), conversation, body)
    decision = NotificationDecision.objects.get(participant__user_id=chat.seller.pk, outcome="sent")
    assert decision.unread_count == 2  # the activation message and the first one
    email = render_payload(Job.objects.get(idempotency_key=decision.job_key).payload)
    assert email["to"] == chat.seller.email
    assert email["subject"] == "Tienes mensajes nuevos sobre tu pedido"
    assert "Tienes 4 mensajes sin leer" in email["body"]  # the burst so far
    for body in BURST[:3]:
        assert body not in email["body"]


class _Mailbox:
    name = "mailbox"
    kind = "email"

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}

    def execute(self, call: Call) -> Outcome:
        self.sent.setdefault(call.idempotency_key, dict(call.payload))
        return Outcome(provider_reference=f"msg-{len(self.sent)}")


def test_the_outbox_worker_sends_the_notice_email(
    chat: ChatWorld, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    conversation = seller_active(chat)
    mailbox = _Mailbox()
    with registry.override("email", mailbox), django_capture_on_commit_callbacks(execute=True):
        chat.send(chat.p(chat.buyer), conversation, "¿llega hoy?")
    party = Participant.objects.get(conversation=conversation, user_id=chat.seller.pk)
    key = f"chat:{conversation.pk}:notice:{party.pk}:2"
    assert mailbox.sent[key]["to"] == chat.seller.email
    assert Job.objects.get(idempotency_key=key).status == "succeeded"


# --- query budget ---------------------------------------------------------------------------------


def _queries_of_send(chat: ChatWorld, conversation: Conversation, body: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        chat.send(chat.p(chat.buyer), conversation, body)
    return [q["sql"] for q in captured.captured_queries]


def test_message_send_query_budget_with_the_bridge(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any
) -> None:
    order = order_with_recipient(chat, recipient_email="ana.gift@example.com")
    conversation = seller_active(chat, order)  # buyer and recipient notified at activation
    # the seller writes first: buyer and recipient coalesced; the process caches the parties
    chat.send(chat.p(chat.seller), conversation, BURST[9])
    sending = _queries_of_send(chat, conversation, BURST[0])  # seller: sent; recipient: coalesced
    quiet = _queries_of_send(chat, conversation, BURST[1])  # both coalesced
    monkeypatch.setattr(bridge, "on_activity", lambda **kwargs: [])
    without = _queries_of_send(chat, conversation, BURST[2])
    monkeypatch.undo()
    # nothing to send: one insert of the decisions (the parties come with the message's own
    # insert statement)
    assert len(quiet) - len(without) == 1
    # one email: + the update of last_notified_at, the savepoint pair, the job, its intent row
    assert len(sending) - len(without) == 1 + 1 + 2 + 2
    with django_assert_max_num_queries(len(without) + 1):
        chat.send(chat.p(chat.buyer), conversation, BURST[3])


def test_an_unreachable_party_costs_one_read_and_no_write(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seller_active(chat)  # chat.new_order(): a recipient invited by no channel
    chat.send(chat.p(chat.buyer), conversation, BURST[4])
    bridge._invitation_channel.cache_clear()
    first = _queries_of_send(chat, conversation, BURST[1])  # seller coalesced, recipient no_channel
    quiet = _queries_of_send(chat, conversation, BURST[3])  # the same, invitation remembered
    monkeypatch.setattr(bridge, "on_activity", lambda **kwargs: [])
    without = _queries_of_send(chat, conversation, BURST[2])
    # decisions insert (the parties come with the message's insert); the recipient's
    # invitation channel is read once per process (an order's recipient contact never changes)
    assert len(first) - len(without) == 1 + 1
    assert len(quiet) - len(without) == 1
    savepoints = [sum("SAVEPOINT" in sql for sql in run) for run in (first, quiet, without)]
    assert savepoints[0] == savepoints[1] == savepoints[2]  # the bridge opened none


@pytest.mark.redis
def test_activation_by_a_party_reads_presence_first(chat: ChatWorld, online: Any) -> None:
    from messaging import services as messaging_services

    order = chat.new_order()
    conversation = chat.conversation(order)
    online(f"user:{chat.seller.pk}")
    messaging_services.conversation_activate(
        actor=chat.p(chat.buyer), conversation_id=conversation.pk, reason_code="delay"
    )
    seller = decisions_for(conversation, chat.seller.pk)
    assert [d[2] for d in seller] == ["skipped_online"]
