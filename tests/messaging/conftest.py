"""Chat fixtures: an order world whose conversations are reached through the services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aventide.core.principal import Principal
from aventide.orders.models import Order
from messaging import services
from messaging.models import Conversation
from tests.accounts.factories import principal
from tests.orders.conftest import OrderWorld, make_staff, make_user


class ChatWorld(OrderWorld):
    """An order world plus chat helpers (conversations activated through the services)."""

    def conversation(self, order: Order) -> Conversation:
        return Conversation.objects.get(order_id=order.pk)

    def active(self, order: Order | None = None, reason: str = "delivery_question") -> Conversation:
        order = order or self.new_order()
        conversation = self.conversation(order)
        services.conversation_activate(
            actor=self.p(self.buyer), conversation_id=conversation.pk, reason_code=reason
        )
        conversation.refresh_from_db()
        return conversation

    def send(
        self, actor: Principal, conversation: Conversation, body: str, cid: str | None = None
    ) -> Any:
        return services.message_send(
            actor=actor,
            conversation_id=conversation.pk,
            client_message_id=cid or f"c-{uuid.uuid4()}",
            body=body,
        )

    def staff_principal(self, level: str = "L1") -> Principal:
        return principal(self.staff[level])


@pytest.fixture
def chat(countries: list[str]) -> ChatWorld:
    return ChatWorld("AR")


__all__ = ["ChatWorld", "make_staff", "make_user"]
