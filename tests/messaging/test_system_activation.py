"""The system opens a dormant chat on exceptions: a failed courier attempt, an overdue delivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import Event as AuditEvent
from aventide.core.principal import SYSTEM
from aventide.orders import services as orders
from messaging import services
from messaging.models import Message
from tests.messaging.conftest import ChatWorld

pytestmark = pytest.mark.django_db


def test_failed_courier_attempt_opens_the_chat(chat: ChatWorld) -> None:
    order = chat.order_in("in_transit")
    orders.order_delivery_attempt_failed(
        actor=SYSTEM,
        order_id=order.pk,
        provider_event_id="evt-attempt-1",
        shipment_reference="shp-1",
        reason="nobody_home",
        occurred_at=timezone.now(),
    )
    conversation = chat.conversation(order)
    assert conversation.state == "active"
    assert conversation.activation_reason == "delivery_attempt_failed"
    assert Message.objects.filter(conversation=conversation, kind="system").count() == 1
    row = AuditEvent.objects.get(action="conversation.activated")
    assert row.actor_type == "system" and row.data["reason"] == "delivery_attempt_failed"


def test_overdue_delivery_opens_the_chat_once(chat: ChatWorld, settings: Any) -> None:
    settings.MESSAGING_DELIVERY_OVERDUE_HOURS = 48
    first = chat.order_in("in_transit")
    second = chat.order_in("in_transit")
    # not overdue yet: nothing happens
    assert services.conversations_activate_overdue(now=timezone.now()).activated == 0
    assert chat.conversation(first).state == "dormant"
    later = timezone.now() + timedelta(hours=49)
    report = services.conversations_activate_overdue(now=later)
    assert report.activated == 2 and not report.remaining
    for order in (first, second):
        conversation = chat.conversation(order)
        assert conversation.state == "active"
        assert conversation.activation_reason == "delivery_overdue"
    assert services.conversations_activate_overdue(now=later).activated == 0  # run twice


def test_overdue_leaves_chats_of_orders_not_in_transit(chat: ChatWorld) -> None:
    delivered = chat.order_in("delivered")
    report = services.conversations_activate_overdue(now=timezone.now() + timedelta(days=30))
    assert report.activated == 0
    assert chat.conversation(delivered).state == "dormant"


def test_unfreezing_a_chat_nobody_opened_returns_it_to_dormant(chat: ChatWorld) -> None:
    conversation = chat.conversation(chat.new_order())
    services.conversation_freeze(
        actor=SYSTEM, conversation_id=conversation.pk, reason="FROZEN_DISPUTE"
    )
    back = services.conversation_unfreeze(
        actor=chat.staff_principal("L2"), conversation_id=conversation.pk
    )
    assert back.state == "dormant"
    assert not Message.objects.filter(conversation=conversation).exists()
    opened = chat.active()
    services.conversation_freeze(actor=SYSTEM, conversation_id=opened.pk, reason="FROZEN_DISPUTE")
    again = services.conversation_unfreeze(
        actor=chat.staff_principal("L2"), conversation_id=opened.pk
    )
    assert again.state == "active"


def test_overdue_beat_task_opens_overdue_chats(chat: ChatWorld, settings: Any) -> None:
    from messaging import tasks

    settings.MESSAGING_DELIVERY_OVERDUE_HOURS = 0
    order = chat.order_in("in_transit")
    assert tasks.activate_overdue() == 1
    assert chat.conversation(order).activation_reason == "delivery_overdue"
    assert tasks.activate_overdue() == 0
    assert "messaging-activate-overdue" in settings.CELERY_BEAT_SCHEDULE
