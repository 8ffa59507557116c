"""Scoped reads of the order chat: who is a member and as what, conversations, message pages.

API, admin and the realtime stream authorizer share these, so "who sees what" has one
definition:

- parties (buyer, seller, the recipient's user or its one anonymous identity) see their
  order's conversation; everyone else gets ``NOT_FOUND_OR_NO_ACCESS`` -- the same answer as an
  id that does not exist;
- staff see conversations of the countries in their scope (ScopeGuard); out of scope is
  ``SCOPE_VIOLATION`` for a write (audited by the frame) and not found for a read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from aventide.accounts.contracts import ScopeGuard
from aventide.core import rowsql
from aventide.core.principal import Principal
from messaging.errors import ConversationNotFound
from messaging.models import (
    Conversation,
    Message,
    MessageKind,
    Participant,
    ParticipantRole,
    member_key,
)
from realtime.contracts import anon_key, staff_key, user_key

#: ``GET .../messages?limit=`` default and cap
PAGE_DEFAULT = 50
PAGE_MAX = 200

STAFF = "staff"
SYSTEM = "system"


def member_role(actor: Principal, conversation: Conversation) -> str | None:
    """The actor's role in the conversation (``buyer``/``seller``/``recipient``/``staff``/
    ``system``), or None when it is not a member. Pure: no query. Staff get ``staff`` whatever
    the country: whether the conversation is in their scope is ScopeGuard's call."""
    if actor.is_system:
        return SYSTEM
    if actor.is_anonymous_identity:
        same = (
            actor.order_id == conversation.order_id
            and conversation.recipient_anon_id is not None
            and actor.anon_id == conversation.recipient_anon_id
            and actor.role == "recipient"
        )
        return ParticipantRole.RECIPIENT if same else None
    user_id = actor.user_id
    if user_id is None:
        return None
    if user_id == conversation.buyer_id:
        return ParticipantRole.BUYER
    if user_id == conversation.seller_id:
        return ParticipantRole.SELLER
    if conversation.recipient_user_id is not None and user_id == conversation.recipient_user_id:
        return ParticipantRole.RECIPIENT
    if actor.is_staff:
        return STAFF
    return None


def party_keys(conversation: Conversation) -> dict[str, str]:
    """role -> realtime audience key of each party (``user:<id>`` / ``anon:<uuid>``)."""
    keys = {
        ParticipantRole.BUYER.value: user_key(conversation.buyer_id),
        ParticipantRole.SELLER.value: user_key(conversation.seller_id),
    }
    if conversation.recipient_user_id is not None:
        keys[ParticipantRole.RECIPIENT.value] = user_key(conversation.recipient_user_id)
    elif conversation.recipient_anon_id is not None:
        keys[ParticipantRole.RECIPIENT.value] = anon_key(conversation.recipient_anon_id)
    return keys


def actor_key(actor: Principal) -> str:
    """The audience/sender key of a principal (``user:<id>``, ``anon:<uuid>``, ``system``)."""
    return member_key(actor.user_id, actor.anon_id)


def audience(conversation: Conversation) -> list[str]:
    """Who receives the conversation's realtime events: its parties and the country's staff
    queue (staff working the case subscribe to ``conversation:<id>`` or their queue)."""
    return [*party_keys(conversation).values(), staff_key(conversation.country_code)]


def visible_conversations(actor: Principal) -> QuerySet[Conversation]:
    """Every conversation ``actor`` may read (one WHERE, no query yet)."""
    qs = Conversation.objects.all()
    if actor.is_system:
        return qs
    if actor.is_anonymous_identity:
        if actor.order_id is None or actor.anon_id is None or actor.role != "recipient":
            return qs.none()
        return qs.filter(order_id=actor.order_id, recipient_anon_id=actor.anon_id)
    user_id = actor.user_id
    if user_id is None:
        return qs.none()
    party = Q(buyer_id=user_id) | Q(seller_id=user_id) | Q(recipient_user_id=user_id)
    if actor.is_staff:
        return qs.filter(party | Q(country_code__in=sorted(ScopeGuard.countries(actor))))
    return qs.filter(party)


def conversation_for(actor: Principal, conversation_id: int) -> Conversation:
    """The conversation, if ``actor`` may read it; ``NOT_FOUND_OR_NO_ACCESS`` otherwise. 1 query.
    Parties and the system: the row by id (a statement built once, ``rowsql.read_row``) and
    ``member_role`` on it -- the same rule as ``visible_conversations``; staff: that queryset
    (their country scope)."""
    if actor.is_staff:
        conversation = visible_conversations(actor).filter(pk=conversation_id).first()
    else:
        conversation = rowsql.read_row(Conversation, pk=conversation_id)
    if conversation is None or member_role(actor, conversation) is None:
        raise ConversationNotFound()
    return conversation


