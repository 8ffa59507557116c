"""Sending a message: idempotent, moderated, gapless, audited, fanned out -- one frame.

``message_send(actor=, conversation_id=, client_message_id=, body=)``:

1. Before any transaction (no lock held while they run): the input checks (400), a read of
   the conversation's parties (non-members 404 ``NOT_FOUND_OR_NO_ACCESS`` right away), the
   rate limits on the shared cache (429, counting distinct clientMessageIds only; a retry of a
   stored message is never a 429, even after the cache forgot its id), moderation
   (pure CPU) and the presence of the other parties (for the bridge).
   A retry of a committed message (an id the cache has seen) by a party is answered from
   the row right here, with no lock: a retry storm never holds up the conversation.
2. One use-case frame: lock the conversation row (serializes the conversation's sends, so
   ``seq`` is gapless); a message with this clientMessageId already there -> the original
   (``created`` False; another body -> 422 ``IDEMPOTENCY_KEY_REUSED``) with no second row,
   event, audit entry or notice; state checks (dormant/frozen/closed 409; staff may post to a
   frozen chat and their post opens a dormant one); a redact or block verdict is a strike
   (3 in 24 h freeze the chat); block -> the strike and its audit row commit and the caller
   gets 422 ``MESSAGE_BLOCKED``; otherwise the message row, ``last_seq``, the audit row
   (digest, never the text), the realtime event and the bridge's decisions.

Two ways in, one service: ``POST /api/conversations/{id}/messages`` (messaging.api) and the
realtime ``send`` frame ``message.send`` (``message_send_frame``, registered with realtime in
``MessagingConfig.ready``); both answer ``render_send``.

The original text of a redacted message is stored staff-only and never leaves this function
other than into that column: not in the event, the audit row, a log line or a notice.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import UseCase, use_case
from aventide.core.errors import ValidationFailed
from aventide.core.logging import get_logger
from aventide.core.principal import Principal
from messaging import limits, selectors
from messaging.audit_actions import MessageAction
from messaging.errors import (
    ChatRateLimited,
    ConversationNotFound,
    MessageBlocked,
    MessageIdReused,
)
from messaging.models import (
    BODY_MAX_CHARS,
    CLIENT_MESSAGE_ID_MAX_LENGTH,
    AbuseFlagSource,
    AbuseReport,
    Conversation,
    ConversationState,
    FreezeReason,
    Message,
    MessageKind,
    Participant,
    ParticipantRole,
    Strike,
    SystemActivationReason,
)
from messaging.moderation import Action, moderate
from messaging.services import bridge
from messaging.services.conversations import (
    _activate,
    _refuse_unwritable,
    append_message_reading_parties,
    freeze_locked,
    lock_for,
    publish_message,
)
from messaging.services.inputs import check_conversation_id, only_keys
from realtime import selectors as presence
from realtime.contracts import SendHandler, Sent

_PARTY_ROLES = frozenset({ParticipantRole.BUYER, ParticipantRole.SELLER, ParticipantRole.RECIPIENT})
_CLIENT_ID_RE = re.compile(rf"^[A-Za-z0-9._:\-]{{1,{CLIENT_MESSAGE_ID_MAX_LENGTH}}}$")
SPAM = "SPAM"
logger = get_logger("messaging.send")


@dataclass(frozen=True)
class SendResult:
    message: Message
    #: False: the clientMessageId was known, this is the original message
    created: bool


@dataclass(frozen=True)
class _Moderated:
    verdict: str
    reasons: list[str]
    delivered: str
    fingerprint: str


def body_digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def _validate(client_message_id: str, body: str) -> None:
    problems: dict[str, list[str]] = {}
    if not isinstance(client_message_id, str) or not _CLIENT_ID_RE.match(client_message_id):
        problems["clientMessageId"] = [
            f"1 to {CLIENT_MESSAGE_ID_MAX_LENGTH} characters: letters, digits, . _ : -"
        ]
    if not isinstance(body, str):
        problems["body"] = ["Must be a string."]
    elif not body.strip():
        problems["body"] = ["The message is empty."]
    elif len(body) > BODY_MAX_CHARS:
        problems["body"] = [f"At most {BODY_MAX_CHARS} characters."]
    if problems:
        raise ValidationFailed(details=problems)


def _moderate(actor: Principal, body: str, country_code: str, repeats: int) -> _Moderated:
    if actor.is_staff or actor.is_system:
        return _Moderated(verdict=Action.ALLOW.value, reasons=[], delivered=body, fingerprint="")
    verdict = moderate(body, country_code=country_code)
    action = verdict.action.value
    reasons = list(verdict.reasons)
    delivered = verdict.redacted_text if action == Action.REDACT.value else body
    if repeats >= settings.MESSAGING_SPAM_REPEAT_LIMIT > 0:
        action = Action.BLOCK.value
        if SPAM not in reasons:
            reasons.append(SPAM)
    return _Moderated(
        verdict=action, reasons=reasons, delivered=delivered, fingerprint=verdict.fingerprint
    )


_PARTIES: OrderedDict[int, Conversation] = OrderedDict()
_PARTIES_MAX = 20_000
_PARTIES_LOCK = threading.Lock()
_PARTY_FIELDS = (
    "pk",
    "order_id",
    "country_code",
    "buyer_id",
    "seller_id",
    "recipient_user_id",
    "recipient_anon_id",
)


def _parties(conversation_id: int, *, fresh: bool = False) -> Conversation | None:
    """The conversation's parties from the per-process cache (``fresh``: from the database,
    refreshing the cache)."""
    if not fresh:
        with _PARTIES_LOCK:
            hit = _PARTIES.get(conversation_id)
            if hit is not None:
                _PARTIES.move_to_end(conversation_id)
                return hit
    row = Conversation.objects.only(*_PARTY_FIELDS).filter(pk=conversation_id).first()
    with _PARTIES_LOCK:
        if row is None:
            _PARTIES.pop(conversation_id, None)
            return None
        _PARTIES[conversation_id] = row
        while len(_PARTIES) > _PARTIES_MAX:
            _PARTIES.popitem(last=False)
    return row


def _same_parties(cached: Conversation, locked: Conversation) -> bool:
    return all(getattr(cached, f) == getattr(locked, f) for f in _PARTY_FIELDS if f != "pk")


def _forget_parties(conversation_id: int) -> None:
    with _PARTIES_LOCK:
        _PARTIES.pop(conversation_id, None)


def _pre_read(actor: Principal, conversation_id: int) -> Conversation:
    """The conversation's parties, without a lock: non-members get ``NOT_FOUND_OR_NO_ACCESS``
    before anything is counted. Staff pass here whatever their scope: the frame's ScopeGuard
    check refuses them with ``SCOPE_VIOLATION`` (audited), not with a not-found.

    The cache only ever saves a read: a refusal is confirmed against the database first, and
    the frame checks membership again on the locked row (and drops a cached entry that no
    longer matches it -- ids are never reused in production, but a restored or flushed
    database may reuse them)."""
    conversation = _parties(conversation_id)
    if conversation is None or selectors.member_role(actor, conversation) is None:
        conversation = _parties(conversation_id, fresh=True)
    if conversation is None or selectors.member_role(actor, conversation) is None:
        raise ConversationNotFound()
    return conversation


def _others(conversation: Conversation, sender_key: str) -> list[str]:
    return [k for k in selectors.party_keys(conversation).values() if k != sender_key]


def _online_keys(conversation: Conversation, sender_key: str) -> frozenset[str]:
    """Which other parties have a live socket (presence on Redis, one round trip; unknown
    counts as offline). The admission usually read it already (``Admission.online``)."""
    others = _others(conversation, sender_key)
    try:
        return presence.online_keys(others)
    except Exception as exc:  # noqa: BLE001 -- unknown presence counts as offline
        logger.warning("messaging.presence_unavailable", error=type(exc).__name__)
        return frozenset()


def _existing(conversation: Conversation, client_message_id: str) -> Message | None:
    return Message.objects.filter(
        conversation_id=conversation.pk, client_message_id=client_message_id
    ).first()


def _original(existing: Message, digest: str) -> SendResult:
    """A retry: the message first stored under this clientMessageId, if the body matches."""
    if existing.request_digest != digest:
        raise MessageIdReused()
    return SendResult(message=existing, created=False)


def _admit(
    pre: Conversation, sender_key: str, client_message_id: str, fingerprint: str
) -> limits.Admission:
    """Count the send against the sender's limits. A retry of a stored message is never
    refused: the cache forgets a claim after two windows (or when Redis restarts), and the
    retry is then counted like a new message -- over the limit, the database decides (one
    indexed read, on the refusal path only) and the retry goes on uncounted, to be answered
    the original like any retry (staff: after the frame's scope check). The other parties'
    presence (for the bridge) is read in the same round trip."""
    try:
        return limits.admit(
            sender_key=sender_key,
            conversation_id=pre.pk,
            client_message_id=client_message_id,
            fingerprint=fingerprint,
            presence=_others(pre, sender_key),
        )
    except ChatRateLimited:
        if _existing(pre, client_message_id) is None:
            raise
        return limits.Admission(new=False)


def _strike(
    uc: UseCase,
    actor: Principal,
    conversation: Conversation,
    *,
    sender_key: str,
    client_message_id: str,
    moderated: _Moderated,
) -> None:
    """Record the strike (once per clientMessageId) and freeze on the Nth within the window."""
    # A retry of a refused send is no second strike. The conversation's row lock serializes
    # its sends, so this check cannot race with another send of the same id.
    if Strike.objects.filter(
        conversation_id=conversation.pk, sender_key=sender_key, client_message_id=client_message_id
    ).exists():
        return
    Strike.objects.create(
        conversation=conversation,
        sender_user_id=actor.user_id,
        sender_anon_id=actor.anon_id,
        sender_key=sender_key,
        client_message_id=client_message_id,
        verdict=moderated.verdict,
        reasons=moderated.reasons,
        fingerprint=moderated.fingerprint,
    )
    audit.record(
        MessageAction.STRIKE,
        conversation,
        data={
            "verdict": moderated.verdict,
            "reasons": moderated.reasons,
            "clientMessageId": client_message_id,
        },
        country_code=conversation.country_code,
    )
    since = timezone.now() - timedelta(hours=settings.MESSAGING_STRIKE_WINDOW_HOURS)
    strikes = Strike.objects.filter(sender_key=sender_key, created_at__gte=since).count()
    if strikes >= settings.MESSAGING_STRIKES_TO_FREEZE and freeze_locked(
        conversation, reason=FreezeReason.ABUSE
    ):
        AbuseReport.objects.create(
            conversation=conversation,
            country_code=conversation.country_code,
            source=AbuseFlagSource.STRIKES,
            reporter_key="system",
            subject_key=sender_key,
            reason_code=FreezeReason.ABUSE,
        )


def _staff_participant(conversation: Conversation, actor: Principal) -> None:
    """Staff who post become participants (they get receipts and appear in the transcript)."""
    Participant.objects.get_or_create(
        conversation=conversation, user_id=actor.user_id, defaults={"role": ParticipantRole.STAFF}
    )


def message_send(
    *, actor: Principal, conversation_id: int, client_message_id: str, body: str
) -> SendResult:
    """Send ``body`` to the conversation (see the module docstring for the whole contract)."""
    _validate(client_message_id, body)
    digest = body_digest(body)
    pre = _pre_read(actor, conversation_id)
    sender_key = selectors.actor_key(actor)
    moderated = _moderate(actor, body, pre.country_code, repeats=0)
    admission = _admit(pre, sender_key, client_message_id, moderated.fingerprint)
    if admission.new and admission.repeats >= settings.MESSAGING_SPAM_REPEAT_LIMIT:
        moderated = _moderate(actor, body, pre.country_code, repeats=admission.repeats)
    if not admission.new and selectors.member_role(actor, pre) in _PARTY_ROLES:
        # A retry the cache knows, of a message already committed: a party gets the original
        # from the row, with no frame and no lock -- a client's retry storm never queues the
        # conversation's new messages behind it (drill 1). Staff take the frame's path: their
        # scope is checked there. A message still in flight is not found: the lock decides.
        existing = _existing(pre, client_message_id)
        if existing is not None:
            return _original(existing, digest)
    online = admission.online
    if online is None:
        online = _online_keys(pre, sender_key)
    blocked = False
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        if not _same_parties(pre, conversation):
            _forget_parties(conversation_id)
        # A clientMessageId the cache has seen is looked up first (a retry answers before any
        # state check). A new one goes straight to the insert, which finds a duplicate itself
        # (ON CONFLICT) if the cache forgot an id after all.
        if not admission.new:
            existing = _existing(conversation, client_message_id)
            if existing is not None:
                return _original(existing, digest)
        is_staff = role == selectors.STAFF
        _refuse_unwritable(conversation, role, allow_dormant=is_staff)
        if moderated.verdict != Action.ALLOW.value:
            _strike(
                uc,
                actor,
                conversation,
                sender_key=sender_key,
                client_message_id=client_message_id,
                moderated=moderated,
            )
            if moderated.verdict == Action.BLOCK.value:
                audit.record(
                    MessageAction.BLOCKED,
                    conversation,
                    data={
                        "clientMessageId": client_message_id,
                        "digest": digest,
                        "reasons": moderated.reasons,
                    },
                    country_code=conversation.country_code,
                )
                blocked = True
        if not blocked:
            if is_staff:
                _staff_participant(conversation, actor)
                if conversation.state == ConversationState.DORMANT:
                    _activate(uc, conversation, reason=SystemActivationReason.STAFF, by=sender_key)
            redacted = moderated.verdict == Action.REDACT.value
            appended, parties = append_message_reading_parties(
                conversation,
                kind=MessageKind.STAFF if is_staff else MessageKind.USER,
                sender_role=role,
                body=moderated.delivered,
                original_body=body if redacted else "",
                client_message_id=client_message_id,
                request_digest=digest,
                actor=actor,
                verdict=moderated.verdict,
                reasons=moderated.reasons,
                fingerprint=moderated.fingerprint,
            )
            if appended is None:
                existing = _existing(conversation, client_message_id)
                assert existing is not None  # the insert met it under the conversation's lock
                return _original(existing, digest)
            message = appended
            # sent with the COMMIT (one round trip fewer): nothing here needs the row's id
            audit.record_at_commit(
                MessageAction.REDACTED if redacted else MessageAction.SENT,
                conversation,
                data={
                    "messageId": message.pk,
                    "seq": message.seq,
                    "clientMessageId": client_message_id,
                    "digest": digest,
                    "verdict": moderated.verdict,
                    "reasons": moderated.reasons,
                },
                country_code=conversation.country_code,
            )
            bridge.on_activity(
                uc=uc,
                conversation=conversation,
                trigger="message",
                seq=message.seq,
                sender_key=sender_key,
                online=online,
                parties=parties,
            )
            # Last: realtime holds its ordering lock from this call to the commit (the frame
            # sends the call with its COMMIT, decision 0021).
            publish_message(conversation, message)
    if blocked:
        raise MessageBlocked(details={"reasons": moderated.reasons, "verdict": "block"})
    return SendResult(message=message, created=True)


def render_send(actor: Principal, result: SendResult) -> dict[str, Any]:
    """The answer to a send, REST (201, or 200 for a retry) and WebSocket (``sent``) alike:
    the message as ``actor`` sees it, with its ``moderation``."""
    return selectors.render_message(actor, result.message)


# --- the realtime ``send`` frame ---------------------------------------------------------------

#: ``{"type": "send", "kind": "message.send", "ref": .., "conversationId": 12,
#: "clientMessageId": "c-1", "body": ".."}`` -- the REST body plus the conversation's id (which
#: REST carries in its URL)
SEND_FRAME_KIND = "message.send"
_FRAME_KEYS = frozenset({"conversationId", "clientMessageId", "body"})
#: the REST body's keys after the API's camelCase parser (snake_case)
_REST_KEYS = ("client_message_id", "body")


def send_input(data: object) -> tuple[Any, Any]:
    """``(clientMessageId, body)`` of a ``POST /api/conversations/{id}/messages`` body: a
    JSON object with both keys and no other (400 ``VALIDATION_ERROR`` field by field, like
    the frame's); their values are checked by ``message_send`` (one rule for both ways in)."""
    fields = only_keys(data, frozenset(_REST_KEYS))
    missing = {key: ["This field is required."] for key in _REST_KEYS if key not in fields}
    if missing:
        raise ValidationFailed(details=missing)
    return fields["client_message_id"], fields["body"]


def message_send_frame(principal: Principal, data: dict[str, Any]) -> Sent:
    """The realtime ``message.send`` frame: the same service, checks and rendering as
    ``POST /api/conversations/{id}/messages``. Unknown fields are 400 ``VALIDATION_ERROR``
    (the API's strict-input rule), a missing ``conversationId`` too; an id that is not a
    positive integer answers 404 ``NOT_FOUND_OR_NO_ACCESS`` like a URL naming no conversation;
    ``clientMessageId`` and ``body`` are checked by ``message_send`` itself. A retry (same
    clientMessageId, same body) is ``replayed``: the original message, nothing written."""
    body = only_keys(data, _FRAME_KEYS)
    if "conversationId" not in body:
        raise ValidationFailed(details={"conversationId": ["Required."]})
    result = message_send(
        actor=principal,
        conversation_id=check_conversation_id(body["conversationId"]),
        # any JSON value: ``message_send`` checks both (400 VALIDATION_ERROR, field by field)
        client_message_id=body.get("clientMessageId", ""),
        body=body.get("body", ""),
    )
    return Sent(data=render_send(principal, result), replayed=not result.created)


#: registered in ``MessagingConfig.ready`` (``realtime.contracts.register_send_handler``)
SEND_FRAME_HANDLERS: dict[str, SendHandler] = {SEND_FRAME_KIND: message_send_frame}
