"""Receipts and reconcile: per-participant ``delivered``/``read`` watermarks (issue 14, 5-6).

``message_ack(actor=, conversation_id=, kind="delivered"|"read", up_to_seq=)`` is the one
write; ``POST /api/conversations/{id}/ack`` and the realtime ``ack`` frames
(``message.delivered`` / ``message.read``, registered in ``MessagingConfig.ready``) both call
it. ``conversation_reconcile`` is the read a client makes after a reconnect.

Invariants, locks, idempotency:

- One use-case frame that never locks the conversation (sends do: an ack never waits for a
  send's conversation lock). The caller's participant row and its conversation are read in
  one statement without a lock; an older or repeated ack ends there. An ack that moves a
  watermark locks the participant row ``FOR NO KEY UPDATE`` (re-read: acks of one
  participant serialize on it), updates it and publishes last (``realtime.publish`` takes
  the event log's ordering lock and holds it to the commit). That is the order a send takes
  its locks in (conversation, participant rows through the bridge, then the publish lock as
  its last statement), so acks and sends cannot deadlock; like every publisher, a moving ack
  waits its turn on the publish lock for its last statement.
- Monotonic: a watermark never goes back. An older (or repeated) ack is a no-op that answers
  the current state, so acks are idempotent and may arrive in any order. ``read`` raises
  ``delivered`` too (you cannot read what was not delivered): always
  ``read_up_to_seq <= delivered_up_to_seq <= conversation.last_seq`` (the first also a database
  constraint).
- ``up_to_seq`` must be an integer in ``0..last_seq`` (``last_seq`` read in the same statement
  as the lock, committed state): anything else -- beyond the last seq, negative, not an
  integer, an unknown kind, a frame without its conversationId -- is 400 ``INVALID_ACK``
  (a body with unknown keys or that is not an object: 400 ``VALIDATION_ERROR``, the API's
  strict-input rule). Non-members (and
  unknown ids) 404 ``NOT_FOUND_OR_NO_ACCESS``; staff out of scope 403 ``SCOPE_VIOLATION``
  (audited by the frame, like every staff write).
- Acks are accepted in every conversation state: a frozen or closed chat is still read.
- A realtime ``message.receipt`` event (conversationId, role, deliveredUpToSeq, readUpToSeq)
  goes to the conversation's stream -- all its members, so the other parties see their ticks
  and the caller's other devices their unread count -- only when a watermark moved.
- Staff who never posted have no participant row (``Participant`` rows for staff are made by
  their first post). Their acks are accepted as no-ops (in scope; nothing written, no event):
  staff reading a case must not appear to the parties as a reader, and must not become a
  participant just by looking. Staff who posted have a row and their acks move it. The system
  principal's acks are no-ops too.
- **No audit row.** Acks are the chat's highest-volume write (every delivery to every device)
  and carry no decision: they change no evidence (messages are WORM and audited on send), they
  are idempotent and monotonic, and their effect stays visible -- the watermarks on the
  participant row (in the transcript export) and each move as an event in the realtime log
  (id, time, role, watermarks). An audit row per ack would multiply the WORM trail by the
  number of devices for no question support asks.
- Every failure of an ack or a reconcile -- a ``DomainError`` or an unexpected error -- emits
  ``METRIC_CHAT_ACK_FAILURE {flow: ack_delivered|ack_read|reconcile_status, code}`` (an
  unexpected error counts as ``INTERNAL_ERROR``; a request whose kind is neither
  ``delivered`` nor ``read`` as flow ``ack_unknown``) and is raised to the caller. Nothing on
  the send path calls this module: a failing ack never affects sending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aventide.accounts.contracts import use_case
from aventide.core.errors import DomainError, ValidationFailed
from aventide.core.metrics import emit
from aventide.core.principal import Principal
from messaging import selectors
from messaging.errors import ConversationNotFound, InvalidAck
from messaging.models import Conversation, Participant, ParticipantRole
from messaging.services.inputs import check_conversation_id as _check_conversation_id
from messaging.services.inputs import is_int as _is_int
from messaging.services.inputs import only_keys as _only_keys
from realtime import services as realtime

METRIC_CHAT_ACK_FAILURE = "METRIC_CHAT_ACK_FAILURE"
EVENT_RECEIPT = "message.receipt"

DELIVERED = "delivered"
READ = "read"
KINDS = (DELIVERED, READ)

FLOW_DELIVERED = "ack_delivered"
FLOW_READ = "ack_read"
FLOW_RECONCILE = "reconcile_status"
FLOW_UNKNOWN = "ack_unknown"

#: realtime ack frame kind -> receipt kind
FRAME_KINDS = {"message.delivered": DELIVERED, "message.read": READ}

_PARTY_ROLES = frozenset({ParticipantRole.BUYER, ParticipantRole.SELLER, ParticipantRole.RECIPIENT})
_CONVERSATION_FIELDS = (
    "pk",
    "order_id",
    "country_code",
    "state",
    "last_seq",
    "buyer_id",
    "seller_id",
    "recipient_user_id",
    "recipient_anon_id",
)


@dataclass(frozen=True)
class Receipt:
    """The caller's watermarks after an ack."""

    conversation_id: int
    role: str
    delivered_up_to_seq: int
    read_up_to_seq: int
    last_seq: int
    #: True when this ack moved a watermark (and published ``message.receipt``)
    moved: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversationId": self.conversation_id,
            "role": self.role,
            "deliveredUpToSeq": self.delivered_up_to_seq,
            "readUpToSeq": self.read_up_to_seq,
            "lastSeq": self.last_seq,
            "moved": self.moved,
        }


