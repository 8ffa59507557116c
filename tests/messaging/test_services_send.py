"""message_send and the conversation lifecycle, through the services (issue 14)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from audit.models import Event as AuditEvent
from aventide.core.errors import DomainError
from messaging import services
from messaging.models import Conversation, Message, Participant, Strike
from realtime.models import Event as RealtimeEvent
from tests.accounts.factories import principal
from tests.messaging.conftest import ChatWorld, make_staff

pytestmark = pytest.mark.django_db


def _code(exc: pytest.ExceptionInfo[DomainError]) -> str:
    return exc.value.code


def test_order_create_makes_a_dormant_conversation_with_its_parties(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.conversation(order)
    assert conversation.state == "dormant"
    assert conversation.last_seq == 0
    roles = sorted(
        Participant.objects.filter(conversation=conversation).values_list("role", flat=True)
    )
    assert roles == ["buyer", "recipient", "seller"]
    assert conversation.recipient_anon_id == order.recipient_anon_id


def test_message_send_refuses_a_dormant_conversation(chat: ChatWorld) -> None:
    conversation = chat.conversation(chat.new_order())
    with pytest.raises(DomainError) as exc:
        chat.send(chat.p(chat.buyer), conversation, "hola")
    assert _code(exc) == "CONVERSATION_NOT_ACTIVE"
    assert exc.value.status == 409
    assert not Message.objects.exists()


def test_conversation_activate_needs_a_listed_reason(chat: ChatWorld) -> None:
    conversation = chat.conversation(chat.new_order())
    with pytest.raises(DomainError) as exc:
        services.conversation_activate(
            actor=chat.p(chat.buyer), conversation_id=conversation.pk, reason_code="chitchat"
        )
    assert _code(exc) == "VALIDATION_ERROR"
    conversation.refresh_from_db()
    assert conversation.state == "dormant"


def test_conversation_activate_writes_system_message_audit_and_event(chat: ChatWorld) -> None:
    conversation = chat.conversation(chat.new_order())
    services.conversation_activate(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, reason_code="delay"
    )
    conversation.refresh_from_db()
    assert conversation.state == "active"
    assert conversation.activation_reason == "delay"
    system = Message.objects.get(conversation=conversation)
    assert (system.seq, system.kind) == (1, "system")
    row = AuditEvent.objects.get(action="conversation.activated")
    assert row.actor_level == "seller"
    assert row.data["reason"] == "delay"
    types = list(
        RealtimeEvent.objects.filter(stream=f"conversation:{conversation.pk}").values_list(
            "type", flat=True
        )
    )
    assert types == ["conversation.state_changed", "message.created"]


def test_message_send_stores_audits_and_publishes(chat: ChatWorld) -> None:
    conversation = chat.active()
    result = chat.send(chat.p(chat.buyer), conversation, "¿Llega mañana a la tarde?", cid="m-1")
    assert result.created
    message = result.message
    assert (message.seq, message.kind, message.sender_role) == (2, "user", "buyer")
    assert message.verdict == "allow"
    conversation.refresh_from_db()
    assert conversation.last_seq == 2
    audit_row = AuditEvent.objects.get(action="message.sent")
    assert audit_row.data["digest"] == message.request_digest
    assert "body" not in audit_row.data and "Llega" not in str(audit_row.data)
    event = RealtimeEvent.objects.filter(type="message.created").order_by("-id").first()
    assert event is not None and event.payload["seq"] == 2
    # the event's time is the message's, whole (its microseconds once went out as "[phone]")
    assert event.payload["createdAt"] == message.created_at.isoformat()


def test_message_send_retry_returns_the_original_without_new_rows(chat: ChatWorld) -> None:
    conversation = chat.active()
    first = chat.send(chat.p(chat.buyer), conversation, "hola", cid="same")
    counts = (Message.objects.count(), RealtimeEvent.objects.count(), AuditEvent.objects.count())
    again = chat.send(chat.p(chat.buyer), conversation, "hola", cid="same")
    assert not again.created
    assert again.message.pk == first.message.pk
    assert (
        Message.objects.count(),
        RealtimeEvent.objects.count(),
        AuditEvent.objects.count(),
    ) == counts


def test_message_send_same_id_other_body_is_idempotency_key_reused(chat: ChatWorld) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "hola", cid="same")
    with pytest.raises(DomainError) as exc:
        chat.send(chat.p(chat.buyer), conversation, "chau", cid="same")
    assert _code(exc) == "IDEMPOTENCY_KEY_REUSED"
    assert exc.value.status == 422


@pytest.mark.parametrize("body", ["", "   \n ", "x" * 2001])
def test_message_send_refuses_empty_and_long_bodies(chat: ChatWorld, body: str) -> None:
    conversation = chat.active()
    with pytest.raises(DomainError) as exc:
        chat.send(chat.p(chat.buyer), conversation, body)
    assert _code(exc) == "VALIDATION_ERROR"


def test_message_send_non_member_and_other_orders_recipient_get_not_found(chat: ChatWorld) -> None:
    from tests.orders.conftest import make_user

    conversation = chat.active()
    other_order = chat.new_order()
    outsider = principal(make_user("outsider@t.test"))
    for actor in (outsider, chat.recipient(other_order)):
        with pytest.raises(DomainError) as exc:
            chat.send(actor, conversation, "hola")
        assert _code(exc) == "NOT_FOUND_OR_NO_ACCESS"
        assert exc.value.status == 404
    assert Message.objects.filter(conversation=conversation, kind="user").count() == 0


def test_message_send_anonymous_recipient_of_this_order_can_post(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    result = chat.send(chat.recipient(order), conversation, "gracias, acá estoy")
    assert result.message.sender_role == "recipient"
    assert result.message.sender_anon_id == order.recipient_anon_id


def test_message_send_staff_out_of_scope_is_scope_violation(chat: ChatWorld) -> None:
    conversation = chat.active()
    mx_staff = principal(make_staff("L2", ["MX"], "staff.mx@t.test"))
    with pytest.raises(DomainError) as exc:
        chat.send(mx_staff, conversation, "hola")
    assert _code(exc) == "SCOPE_VIOLATION"
    assert AuditEvent.objects.filter(action="scope.violation").exists()


def test_message_send_redacts_contacts_and_keeps_original_for_staff(chat: ChatWorld) -> None:
    conversation = chat.active()
    result = chat.send(chat.p(chat.seller), conversation, "escribime al 11 4187-2290 y arreglamos")
    message = result.message
    assert message.verdict == "redact"
    assert "CONTACT_PHONE" in message.reasons
    assert "4187" not in message.body
    assert "4187" in message.original_body
    assert Strike.objects.filter(sender_key=f"user:{chat.seller.pk}").count() == 1
    event = RealtimeEvent.objects.filter(type="message.created").order_by("-id").first()
    assert event is not None and "4187" not in str(event.payload)


def test_message_send_block_commits_a_strike_and_delivers_nothing(chat: ChatWorld) -> None:
    conversation = chat.active()
    before = Message.objects.count()
    with pytest.raises(DomainError) as exc:
        chat.send(
            chat.p(chat.buyer),
            conversation,
            "te pago por fuera, pasame tu alias de mercado pago",
            cid="b-1",
        )
    assert _code(exc) == "MESSAGE_BLOCKED"
    assert exc.value.details and "PAYMENT_BYPASS" in exc.value.details["reasons"]
    assert Message.objects.count() == before
    assert Strike.objects.count() == 1
    assert AuditEvent.objects.filter(action="message.blocked").count() == 1
    with pytest.raises(DomainError):  # a retry of the refused send is no second strike
        chat.send(
            chat.p(chat.buyer),
            conversation,
            "te pago por fuera, pasame tu alias de mercado pago",
            cid="b-1",
        )
    assert Strike.objects.count() == 1


def test_three_strikes_freeze_the_chat_staff_can_still_post(
    chat: ChatWorld, json_logs: Any
) -> None:
    conversation = chat.active()
    for n in range(3):
        with pytest.raises(DomainError):
            chat.send(
                chat.p(chat.buyer),
                conversation,
                f"pagame por fuera {n}, sin comisión, transferencia directa",
            )
    conversation.refresh_from_db()
    assert conversation.state == "frozen"
    assert conversation.freeze_reason == "FROZEN_ABUSE"
    assert json_logs.events("METRIC_CHAT_FREEZE")
    with pytest.raises(DomainError) as exc:
        chat.send(chat.p(chat.seller), conversation, "hola?")
    assert _code(exc) == "CONVERSATION_FROZEN"
    staff = chat.staff_principal("L1")
    result = chat.send(staff, conversation, "Soporte: revisamos el caso.")
    assert result.message.kind == "staff"
    assert Participant.objects.filter(conversation=conversation, role="staff").count() == 1


def test_closed_conversation_refuses_everyone(chat: ChatWorld) -> None:
    conversation = chat.active()
    services.conversation_close(actor=chat.staff_principal("L2"), conversation_id=conversation.pk)
    for actor in (chat.p(chat.buyer), chat.staff_principal("L1")):
        with pytest.raises(DomainError) as exc:
            chat.send(actor, conversation, "hola")
        assert _code(exc) == "CONVERSATION_CLOSED"


def test_messages_are_worm_in_the_database(chat: ChatWorld) -> None:
    from django.db import DatabaseError, connection, transaction

    conversation = chat.active()
    message = chat.send(chat.p(chat.buyer), conversation, "hola").message
    for sql in (
        "UPDATE messaging_message SET body = 'x' WHERE id = %s",
        "DELETE FROM messaging_message WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [message.pk])
    assert Message.objects.get(pk=message.pk).body == "hola"
    assert Conversation.objects.get(pk=conversation.pk).last_seq == 2


def test_message_send_same_body_again_and_again_is_spam(chat: ChatWorld, settings: Any) -> None:
    settings.MESSAGING_SPAM_REPEAT_LIMIT = 3
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    chat.send(buyer, conversation, "¿Hola? ¿Alguien?")
    chat.send(buyer, conversation, "hola?? alguien??")  # cosmetic variant: same fingerprint
    with pytest.raises(DomainError) as exc:
        chat.send(buyer, conversation, "¿HOLA? ¿ALGUIEN?")
    assert _code(exc) == "MESSAGE_BLOCKED"
    assert exc.value.details and "SPAM" in exc.value.details["reasons"]
    assert Strike.objects.filter(sender_key=f"user:{chat.buyer.pk}").count() == 1


@pytest.mark.redis
def test_repeat_check_remembers_a_bounded_history_per_sender(
    chat: ChatWorld, settings: Any
) -> None:
    """The repeat check compares the sender's last MESSAGING_SPAM_REPEAT_HISTORY messages of
    the conversation: one short Redis list per (conversation, sender), not a key per body, so
    its memory follows the active conversations, not the message rate (the soak drill)."""
    import redis

    settings.MESSAGING_SPAM_REPEAT_LIMIT = 3
    settings.MESSAGING_SPAM_REPEAT_HISTORY = 4
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    chat.send(buyer, conversation, "¿Me confirmas la dirección?")
    for body in ("¿Tocan timbre?", "¿Viene envuelto?", "¿Llega hoy?", "¿Hay seguimiento?"):
        chat.send(buyer, conversation, body)
    # The first one fell out of the 4 remembered: this is its first repetition in memory.
    chat.send(buyer, conversation, "me confirmas la direccion??")
    chat.send(buyer, conversation, "¿Me confirmas la dirección?")
    with pytest.raises(DomainError) as exc:  # the third within the history: spam
        chat.send(buyer, conversation, "ME CONFIRMAS LA DIRECCION")
    assert _code(exc) == "MESSAGE_BLOCKED"
    assert exc.value.details and "SPAM" in exc.value.details["reasons"]

    client = redis.Redis.from_url(settings.REDIS_URL)
    from django.core.cache import cache

    pattern = cache.make_key(f"chat:rep:{conversation.pk}:") + "*"  # this process's keys
    keys = list(client.scan_iter(match=pattern))
    assert len(keys) == 1  # one list for this sender here, whatever the bodies
    assert client.llen(keys[0]) == 4
    ttl = int(client.ttl(keys[0]))  # type: ignore[arg-type]
    assert 0 < ttl <= settings.MESSAGING_SPAM_REPEAT_WINDOW_SECONDS


@pytest.mark.redis
def test_repeats_older_than_the_window_are_not_counted(chat: ChatWorld, settings: Any) -> None:
    settings.MESSAGING_SPAM_REPEAT_LIMIT = 2
    settings.MESSAGING_SPAM_REPEAT_WINDOW_SECONDS = 1
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    chat.send(buyer, conversation, "¿Sale hoy el paquete?")
    time.sleep(2.1)  # Redis's own clock decides the window (TIME in the script)
    assert chat.send(buyer, conversation, "sale hoy el paquete??").created
    with pytest.raises(DomainError) as exc:
        chat.send(buyer, conversation, "¿SALE HOY EL PAQUETE?")
    assert _code(exc) == "MESSAGE_BLOCKED"


@pytest.mark.redis
def test_message_send_rate_limit_counts_distinct_ids_only(chat: ChatWorld, settings: Any) -> None:
    settings.MESSAGING_RATE_PER_CONVERSATION = 3
    settings.MESSAGING_RATE_WINDOW_SECONDS = 10**6  # no window boundary mid-test (fixed windows)
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    bodies = ["¿Llega hoy?", "¿Tocan timbre?", "¿Viene envuelto?"]
    for n, body in enumerate(bodies):
        chat.send(buyer, conversation, body, cid=f"id-{n}")
    for _ in range(5):  # retries of a sent message never count and never get a 429
        assert not chat.send(buyer, conversation, bodies[0], cid="id-0").created
    with pytest.raises(DomainError) as exc:
        chat.send(buyer, conversation, "otra cosa distinta", cid="id-3")
    assert _code(exc) == "RATE_LIMITED"
    assert exc.value.status == 429
    assert int(exc.value.headers["Retry-After"]) >= 1
    # the seller has an allowance of its own
    assert chat.send(chat.p(chat.seller), conversation, "todo bien, sale hoy").created


def test_message_send_when_the_cache_forgot_the_id_answers_the_original(chat: ChatWorld) -> None:
    from tests.conftest import clear_cache

    conversation = chat.active()
    first = chat.send(chat.p(chat.buyer), conversation, "¿A qué hora pasan?", cid="forgot")
    clear_cache()  # Redis lost the claim: the database still knows the id
    again = chat.send(chat.p(chat.buyer), conversation, "¿A qué hora pasan?", cid="forgot")
    assert not again.created and again.message.pk == first.message.pk
    assert Message.objects.filter(client_message_id="forgot").count() == 1
    assert Conversation.objects.get(pk=conversation.pk).last_seq == first.message.seq


@pytest.mark.postgres
def test_message_send_fits_its_query_budget(
    chat: ChatWorld, django_assert_max_num_queries: Any
) -> None:
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    chat.send(buyer, conversation, "primero")  # the parties are cached per process after this
    # lock, message + last_seq (one statement), audit row, realtime event, + savepoint pair
    # of the test = 6 before the notification bridge; the bridge's statements on top
    with django_assert_max_num_queries(9):
        result = chat.send(buyer, conversation, "¿Sale hoy el pedido?")
    assert result.created


def test_message_event_carries_the_delivered_text(chat: ChatWorld) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "¿Llega antes de las 18? Pedido 4512, gracias")
    event = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.created").latest(
        "id"
    )
    assert event.payload["body"] == "¿Llega antes de las 18? Pedido 4512, gracias"


def test_message_send_never_trusts_a_stale_parties_cache(chat: ChatWorld) -> None:
    """A restored or flushed database can reuse a conversation id: the per-process cache of
    its parties must never refuse a member nor let a stranger in."""
    from messaging.services import send as send_module

    conversation = chat.active()
    stale = Conversation(
        pk=conversation.pk,
        order_id=conversation.order_id,
        country_code="AR",
        buyer_id=chat.seller.pk + 1000,  # somebody else's conversation under the same id
        seller_id=chat.seller.pk + 1001,
    )
    send_module._PARTIES[conversation.pk] = stale
    assert chat.send(chat.p(chat.buyer), conversation, "¿Sigue en camino?").created
    assert send_module._PARTIES[conversation.pk].buyer_id == chat.buyer.pk  # refreshed


@pytest.mark.redis
def test_message_send_retry_after_its_claim_expired_at_the_limit_answers_the_original(
    chat: ChatWorld, settings: Any
) -> None:
    """A retry of a stored message is never a 429, even once the cache forgot its claim (two
    windows later, or Redis restarted) while the sender is at its limit (drill 1)."""
    from django.core.cache import cache

    from messaging import limits

    settings.MESSAGING_RATE_PER_CONVERSATION = 2
    settings.MESSAGING_RATE_WINDOW_SECONDS = 10**6  # no window boundary mid-test (fixed windows)
    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    first = chat.send(buyer, conversation, "¿Llega hoy?", cid="old-1")
    cache.delete(
        limits.claim_name(
            sender_key=f"user:{chat.buyer.pk}",
            conversation_id=conversation.pk,
            client_message_id="old-1",
        )
    )
    chat.send(buyer, conversation, "¿Tocan timbre?", cid="new-1")  # the sender is at its limit
    with pytest.raises(DomainError) as exc:
        chat.send(buyer, conversation, "¿Viene envuelto?", cid="new-2")
    assert _code(exc) == "RATE_LIMITED"
    again = chat.send(buyer, conversation, "¿Llega hoy?", cid="old-1")
    assert not again.created and again.message.pk == first.message.pk
    # another body under the stored id is still refused as such, not as a 429
    with pytest.raises(DomainError) as reused:
        chat.send(buyer, conversation, "otra cosa", cid="old-1")
    assert _code(reused) == "IDEMPOTENCY_KEY_REUSED"
    # and a new message is still refused
    with pytest.raises(DomainError) as still:
        chat.send(buyer, conversation, "¿Viene envuelto?", cid="new-2")
    assert _code(still) == "RATE_LIMITED"
    assert Message.objects.filter(conversation=conversation, kind="user").count() == 2


@pytest.mark.postgres
def test_message_send_retry_of_a_committed_message_takes_no_lock(chat: ChatWorld) -> None:
    """A party's retry is answered from the committed row: no frame, no conversation lock
    (a retry storm never queues the conversation's new messages behind it -- drill 1)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conversation = chat.active()
    buyer = chat.p(chat.buyer)
    first = chat.send(buyer, conversation, "¿Sale hoy?", cid="once")
    audits = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        again = chat.send(buyer, conversation, "¿Sale hoy?", cid="once")
    assert not again.created and again.message.pk == first.message.pk
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 1 and "FOR UPDATE" not in sql[0], sql
    assert AuditEvent.objects.count() == audits
    with pytest.raises(DomainError) as exc:  # another body is still refused
        chat.send(buyer, conversation, "otra cosa", cid="once")
    assert _code(exc) == "IDEMPOTENCY_KEY_REUSED"


def test_message_send_staff_retry_still_goes_through_the_scope_check(chat: ChatWorld) -> None:
    conversation = chat.active()
    staff = chat.staff_principal("L1")
    first = chat.send(staff, conversation, "Soporte: lo revisamos.", cid="staff-1")
    again = chat.send(staff, conversation, "Soporte: lo revisamos.", cid="staff-1")
    assert not again.created and again.message.pk == first.message.pk
    outsider = make_staff("L1", ["MX"], "staff.l1.mx.retry@t.test")
    with pytest.raises(DomainError) as exc:
        chat.send(principal(outsider), conversation, "Soporte: lo revisamos.", cid="staff-1")
    assert _code(exc) == "SCOPE_VIOLATION"
