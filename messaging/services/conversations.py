"""Conversation lifecycle: created with the order, activated by a reason or an exception,
frozen and unfrozen, closed. Every write is one use-case frame (docs/development/recipe.md).

- ``conversation_create_for_order`` runs inside the order's creation (an orders transition
  hook): the conversation and its party rows, no audit row of its own (``order.created`` is
  the event; the conversation is part of the order).
- ``conversation_activate``: a party opens a dormant chat with a reason from the closed list;
  ``conversation_system_activate``: the system does, on an exception (incident opened,
  delivery overdue, a failed courier attempt). Both write a system message and notify the
  other parties through the bridge.
- ``conversation_freeze`` / ``conversation_unfreeze`` / ``conversation_close`` for support,
  strikes and staff; ``conversations_close_due`` is the beat job (30 days after completion).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import UseCase, use_case
from aventide.core.errors import ValidationFailed
from aventide.core.metrics import emit
from aventide.core.principal import SYSTEM, Principal
from messaging import selectors
from messaging.audit_actions import ConversationAction
from messaging.errors import ConversationClosed, ConversationNotActive, ConversationNotFound
from messaging.models import (
    ActivationReason,
    Conversation,
    ConversationState,
    FreezeReason,
    Message,
    MessageKind,
    Participant,
    ParticipantRole,
    SystemActivationReason,
    new_system_message_id,
)
from messaging.services import bridge
from realtime import selectors as presence
from realtime import services as realtime

EVENT_STATE = "conversation.state_changed"
EVENT_MESSAGE = "message.created"

_PARTY_ROLES = frozenset({ParticipantRole.BUYER, ParticipantRole.SELLER, ParticipantRole.RECIPIENT})


def conversation_create_for_order(order: Any) -> Conversation:
    """The order's conversation (dormant) and one participant row per party. Runs inside the
    order's creation transaction; 2 statements. Idempotent per order (OneToOne)."""
    conversation = Conversation.objects.create(
        order_id=order.pk,
        country_code=order.country_code,
        buyer_id=order.buyer_id,
        seller_id=order.seller_id,
        recipient_user_id=order.recipient_user_id,
        recipient_anon_id=order.recipient_anon_id if order.recipient_user_id is None else None,
    )
    rows = [
        Participant(conversation=conversation, role=ParticipantRole.BUYER, user_id=order.buyer_id),
        Participant(
            conversation=conversation, role=ParticipantRole.SELLER, user_id=order.seller_id
        ),
    ]
    if order.recipient_user_id is not None:
        rows.append(
            Participant(
                conversation=conversation,
                role=ParticipantRole.RECIPIENT,
                user_id=order.recipient_user_id,
            )
        )
    elif order.recipient_anon_id is not None:
        rows.append(
            Participant(
                conversation=conversation,
                role=ParticipantRole.RECIPIENT,
                anon_id=order.recipient_anon_id,
            )
        )
    Participant.objects.bulk_create(rows)
    return conversation


def on_order_transition(order: Any, transition: str, from_state: str) -> None:
    """The orders transition hook (registered in ``MessagingConfig.ready``)."""
    if transition == "create":
        conversation_create_for_order(order)


def on_delivery_attempt_failed(order: Any, attempt: Any) -> None:
    """The orders fulfilment hook: a failed courier attempt opens the chat (same transaction)."""
    conversation = Conversation.objects.filter(order_id=order.pk).first()
    if conversation is None:
        return
    with use_case(SYSTEM) as uc:
        locked = uc.lock_row(Conversation, pk=conversation.pk)
        if locked is not None and locked.state == ConversationState.DORMANT:
            _activate(
                uc, locked, reason=SystemActivationReason.DELIVERY_ATTEMPT_FAILED, by="system"
            )


# --- helpers shared with the send path ----------------------------------------------------------