@dataclass(frozen=True)
class Watermarks:
    role: str
    delivered_up_to_seq: int
    read_up_to_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "deliveredUpToSeq": self.delivered_up_to_seq,
            "readUpToSeq": self.read_up_to_seq,
        }


@dataclass(frozen=True)
class ReconcileState:
    """The authoritative state of a conversation for one member."""

    conversation_id: int
    state: str
    last_seq: int
    last_seq_seen: int
    me: Watermarks
    others: list[Watermarks]

    @property
    def behind(self) -> bool:
        return self.last_seq_seen < self.last_seq

    @property
    def missing_from(self) -> int | None:
        """The first seq the client lacks (fetch ``messages?afterSeq=lastSeqSeen``)."""
        return self.last_seq_seen + 1 if self.behind else None

    @property
    def resync(self) -> bool:
        """The client claims more than exists: drop everything above ``lastSeq``."""
        return self.last_seq_seen > self.last_seq

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversationId": self.conversation_id,
            "state": self.state,
            "lastSeq": self.last_seq,
            "lastSeqSeen": self.last_seq_seen,
            "behind": self.behind,
            "missingFrom": self.missing_from,
            "resync": self.resync,
            "unread": max(0, self.last_seq - self.me.read_up_to_seq),
            "me": self.me.as_dict(),
            "others": [w.as_dict() for w in self.others],
        }


# --- the failure metric ------------------------------------------------------------------------


def flow_of(kind: object) -> str:
    if kind == DELIVERED:
        return FLOW_DELIVERED
    if kind == READ:
        return FLOW_READ
    return FLOW_UNKNOWN


@contextmanager
def _counted(flow: str) -> Iterator[None]:
    """Emit ``METRIC_CHAT_ACK_FAILURE {flow, code}`` for any failure inside, then re-raise."""
    try:
        yield
    except DomainError as error:
        emit(METRIC_CHAT_ACK_FAILURE, labels={"flow": flow, "code": error.code})
        raise
    except Exception:
        emit(METRIC_CHAT_ACK_FAILURE, labels={"flow": flow, "code": "INTERNAL_ERROR"})
        raise


# --- input checks ------------------------------------------------------------------------------


def _check_ack(kind: object, up_to_seq: object) -> tuple[str, int]:
    problems: dict[str, list[str]] = {}
    if kind not in KINDS:
        problems["kind"] = [f"One of: {', '.join(KINDS)}."]
    if not _is_int(up_to_seq) or up_to_seq < 0:
        problems["upToSeq"] = ["A non-negative integer."]
    if problems or not _is_int(up_to_seq):
        raise InvalidAck(details=problems)
    return str(kind), up_to_seq


# --- the write ---------------------------------------------------------------------------------


def _read_participant(actor: Principal, conversation_id: int) -> Participant | None:
    """The caller's participant row with its conversation, one statement, no lock."""
    rows = Participant.objects.select_related("conversation").only(
        "pk",
        "role",
        "user_id",
        "anon_id",
        "delivered_up_to_seq",
        "read_up_to_seq",
        "conversation_id",
        *(f"conversation__{f}" for f in _CONVERSATION_FIELDS if f != "pk"),
    )
    if actor.is_anonymous_identity:
        if actor.anon_id is None:
            return None
        rows = rows.filter(conversation_id=conversation_id, anon_id=actor.anon_id)
    elif actor.user_id is not None:
        rows = rows.filter(conversation_id=conversation_id, user_id=actor.user_id)
    else:
        return None
    return rows.order_by().first()


def _advance(participant: Participant, kind: str, up_to_seq: int) -> tuple[int, int]:
    """The watermarks after this ack: each only grows; read raises delivered too."""
    delivered = max(participant.delivered_up_to_seq, up_to_seq)
    read = participant.read_up_to_seq
    if kind == READ:
        read = max(read, up_to_seq)
    return delivered, read


