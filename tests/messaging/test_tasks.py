"""The chat's beat task ``messaging.close_due``: registered, scheduled, thin, safe to run twice
(also concurrently, on PostgreSQL)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from audit.models import Event as AuditEvent
from aventide.celery import app
from aventide.orders.models import OrderStatus
from messaging import services, tasks
from messaging.models import Conversation
from tests.concurrency import race
from tests.messaging.conftest import ChatWorld


def test_close_due_is_registered_and_on_the_beat_schedule() -> None:
    assert "messaging.close_due" in app.tasks
    entry = settings.CELERY_BEAT_SCHEDULE["messaging-close-due"]
    assert entry["task"] == "messaging.close_due"
    assert 0 < float(entry["schedule"]) <= 86400


@pytest.mark.django_db
def test_close_due_closes_completed_orders_chats_and_is_safe_twice(chat: ChatWorld) -> None:
    order = chat.order_in(OrderStatus.COMPLETED)
    conversation = chat.active(order)
    open_one = chat.active(chat.order_in(OrderStatus.IN_TRANSIT))
    assert tasks.close_due.apply().get() == 0  # completed today: 30 days to go
    with override_settings(MESSAGING_CLOSE_AFTER_DAYS=0):
        assert tasks.close_due.apply().get() == 1
        assert tasks.close_due.apply().get() == 0
    assert Conversation.objects.get(pk=conversation.pk).state == "closed"
    assert Conversation.objects.get(pk=open_one.pk).state == "active"
    closed = AuditEvent.objects.filter(action="conversation.closed")
    assert [(e.target_id, e.actor_level) for e in closed] == [(str(conversation.pk), "L0")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_close_due_racing_runs_close_each_conversation_once(countries: list[str]) -> None:
    """Two beat runs at once (a slow run overlapping the next): both see the conversation due,
    both wait on its row lock, one closes it, the other finds it closed: one audit row."""
    chat = ChatWorld("AR")
    conversation = chat.active(chat.order_in(OrderStatus.COMPLETED))
    with override_settings(MESSAGING_CLOSE_AFTER_DAYS=0):
        results = race(
            [services.conversations_close_due, services.conversations_close_due],
            "SELECT 1 FROM messaging_conversation WHERE id = %s FOR UPDATE",
            [conversation.pk],
        )
    assert all(isinstance(r, services.CloseReport) for r in results), results
    assert Conversation.objects.get(pk=conversation.pk).state == "closed"
    closed = AuditEvent.objects.filter(action="conversation.closed", target_id=str(conversation.pk))
    assert closed.count() == 1