def lock_for(uc: UseCase, actor: Principal, conversation_id: int) -> tuple[Conversation, str]:
    """Lock the conversation and resolve the actor's role on it: ``NOT_FOUND_OR_NO_ACCESS``
    for non-members, ``SCOPE_VIOLATION`` (audited) for staff out of scope."""
    conversation = uc.lock_row(Conversation, pk=conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    role = selectors.member_role(actor, conversation)
    if role is None:
        raise ConversationNotFound()
    if role == selectors.STAFF:
        uc.require_scope(
            conversation.country_code, action="conversation.write", target=conversation
        )
    uc.act_as(role if role in _PARTY_ROLES else actor.level or role)
    return conversation, role


def append_message(conversation: Conversation, **message: Any) -> Message | None:
    """``append_message_reading_parties`` without the parties."""
    appended, _ = append_message_reading_parties(conversation, read_parties=False, **message)
    return appended


def append_message_reading_parties(
    conversation: Conversation,
    *,
    read_parties: bool = True,
    kind: str,
    sender_role: str,
    body: str,
    client_message_id: str,
    request_digest: str,
    actor: Principal | None = None,
    original_body: str = "",
    verdict: str = "allow",
    reasons: list[str] | None = None,
    fingerprint: str = "",
) -> tuple[Message | None, list[Participant] | None]:
    """Assign the next seq (the conversation row must be locked by the caller), insert the
    message and move the conversation's ``last_seq``. The message is None, changing nothing,
    when the conversation already has a message with this ``client_message_id`` (the caller
    then answers with that one). PostgreSQL: ONE statement (the insert ``ON CONFLICT DO
    NOTHING`` and the conversation's update in one CTE) which, with ``read_parties``, also
    reads the conversation's parties for the notification bridge (``bridge.on_activity``'s
    ``parties``: one round trip fewer; the statement runs after the lock, so it sees every
    committed change of theirs); elsewhere the ORM (2-3 statements) and parties None (the
    bridge reads them itself)."""
    now = timezone.now()
    seq = conversation.last_seq + 1
    message = Message(
        conversation=conversation,
        seq=seq,
        kind=kind,
        sender_role=sender_role,
        sender_user_id=actor.user_id if actor is not None and actor.user_id is not None else None,
        sender_anon_id=actor.anon_id if actor is not None else None,
        client_message_id=client_message_id,
        request_digest=request_digest,
        body=body,
        original_body=original_body,
        verdict=verdict,
        reasons=list(reasons or []),
        fingerprint=fingerprint,
        created_at=now,
    )
    parties: list[Participant] | None = None
    if connection.vendor == "postgresql":
        inserted, parties = _insert_folded(message, read_parties=read_parties)
        if not inserted:
            return None, None
    else:
        if Message.objects.filter(
            conversation_id=conversation.pk, client_message_id=client_message_id
        ).exists():
            return None, None
        message.save()
        Conversation.objects.filter(pk=conversation.pk).update(
            last_seq=seq, last_message_at=now, updated_at=now
        )
    conversation.last_seq = seq
    conversation.last_message_at = now
    conversation.updated_at = now
    return message, parties


_MESSAGE_COLUMNS = (
    "conversation_id",
    "seq",
    "kind",
    "sender_role",
    "sender_user_id",
    "sender_anon_id",
    "client_message_id",
    "request_digest",
    "body",
    "original_body",
    "verdict",
    "reasons",
    "fingerprint",
    "created_at",
)
# Constant column names; every value is a parameter.
_INSERT_FOLDED = (
    "WITH m AS ("  # noqa: S608
    f" INSERT INTO messaging_message ({', '.join(_MESSAGE_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(_MESSAGE_COLUMNS))})"
    " ON CONFLICT (conversation_id, client_message_id) DO NOTHING RETURNING id, seq, created_at"
    "), c AS ("
    " UPDATE messaging_conversation SET last_seq = m.seq, last_message_at = m.created_at,"
    " updated_at = m.created_at FROM m WHERE messaging_conversation.id = %s"
    ") SELECT id FROM m"
)


_INSERT_FOLDED_WITH_PARTIES: tuple[str, list[str]] | None = None


def _insert_folded_with_parties() -> tuple[str, list[str]]:
    """``_INSERT_FOLDED`` answering the parties too (built once: names from the models)."""
    global _INSERT_FOLDED_WITH_PARTIES
    if _INSERT_FOLDED_WITH_PARTIES is None:
        parties_sql, parties_params = bridge.parties_json_sql("m.conversation_id")
        head, _, _ = _INSERT_FOLDED.rpartition(" SELECT id FROM m")
        # Constant SQL: the message's statement plus the bridge's parties subquery (names from
        # the models); every value is a parameter.
        returning = "RETURNING id, seq, created_at"
        insert = head.replace(returning, f"{returning}, conversation_id")
        select = f" SELECT id, {parties_sql} FROM m"  # noqa: S608
        _INSERT_FOLDED_WITH_PARTIES = (insert + select, parties_params)
    return _INSERT_FOLDED_WITH_PARTIES


def _insert_folded(
    message: Message, *, read_parties: bool = False
) -> tuple[bool, list[Participant] | None]:
    """The message and the conversation's ``last_seq`` in one statement (PostgreSQL), and
    with ``read_parties`` the conversation's parties."""
    values: list[Any] = [
        message.conversation_id,
        message.seq,
        message.kind,
        message.sender_role,
        message.sender_user_id,
        message.sender_anon_id,
        message.client_message_id,
        message.request_digest,
        message.body,
        message.original_body,
        message.verdict,
        json.dumps(message.reasons),
        message.fingerprint,
        message.created_at,
        message.conversation_id,
    ]
    sql = _INSERT_FOLDED
    if read_parties:
        sql, parties_params = _insert_folded_with_parties()
        values.extend(parties_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False, None
    message.pk = row[0]
    message._state.adding = False
    message._state.db = connection.alias
    return True, bridge.parties_from_json(row[1]) if read_parties else None


def message_payload(message: Message) -> dict[str, Any]:
    """The realtime event of a message: what every member may see (the delivered text)."""
    return {
        "conversationId": message.conversation_id,
        "messageId": message.pk,
        "seq": message.seq,
        "kind": message.kind,
        "senderRole": message.sender_role,
        "body": message.body,
        "verdict": message.verdict,
        "createdAt": message.created_at.isoformat(),
    }


def publish_message(conversation: Conversation, message: Message) -> None:
    realtime.publish_last(
        stream=conversation.stream,
        type=EVENT_MESSAGE,
        payload=message_payload(message),
        audience=selectors.audience(conversation),
        country_code=conversation.country_code,
        # the delivered text (moderated: contacts already removed) is what members see
        verbatim=("body",),
    )


def publish_state(conversation: Conversation, from_state: str) -> None:
    realtime.publish_last(
        stream=conversation.stream,
        type=EVENT_STATE,
        payload={
            "conversationId": conversation.pk,
            "state": conversation.state,
            "from": from_state,
            "reason": conversation.freeze_reason or conversation.activation_reason,
        },
        audience=selectors.audience(conversation),
        country_code=conversation.country_code,
    )


def _system_message(conversation: Conversation, text: str) -> Message:
    message = append_message(
        conversation,
        kind=MessageKind.SYSTEM,
        sender_role="system",
        body=text,
        client_message_id=new_system_message_id(),
        request_digest="",
    )
    assert message is not None  # a fresh uuid never collides
    return message


def _online_before_frame(conversation_id: int, sender_key: str) -> frozenset[str] | None:
    """The other parties' presence, read before the transaction (no I/O inside a frame);
    None (unknown: everyone counts as offline) when the conversation is not found here."""
    parties = (
        Conversation.objects.only(
            "pk", "buyer_id", "seller_id", "recipient_user_id", "recipient_anon_id"
        )
        .filter(pk=conversation_id)
        .first()
    )
    if parties is None:
        return None
    others = [k for k in selectors.party_keys(parties).values() if k != sender_key]
    try:
        return presence.online_keys(others)
    except Exception:  # noqa: BLE001 -- unknown presence counts as offline
        return None


def _activate(
    uc: UseCase,
    conversation: Conversation,
    *,
    reason: str,
    by: str,
    online: frozenset[str] | None = None,
) -> Conversation:
    from_state = conversation.state
    conversation.activate(reason=reason, at=timezone.now())
    conversation.save(update_fields=list(Conversation.TRANSITION_FIELDS))
    message = _system_message(conversation, f"Conversation opened ({by}): {reason}")
    audit.record(
        ConversationAction.ACTIVATED,
        conversation,
        data={"from": from_state, "reason": reason, "by": by, "seq": message.seq},
        country_code=conversation.country_code,
    )
    bridge.on_activity(
        uc=uc,
        conversation=conversation,
        trigger="activation",
        seq=message.seq,
        sender_key=by,
        online=online,
    )
    # The publishes last: realtime holds its ordering lock from its call to the commit (in a
    # frame the calls go with the COMMIT, decision 0021).
    publish_state(conversation, from_state)
    publish_message(conversation, message)
    return conversation


# --- use cases ---------------------------------------------------------------------------------


def conversation_activate(
    *, actor: Principal, conversation_id: int, reason_code: str
) -> Conversation:
    """A party opens the dormant chat with a reason from the closed list
    (``ActivationReason``; anything else 400 ``VALIDATION_ERROR``). Already active: returned
    as is (idempotent). Frozen 409 ``CONVERSATION_FROZEN``, closed 409 ``CONVERSATION_CLOSED``.
    Audit ``conversation.activated``; a system message; the other parties are notified."""
    if reason_code not in ActivationReason.values:
        raise ValidationFailed(
            details={"reasonCode": [f"One of: {', '.join(ActivationReason.values)}."]}
        )
    by = selectors.actor_key(actor)
    online = _online_before_frame(conversation_id, by)
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        _refuse_unwritable(conversation, role, allow_dormant=True)
        if conversation.state == ConversationState.ACTIVE:
            return conversation
        return _activate(uc, conversation, reason=reason_code, by=by, online=online)


def conversation_system_activate(
    *, order_id: int, reason: str, actor: Principal = SYSTEM
) -> Conversation | None:
    """The system (or staff) opens an order's chat on an exception (``SystemActivationReason``).
    No-op unless the conversation is dormant; None when the order has none."""
    if reason not in SystemActivationReason.values:
        raise ValueError(f"not a system activation reason: {reason!r}")
    with use_case(actor) as uc:
        conversation = uc.lock_row(Conversation, order_id=order_id)
        if conversation is None:
            return None
        if actor.is_staff:
            uc.require_scope(
                conversation.country_code, action="conversation.activate", target=conversation
            )
        if conversation.state != ConversationState.DORMANT:
            return conversation
        return _activate(uc, conversation, reason=reason, by="system")


def _refuse_unwritable(
    conversation: Conversation, role: str, *, allow_dormant: bool = False
) -> None:
    """The state checks of a write by ``role`` (staff may write to a frozen chat)."""
    from messaging.errors import ConversationFrozen

    state = conversation.state
    if state == ConversationState.CLOSED:
        raise ConversationClosed()
    if state == ConversationState.FROZEN and role not in (selectors.STAFF, selectors.SYSTEM):
        raise ConversationFrozen()
    if state == ConversationState.DORMANT and not allow_dormant and role in _PARTY_ROLES:
        raise ConversationNotActive()


def freeze_locked(conversation: Conversation, *, reason: str) -> bool:
    """Freeze an already locked conversation inside the caller's frame (strikes, disputes).
    False when it was frozen or closed already. Audit, metric and event included."""
    if conversation.state not in (ConversationState.DORMANT, ConversationState.ACTIVE):
        return False
    from_state = conversation.state
    conversation.freeze(reason=reason, at=timezone.now())
    conversation.save(update_fields=list(Conversation.TRANSITION_FIELDS))
    audit.record(
        ConversationAction.FROZEN,
        conversation,
        data={"from": from_state, "reason": reason},
        country_code=conversation.country_code,
    )
    emit("METRIC_CHAT_FREEZE", labels={"reason": reason, "country": conversation.country_code})
    publish_state(conversation, from_state)
    return True


def conversation_freeze(
    *, actor: Principal, conversation_id: int, reason: str = FreezeReason.STAFF
) -> Conversation:
    """Staff (or the system, for a dispute) freeze the chat to keep the evidence: parties read
    but cannot post; staff still can. Idempotent: a frozen chat stays as it is."""
    if reason not in FreezeReason.values:
        raise ValidationFailed(details={"reason": [f"One of: {', '.join(FreezeReason.values)}."]})
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        if role not in (selectors.STAFF, selectors.SYSTEM):
            raise ConversationNotFound()
        if conversation.state == ConversationState.CLOSED:
            raise ConversationClosed()
        freeze_locked(conversation, reason=reason)
        return conversation


def conversation_unfreeze(*, actor: Principal, conversation_id: int) -> Conversation:
    """Staff reopen a frozen chat (back to active). Not frozen: returned as is."""
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        if role not in (selectors.STAFF, selectors.SYSTEM):
            raise ConversationNotFound()
        if conversation.state != ConversationState.FROZEN:
            if conversation.state == ConversationState.CLOSED:
                raise ConversationClosed()
            return conversation
        from_state = conversation.state
        previous_reason = conversation.freeze_reason
        conversation.unfreeze()
        conversation.save(update_fields=list(Conversation.TRANSITION_FIELDS))
        audit.record(
            ConversationAction.UNFROZEN,
            conversation,
            data={"from": from_state, "reason": previous_reason},
            country_code=conversation.country_code,
        )
        publish_state(conversation, from_state)
        return conversation


def conversation_close(*, actor: Principal, conversation_id: int, reason: str = "") -> Conversation:
    """Close the chat for good (staff, or the system after the order completed). Idempotent."""
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        if role not in (selectors.STAFF, selectors.SYSTEM):
            raise ConversationNotFound()
        if conversation.state == ConversationState.CLOSED:
            return conversation
        from_state = conversation.state
        conversation.close(at=timezone.now())
        conversation.save(update_fields=list(Conversation.TRANSITION_FIELDS))
        audit.record(
            ConversationAction.CLOSED,
            conversation,
            data={"from": from_state, "reason": reason[:200]},
            country_code=conversation.country_code,
        )
        publish_state(conversation, from_state)
        return conversation


@dataclass(frozen=True)
class CloseReport:
    closed: int
    remaining: bool


#: order states after which the chat closes (MESSAGING_CLOSE_AFTER_DAYS after ``closed_at``)
_COMPLETED = ("completed", "force_completed", "cancelled")


def conversations_close_due(*, now: datetime | None = None, limit: int = 500) -> CloseReport:
    """The beat job: close every open conversation whose order completed more than
    ``MESSAGING_CLOSE_AFTER_DAYS`` ago (one frame per conversation; safe to run twice)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MESSAGING_CLOSE_AFTER_DAYS)
    due = list(
        Conversation.objects.exclude(state=ConversationState.CLOSED)
        .filter(order__status__in=_COMPLETED, order__closed_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[: limit + 1]
    )
    closed = 0
    for conversation_id in due[:limit]:
        conversation_close(actor=SYSTEM, conversation_id=conversation_id, reason="order completed")
        closed += 1
    return CloseReport(closed=closed, remaining=len(due) > limit)


@dataclass(frozen=True)
class OverdueReport:
    activated: int
    remaining: bool


def conversations_activate_overdue(
    *, now: datetime | None = None, limit: int = 500
) -> OverdueReport:
    """The beat job: open the dormant chat of every order still in transit
    ``MESSAGING_DELIVERY_OVERDUE_HOURS`` after dispatch (reason ``delivery_overdue``), so the
    parties can sort the delivery out before anyone is left waiting. One frame per
    conversation; safe to run twice (an active chat is left as it is)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.MESSAGING_DELIVERY_OVERDUE_HOURS)
    due = list(
        Conversation.objects.filter(
            state=ConversationState.DORMANT,
            order__status="in_transit",
            order__dispatched_at__lte=cutoff,
        )
        .order_by("pk")
        .values_list("order_id", flat=True)[: limit + 1]
    )
    for order_id in due[:limit]:
        conversation_system_activate(
            order_id=order_id, reason=SystemActivationReason.DELIVERY_OVERDUE
        )
    return OverdueReport(activated=len(due[:limit]), remaining=len(due) > limit)