def _lock_watermarks(participant: Participant) -> Participant:
    """Re-read the row's watermarks under ``FOR NO KEY UPDATE`` (it serializes acks of one
    participant; unlike ``FOR UPDATE`` it lets the foreign-key checks of rows referencing the
    participant through)."""
    return (
        Participant.objects.select_for_update(no_key=True)
        .only("pk", "role", "delivered_up_to_seq", "read_up_to_seq")
        .order_by()
        .get(pk=participant.pk)
    )


def _ack(*, actor: Principal, conversation_id: int, kind: str, up_to_seq: int) -> Receipt:
    with use_case(actor) as uc:
        participant = _read_participant(actor, conversation_id)
        if participant is not None:
            conversation = participant.conversation
        else:
            # No row: staff who never posted, the system -- or a non-member.
            found = (
                Conversation.objects.only(*_CONVERSATION_FIELDS).filter(pk=conversation_id).first()
            )
            if found is None:
                raise ConversationNotFound()
            conversation = found
        role = selectors.member_role(actor, conversation)
        if role is None:
            raise ConversationNotFound()
        if role == selectors.STAFF:
            uc.require_scope(
                conversation.country_code, action="conversation.ack", target=conversation
            )
        uc.act_as(role if role in _PARTY_ROLES else actor.level or role)
        if up_to_seq > conversation.last_seq:
            raise InvalidAck(
                f"upToSeq is beyond the conversation's last message ({conversation.last_seq}).",
                details={"upToSeq": [f"At most {conversation.last_seq}."]},
            )
        if participant is None:
            return Receipt(
                conversation_id=conversation.pk,
                role=role,
                delivered_up_to_seq=0,
                read_up_to_seq=0,
                last_seq=conversation.last_seq,
                moved=False,
            )
        delivered, read = _advance(participant, kind, up_to_seq)
        moved = (delivered, read) != (participant.delivered_up_to_seq, participant.read_up_to_seq)
        if moved:
            # Only a move locks: an older or repeated ack answers the committed state as read.
            participant = _lock_watermarks(participant)
            delivered, read = _advance(participant, kind, up_to_seq)
            moved = (delivered, read) != (
                participant.delivered_up_to_seq,
                participant.read_up_to_seq,
            )
        if moved:
            participant.delivered_up_to_seq = delivered
            participant.read_up_to_seq = read
            participant.save(update_fields=["delivered_up_to_seq", "read_up_to_seq", "updated_at"])
            realtime.publish_last(
                stream=conversation.stream,
                type=EVENT_RECEIPT,
                payload={
                    "conversationId": conversation.pk,
                    "role": participant.role,
                    "deliveredUpToSeq": delivered,
                    "readUpToSeq": read,
                },
                audience=selectors.audience(conversation),
                country_code=conversation.country_code,
            )
        return Receipt(
            conversation_id=conversation.pk,
            role=participant.role,
            delivered_up_to_seq=delivered,
            read_up_to_seq=read,
            last_seq=_at_least(conversation.last_seq, delivered),
            moved=moved,
        )


def message_ack(*, actor: Principal, conversation_id: int, kind: str, up_to_seq: int) -> Receipt:
    """Move the caller's ``kind`` watermark up to ``up_to_seq`` (see the module docstring).

    Never locks the conversation. A no-op is 1 statement (the row and its conversation, no
    lock); a move 4 (that read, the row re-read ``FOR NO KEY UPDATE``, the update, the
    realtime event, which takes the event log's ordering lock to the commit)."""
    return _ack_input(actor, conversation_id, kind, up_to_seq)


def _ack_input(
    actor: Principal, conversation_id: object, kind: object, up_to_seq: object
) -> Receipt:
    """``message_ack`` on client input (JSON values of any type): checked, then counted."""
    with _counted(flow_of(kind)):
        checked_id = _check_conversation_id(conversation_id)
        checked_kind, checked_seq = _check_ack(kind, up_to_seq)
        return _ack(
            actor=actor, conversation_id=checked_id, kind=checked_kind, up_to_seq=checked_seq
        )


#: REST bodies arrive with snake_case keys (the project's camelCase parser); errors render
#: their detail keys back in camelCase
_ACK_KEYS = frozenset({"kind", "up_to_seq"})
_FRAME_KEYS = frozenset({"conversationId", "upToSeq"})


