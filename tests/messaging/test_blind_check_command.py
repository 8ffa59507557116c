"""``manage.py messaging blind_check --order N``: support's proof, per order, that no party of
the chat was left blind by the notification bridge (issue 14, Deliver 11)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from aventide.orders import services as orders
from aventide.orders.models import Order
from messaging import services
from tests.accounts.factories import principal
from tests.messaging.conftest import ChatWorld

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _push_off(settings: Any) -> None:
    settings.ENABLE_PUSH_NOTIFICATIONS = False
    settings.MESSAGING_NOTIFY_COALESCE_SECONDS = 300


def blind_check(order_id: int) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("messaging", "blind_check", "--order", str(order_id), stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def reachable_order(chat: ChatWorld) -> Order:
    """An order whose anonymous recipient was invited by email (every party reachable)."""
    return orders.order_create(
        actor=principal(chat.buyer),
        listing_id=chat.listing.pk,
        recipient_name="Ana",
        recipient_email="ana.gift@example.com",
    ).order


def test_blind_check_prints_every_decision_per_party_and_an_ok_verdict(chat: ChatWorld) -> None:
    order = reachable_order(chat)
    conversation = chat.conversation(order)
    services.conversation_activate(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, reason_code="delay"
    )
    chat.send(chat.p(chat.buyer), conversation, "¿A qué hora llega?")
    chat.send(chat.p(chat.buyer), conversation, "Estoy en casa hasta las seis.")
    status, output = blind_check(order.pk)
    assert status == 0, output
    assert f"order {order.pk} conversation {conversation.pk} state=active last_seq=3" in output
    sections = output.split("\n\n")
    buyer = next(s for s in sections if s.startswith(f"buyer user:{chat.buyer.pk}"))
    seller = next(s for s in sections if s.startswith(f"seller user:{chat.seller.pk}"))
    recipient = next(s for s in sections if s.startswith("recipient anon:"))
    # buyer: told of the seller's activation (seq 1), wrote seq 2 and 3 itself
    assert "1 decision(s)" in buyer
    assert "activation seq=1     sent           channel=email" in buyer
    # seller: activated itself; one notice for seq 2, seq 3 coalesced into it
    assert "2 decision(s)" in seller
    assert "message    seq=2     sent           channel=email unread=2" in seller
    assert "message    seq=3     coalesced      channel=-     unread=3" in seller
    # recipient: its invitation's email at activation, the burst coalesced
    assert "3 decision(s)" in recipient
    assert "BLIND" not in output
    assert output.rstrip().endswith("VERDICT: OK -- nobody was left blind")
    # ids and keys only: no address, no text
    assert "ana.gift@example.com" not in output and "seis" not in output


def test_blind_check_names_the_party_left_blind_and_exits_non_zero(chat: ChatWorld) -> None:
    order = chat.new_order()  # its recipient was invited by no channel, and has no push
    conversation = chat.conversation(order)
    services.conversation_activate(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, reason_code="delay"
    )
    chat.send(chat.p(chat.buyer), conversation, "¿A qué hora llega?")
    status, output = blind_check(order.pk)
    assert status == 2
    assert "activation seq=1     no_channel" in output
    assert "BLIND after seq 1: no_channel" in output
    assert "BLIND after seq 2: no_channel" in output
    anon = f"anon:{order.recipient_anon_id}"
    assert output.rstrip().endswith(f"VERDICT: LEFT BLIND -- recipient {anon} after seq 1, 2")


def test_blind_check_a_later_notice_covers_a_failed_one(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from integrations import services as outbox

    order = reachable_order(chat)
    conversation = chat.conversation(order)
    services.conversation_activate(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, reason_code="delay"
    )

    def down(**kwargs: Any) -> Any:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbox, "enqueue", down)
    chat.send(chat.p(chat.buyer), conversation, "¿A qué hora llega?")  # seller: failed
    status, output = blind_check(order.pk)
    assert status == 2 and "BLIND after seq 2: failed" in output
    assert f"seller user:{chat.seller.pk} after seq 2" in output
    monkeypatch.undo()
    chat.send(chat.p(chat.buyer), conversation, "Estoy en casa hasta las seis.")  # seller: sent
    status, output = blind_check(order.pk)
    assert status == 0, output
    assert "message    seq=2     failed" in output and "(RuntimeError)" in output


def test_blind_check_an_unknown_order_is_a_clear_error(chat: ChatWorld) -> None:
    with pytest.raises(CommandError, match="order 999999: no such order"):
        call_command("messaging", "blind_check", "--order", "999999", stdout=io.StringIO())


def test_blind_check_requires_the_order(chat: ChatWorld) -> None:
    with pytest.raises(CommandError, match="--order"):
        call_command("messaging", "blind_check", stdout=io.StringIO())