def conversation_for_order(actor: Principal, order_id: int) -> Conversation:
    """The conversation of an order ``actor`` may read; ``NOT_FOUND_OR_NO_ACCESS`` otherwise."""
    conversation = visible_conversations(actor).filter(order_id=order_id).first()
    if conversation is None or member_role(actor, conversation) is None:
        raise ConversationNotFound()
    return conversation


def participant_of(actor: Principal, conversation: Conversation) -> Participant | None:
    """The actor's participant row (None for staff who never posted, and for the system)."""
    if actor.is_anonymous_identity:
        return conversation.participants.filter(anon_id=actor.anon_id).first()
    if actor.user_id is None:
        return None
    return conversation.participants.filter(user_id=actor.user_id).first()


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    next_after_seq: int | None
    has_more: bool
    last_seq: int


def clamp_page(limit: int | None) -> int:
    if limit is None:
        return PAGE_DEFAULT
    return max(1, min(PAGE_MAX, int(limit)))


def messages_page(
    actor: Principal, conversation: Conversation, *, after_seq: int = 0, limit: int | None = None
) -> MessagePage:
    """Messages with ``seq > after_seq`` in order, at most ``limit`` (cap 200). One index range
    scan on (conversation, seq): the cost follows the page, not the conversation's size."""
    size = clamp_page(limit)
    rows = list(
        Message.objects.filter(conversation_id=conversation.pk, seq__gt=max(0, after_seq))
        .order_by("seq")
        .defer(*(() if actor.is_staff else ("original_body",)))[: size + 1]
    )
    has_more = len(rows) > size
    rows = rows[:size]
    return MessagePage(
        messages=rows,
        next_after_seq=rows[-1].seq if has_more and rows else None,
        has_more=has_more,
        last_seq=conversation.last_seq,
    )


def render_message(actor: Principal, message: Message) -> dict[str, Any]:
    """A message as ``actor`` sees it: the delivered text for everyone; the original (when it
    differs) and moderation detail only for staff."""
    out: dict[str, Any] = {
        "id": message.pk,
        "conversationId": message.conversation_id,
        "seq": message.seq,
        "kind": message.kind,
        "senderRole": message.sender_role,
        "clientMessageId": message.client_message_id if message.kind != MessageKind.SYSTEM else "",
        "body": message.body,
        "createdAt": message.created_at.isoformat() if message.created_at else None,
        "moderation": {"verdict": message.verdict, "reasons": list(message.reasons or [])},
    }
    if actor.is_staff:
        out["originalBody"] = message.original_body or message.body
    return out


@dataclass(frozen=True)
class ConversationSummary:
    conversation: Conversation
    role: str
    delivered_up_to_seq: int
    read_up_to_seq: int

    @property
    def unread(self) -> int:
        return max(0, self.conversation.last_seq - self.read_up_to_seq)


def conversation_list_for(actor: Principal, *, limit: int = 100) -> list[ConversationSummary]:
    """The caller's conversations (where they are a participant), newest activity first, with
    their unread counts (``last_seq - readUpToSeq``: no counting of rows). 1 query."""
    if actor.is_anonymous_identity:
        member = Q(anon_id=actor.anon_id, conversation__order_id=actor.order_id)
    elif actor.user_id is not None:
        member = Q(user_id=actor.user_id)
    else:
        return []
    rows = (
        Participant.objects.filter(member)
        .select_related("conversation")
        .order_by("-conversation__updated_at", "-conversation_id")[: max(1, min(limit, 200))]
    )
    return [
        ConversationSummary(
            conversation=p.conversation,
            role=p.role,
            delivered_up_to_seq=p.delivered_up_to_seq,
            read_up_to_seq=p.read_up_to_seq,
        )
        for p in rows
        if member_role(actor, p.conversation) is not None
    ]


def render_conversation(
    actor: Principal, conversation: Conversation, participant: Participant | None = None
) -> dict[str, Any]:
    read = participant.read_up_to_seq if participant is not None else 0
    delivered = participant.delivered_up_to_seq if participant is not None else 0
    return {
        "id": conversation.pk,
        "orderId": conversation.order_id,
        "state": conversation.state,
        "role": member_role(actor, conversation),
        "lastSeq": conversation.last_seq,
        "lastMessageAt": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
        "activationReason": conversation.activation_reason,
        "freezeReason": conversation.freeze_reason,
        "deliveredUpToSeq": delivered,
        "readUpToSeq": read,
        "unread": max(0, conversation.last_seq - read),
    }