def message_ack_request(*, actor: Principal, conversation_id: int, data: object) -> Receipt:
    """``POST /api/conversations/{id}/ack`` with the request body ``{kind, upToSeq}``: the
    body's shape is checked here (unknown keys, not an object: ``VALIDATION_ERROR``) so every
    refusal counts in the metric."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    with _counted(flow_of(kind)):
        body = _only_keys(data, _ACK_KEYS)
    return _ack_input(actor, conversation_id, body.get("kind"), body.get("up_to_seq"))


def _frame_handler(kind: str) -> Callable[[Principal, dict[str, Any]], dict[str, Any]]:
    def handle(principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        with _counted(flow_of(kind)):
            body = _only_keys(data, _FRAME_KEYS)
            if "conversationId" not in body:
                raise InvalidAck(details={"conversationId": ["Required."]})
        return _ack_input(principal, body["conversationId"], kind, body.get("upToSeq")).as_dict()

    handle.__name__ = f"ack_{kind}_frame"
    handle.__qualname__ = handle.__name__
    return handle


#: the realtime ``ack`` frame handlers (``{"type":"ack","kind":"message.read",
#: "conversationId":12,"upToSeq":7,"ref":...}``), registered in ``MessagingConfig.ready``
ack_delivered_frame = _frame_handler(DELIVERED)
ack_read_frame = _frame_handler(READ)
ACK_FRAME_HANDLERS: dict[str, Callable[[Principal, dict[str, Any]], dict[str, Any]]] = {
    "message.delivered": ack_delivered_frame,
    "message.read": ack_read_frame,
}


# --- the read ----------------------------------------------------------------------------------


def _at_least(last_seq: int, *watermarks: int) -> int:
    """The conversation's ``last_seq`` as read, raised to any watermark read after it: the
    watermarks come from a later statement (under the ack's lock, or the reconcile's second
    read), and a concurrent ack may have acknowledged a message sent in between. Every ack is
    checked against a committed ``last_seq``, so a watermark is a seq that exists: an answer
    never shows a watermark beyond its ``lastSeq``."""
    return max(last_seq, *watermarks)


def _reconcile(*, actor: Principal, conversation_id: int, last_seq_seen: int) -> ReconcileState:
    conversation = selectors.conversation_for(actor, conversation_id)
    role = selectors.member_role(actor, conversation)
    assert role is not None  # conversation_for refuses non-members
    rows = list(
        Participant.objects.filter(conversation_id=conversation.pk)
        .order_by("pk")
        .only("pk", "role", "user_id", "anon_id", "delivered_up_to_seq", "read_up_to_seq")
    )
    mine_key = selectors.actor_key(actor)
    me = Watermarks(role=role, delivered_up_to_seq=0, read_up_to_seq=0)
    others = []
    for row in rows:
        marks = Watermarks(
            role=row.role,
            delivered_up_to_seq=row.delivered_up_to_seq,
            read_up_to_seq=row.read_up_to_seq,
        )
        if row.audience_key == mine_key:
            me = marks
        else:
            others.append(marks)
    return ReconcileState(
        conversation_id=conversation.pk,
        state=conversation.state,
        last_seq=_at_least(conversation.last_seq, *(row.delivered_up_to_seq for row in rows), 0),
        last_seq_seen=last_seq_seen,
        me=me,
        others=others,
    )


def conversation_reconcile(
    *, actor: Principal, conversation_id: int, last_seq_seen: int
) -> ReconcileState:
    """The authoritative state after a reconnect: ``lastSeq``, the caller's watermarks, every
    other participant's (by role: the sent/delivered/read ticks of the caller's messages),
    whether the client is ``behind`` (``lastSeqSeen < lastSeq``) and the seq to fetch from.

    A read (no lock, no frame): 2 queries. Non-members 404 ``NOT_FOUND_OR_NO_ACCESS`` (staff
    out of scope too: it is a read); ``lastSeqSeen`` not a non-negative integer 400
    ``VALIDATION_ERROR``. Failures count in ``METRIC_CHAT_ACK_FAILURE {flow:
    reconcile_status}``."""
    with _counted(FLOW_RECONCILE):
        conversation_id = _check_conversation_id(conversation_id)
        if not _is_int(last_seq_seen) or last_seq_seen < 0:
            raise ValidationFailed(details={"lastSeqSeen": ["A non-negative integer."]})
        return _reconcile(actor=actor, conversation_id=conversation_id, last_seq_seen=last_seq_seen)


def conversation_reconcile_request(
    *, actor: Principal, conversation_id: int, data: object
) -> ReconcileState:
    """``POST /api/conversations/{id}/reconcile`` with the body ``{lastSeqSeen}``."""
    with _counted(FLOW_RECONCILE):
        body = _only_keys(data, frozenset({"last_seq_seen"}))
    return conversation_reconcile(
        actor=actor,
        conversation_id=conversation_id,
        last_seq_seen=body.get("last_seq_seen", 0),
    )
