"""Freeze, unfreeze and close: by staff, by the system, never by parties; the close beat
(issue 14, Deliver 9)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings

from audit.models import Event as AuditEvent
from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM, Principal
from aventide.orders.models import Order, OrderStatus
from messaging import selectors, services
from messaging.models import Conversation, Message
from realtime.models import Event as RealtimeEvent
from tests.accounts.factories import principal
from tests.messaging.conftest import ChatWorld, make_staff

pytestmark = pytest.mark.django_db


def _state(conversation: Conversation) -> str:
    return Conversation.objects.get(pk=conversation.pk).state


def _audit(action: str, conversation: Conversation) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=action, target_type="conversation", target_id=str(conversation.pk)
        ).order_by("id")
    )


def _mx_staff() -> Principal:
    return principal(make_staff("L3", ["MX"], "l3.mx.lifecycle@t.test"))


def _parties(chat: ChatWorld, order: Order) -> list[Principal]:
    return [chat.p(chat.buyer), chat.p(chat.seller), chat.recipient(order)]


# --- freeze ------------------------------------------------------------------------------------


def test_conversation_freeze_by_staff_in_scope(chat: ChatWorld, json_logs: Any) -> None:
    conversation = chat.active()
    frozen = services.conversation_freeze(
        actor=chat.staff_principal("L1"), conversation_id=conversation.pk
    )
    assert (frozen.state, frozen.freeze_reason) == ("frozen", "FROZEN_STAFF")
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.state, stored.freeze_reason) == ("frozen", "FROZEN_STAFF")
    assert stored.frozen_at is not None
    (row,) = _audit("conversation.frozen", conversation)
    assert (row.actor_id, row.actor_level) == (str(chat.staff["L1"].pk), "L1")
    assert row.data == {"from": "active", "reason": "FROZEN_STAFF"}
    assert [e["reason"] for e in json_logs.events("METRIC_CHAT_FREEZE")] == ["FROZEN_STAFF"]
    event = RealtimeEvent.objects.filter(type="conversation.state_changed").order_by("-id")[0]
    assert event.payload["state"] == "frozen" and event.payload["from"] == "active"


def test_conversation_freeze_by_the_system_for_a_dispute(chat: ChatWorld) -> None:
    conversation = chat.active()
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.state, stored.freeze_reason) == ("frozen", "FROZEN_DISPUTE")
    (row,) = _audit("conversation.frozen", conversation)
    assert (row.actor_type, row.actor_level) == ("system", "L0")


def test_conversation_freeze_a_dormant_chat_keeps_it_silent(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.conversation(order)
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    assert _state(conversation) == "frozen"
    with pytest.raises(DomainError) as exc:
        services.conversation_activate(
            actor=chat.p(chat.buyer), conversation_id=conversation.pk, reason_code="delay"
        )
    assert exc.value.code == "CONVERSATION_FROZEN"


def test_conversation_freeze_twice_writes_one_audit_row(chat: ChatWorld) -> None:
    conversation = chat.active()
    staff = chat.staff_principal("L2")
    services.conversation_freeze(actor=staff, conversation_id=conversation.pk)
    again = services.conversation_freeze(
        actor=staff, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    assert again.freeze_reason == "FROZEN_STAFF"  # the first reason stands
    assert len(_audit("conversation.frozen", conversation)) == 1


def test_conversation_freeze_refuses_an_unknown_reason(chat: ChatWorld) -> None:
    conversation = chat.active()
    with pytest.raises(DomainError) as exc:
        services.conversation_freeze(
            actor=chat.staff_principal("L1"), conversation_id=conversation.pk, reason="BORED"
        )
    assert exc.value.code == "VALIDATION_ERROR"
    assert _state(conversation) == "active"


def test_conversation_freeze_out_of_scope_is_scope_violation_with_its_audit_row(
    chat: ChatWorld,
) -> None:
    conversation = chat.active()
    mx = _mx_staff()
    with pytest.raises(DomainError) as exc:
        services.conversation_freeze(actor=mx, conversation_id=conversation.pk)
    assert (exc.value.code, exc.value.status) == ("SCOPE_VIOLATION", 403)
    assert _state(conversation) == "active"
    (violation,) = AuditEvent.objects.filter(action="scope.violation", actor_id=mx.id)
    assert violation.target_type == "conversation"
    assert violation.target_id == str(conversation.pk)
    assert not _audit("conversation.frozen", conversation)


def test_conversation_freeze_parties_get_not_found(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    for party in _parties(chat, order):
        with pytest.raises(DomainError) as exc:
            services.conversation_freeze(actor=party, conversation_id=conversation.pk)
        assert (exc.value.code, exc.value.status) == ("NOT_FOUND_OR_NO_ACCESS", 404)
    assert _state(conversation) == "active"


def test_conversation_freeze_a_closed_chat_is_conversation_closed(chat: ChatWorld) -> None:
    conversation = chat.active()
    services.conversation_close(actor=SYSTEM, conversation_id=conversation.pk)
    with pytest.raises(DomainError) as exc:
        services.conversation_freeze(
            actor=chat.staff_principal("L1"), conversation_id=conversation.pk
        )
    assert exc.value.code == "CONVERSATION_CLOSED"


def test_frozen_chat_refuses_parties_accepts_staff_and_stays_readable(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    chat.send(chat.p(chat.buyer), conversation, "¿Dónde está el pedido?")
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    for party in _parties(chat, order):
        with pytest.raises(DomainError) as exc:
            chat.send(party, conversation, "hola?")
        assert (exc.value.code, exc.value.status) == ("CONVERSATION_FROZEN", 409)
    staff = chat.send(chat.staff_principal("L1"), conversation, "Soporte revisa la disputa.")
    assert (staff.message.kind, staff.message.sender_role) == ("staff", "staff")
    for party in _parties(chat, order):  # parties still read, staff's post included
        visible = selectors.conversation_for(party, conversation.pk)
        page = selectors.messages_page(party, visible)
        assert [m.kind for m in page.messages] == ["system", "user", "staff"]
    assert Message.objects.filter(conversation=conversation).count() == 3


# --- unfreeze ----------------------------------------------------------------------------------


def test_conversation_unfreeze_by_staff_reopens_for_parties(chat: ChatWorld) -> None:
    conversation = chat.active()
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    staff = chat.staff_principal("L2")
    reopened = services.conversation_unfreeze(actor=staff, conversation_id=conversation.pk)
    assert (reopened.state, reopened.freeze_reason) == ("active", "")
    (row,) = _audit("conversation.unfrozen", conversation)
    assert row.actor_level == "L2"
    assert row.data == {"from": "frozen", "reason": "FROZEN_DISPUTE"}
    assert chat.send(chat.p(chat.seller), conversation, "Gracias, sigo.").created


def test_conversation_unfreeze_of_an_open_chat_changes_nothing(chat: ChatWorld) -> None:
    conversation = chat.active()
    result = services.conversation_unfreeze(
        actor=chat.staff_principal("L1"), conversation_id=conversation.pk
    )
    assert result.state == "active"
    assert not _audit("conversation.unfrozen", conversation)


def test_conversation_unfreeze_refusals(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_ABUSE"
    )
    for party in _parties(chat, order):
        with pytest.raises(DomainError) as exc:
            services.conversation_unfreeze(actor=party, conversation_id=conversation.pk)
        assert exc.value.code == "NOT_FOUND_OR_NO_ACCESS"
    mx = _mx_staff()
    with pytest.raises(DomainError) as scope:
        services.conversation_unfreeze(actor=mx, conversation_id=conversation.pk)
    assert scope.value.code == "SCOPE_VIOLATION"
    assert AuditEvent.objects.filter(action="scope.violation", actor_id=mx.id).count() == 1
    assert _state(conversation) == "frozen"
    services.conversation_close(actor=SYSTEM, conversation_id=conversation.pk)
    with pytest.raises(DomainError) as closed:
        services.conversation_unfreeze(
            actor=chat.staff_principal("L1"), conversation_id=conversation.pk
        )
    assert closed.value.code == "CONVERSATION_CLOSED"


# --- close -------------------------------------------------------------------------------------


def test_conversation_close_by_staff_is_audited_and_idempotent(chat: ChatWorld) -> None:
    conversation = chat.active()
    staff = chat.staff_principal("L3")
    closed = services.conversation_close(
        actor=staff, conversation_id=conversation.pk, reason="resolved by phone"
    )
    assert closed.state == "closed" and closed.closed_at is not None
    again = services.conversation_close(actor=staff, conversation_id=conversation.pk)
    assert again.closed_at == closed.closed_at
    (row,) = _audit("conversation.closed", conversation)
    assert (row.actor_level, row.data["from"], row.data["reason"]) == (
        "L3",
        "active",
        "resolved by phone",
    )


def test_conversation_close_refusals(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    for party in _parties(chat, order):
        with pytest.raises(DomainError) as exc:
            services.conversation_close(actor=party, conversation_id=conversation.pk)
        assert exc.value.code == "NOT_FOUND_OR_NO_ACCESS"
    mx = _mx_staff()
    with pytest.raises(DomainError) as scope:
        services.conversation_close(actor=mx, conversation_id=conversation.pk)
    assert scope.value.code == "SCOPE_VIOLATION"
    assert AuditEvent.objects.filter(action="scope.violation", actor_id=mx.id).exists()
    assert _state(conversation) == "active"


# --- conversations_close_due (the beat job) ----------------------------------------------------


def _completed(chat: ChatWorld, *, with_chat: bool = True) -> tuple[Order, Conversation]:
    """A completed order (paid, accepted, dispatched, delivered, completed by the services)."""
    order = chat.order_in(OrderStatus.COMPLETED)
    assert order.closed_at is not None
    conversation = chat.conversation(order)
    if with_chat:
        services.conversation_activate(
            actor=chat.p(chat.buyer), conversation_id=conversation.pk, reason_code="item_problem"
        )
    return order, conversation


def test_conversations_close_due_closes_30_days_after_completion(chat: ChatWorld) -> None:
    order, conversation = _completed(chat)
    assert order.closed_at is not None
    days = timedelta(days=settings.MESSAGING_CLOSE_AFTER_DAYS)
    early = services.conversations_close_due(now=order.closed_at + days - timedelta(seconds=1))
    assert early.closed == 0
    assert _state(conversation) == "active"
    report = services.conversations_close_due(now=order.closed_at + days)
    assert (report.closed, report.remaining) == (1, False)
    assert _state(conversation) == "closed"
    (row,) = _audit("conversation.closed", conversation)
    assert (row.actor_type, row.actor_level) == ("system", "L0")
    assert row.data == {"from": "active", "reason": "order completed"}


def test_conversations_close_due_is_safe_to_run_twice(chat: ChatWorld) -> None:
    order, conversation = _completed(chat)
    assert order.closed_at is not None
    later = order.closed_at + timedelta(days=31)
    assert services.conversations_close_due(now=later).closed == 1
    assert services.conversations_close_due(now=later).closed == 0
    assert len(_audit("conversation.closed", conversation)) == 1


def test_conversations_close_due_covers_dormant_frozen_and_cancelled(chat: ChatWorld) -> None:
    done, dormant = _completed(chat, with_chat=False)
    _, frozen = _completed(chat)
    services.conversation_freeze(actor=SYSTEM, conversation_id=frozen.pk, reason="FROZEN_DISPUTE")
    cancelled_order = chat.order_in(OrderStatus.CANCELLED)
    cancelled = chat.conversation(cancelled_order)
    assert done.closed_at is not None
    report = services.conversations_close_due(now=done.closed_at + timedelta(days=30, hours=1))
    assert report.closed == 3
    assert {_state(c) for c in (dormant, frozen, cancelled)} == {"closed"}


def test_conversations_close_due_leaves_open_orders_alone(chat: ChatWorld) -> None:
    in_transit = chat.active(chat.order_in(OrderStatus.IN_TRANSIT))
    delivered = chat.active(chat.order_in(OrderStatus.DELIVERED))
    far = in_transit.created_at + timedelta(days=400)
    assert services.conversations_close_due(now=far).closed == 0
    assert {_state(in_transit), _state(delivered)} == {"active"}


def test_conversations_close_due_works_in_batches(chat: ChatWorld) -> None:
    first, a = _completed(chat)
    _, b = _completed(chat)
    assert first.closed_at is not None
    later = first.closed_at + timedelta(days=60)
    batch = services.conversations_close_due(now=later, limit=1)
    assert (batch.closed, batch.remaining) == (1, True)
    assert services.conversations_close_due(now=later, limit=1) == services.CloseReport(
        closed=1, remaining=False
    )
    assert {_state(a), _state(b)} == {"closed"}
