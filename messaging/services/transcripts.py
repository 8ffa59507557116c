"""Transcript export: a conversation as evidence (JSON, or printable HTML), each export audited.

``conversation_transcript(*, actor, conversation_id)`` -- staff in the conversation's country
(any level, L1 and up; the system too, for dispute evidence bundles) -- returns a
``Transcript``: every message in seq order with its own SHA-256, the receipt watermarks per
participant, and one overall digest. It writes ``conversation.transcript_exported`` with
that digest (never text). Parties get 404 ``NOT_FOUND_OR_NO_ACCESS``; staff out of scope
403 ``SCOPE_VIOLATION`` (audited); staff without a level 403 ``STAFF_LEVEL_REQUIRED``.

The canonical form (so a third party can recompute every digest from the JSON alone):

- a message's hashed fields are exactly ``MESSAGE_FIELDS`` (the JSON's message object minus
  ``sha256``): ``conversationId`` (int), ``seq`` (int), ``kind``, ``senderRole``, ``sender``
  (``user:<id>``, ``anon:<uuid>`` or ``system``), ``clientMessageId``, ``createdAt`` (UTC,
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), ``verdict``, ``reasons`` (list of codes, stored order),
  ``body`` (the delivered text), ``originalBody`` (the text as sent: equal to ``body`` unless
  moderation redacted it);
- canonical JSON = ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=True)``; a digest is the lowercase hex SHA-256 of its ASCII bytes;
- ``message sha256`` = digest(canonical JSON of the message's hashed fields);
- ``digest`` (overall) = digest(canonical JSON of
  ``{"conversationId": <id>, "messages": [<message sha256>, ... in seq order]}``).

The export time, the exporter and the watermarks are not hashed: two exports of an unchanged
conversation carry the same digest, and any change to any message changes it.

Locks: the conversation row (``FOR UPDATE``) for the read, so no send slips in between the
seq and the messages read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import use_case
from aventide.core.errors import ValidationFailed
from aventide.core.principal import Principal
from messaging import selectors
from messaging.audit_actions import ConversationAction
from messaging.errors import ConversationNotFound
from messaging.models import Conversation, Message, Participant

FORMAT = "aventide.chat.transcript/1"
EXPORT_FORMATS = ("json", "html")

MESSAGE_FIELDS = (
    "conversationId",
    "seq",
    "kind",
    "senderRole",
    "sender",
    "clientMessageId",
    "createdAt",
    "verdict",
    "reasons",
    "body",
    "originalBody",
)


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a plain JSON value (see the module docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_digest(message: dict[str, Any]) -> str:
    """SHA-256 of a message's hashed fields (extra keys such as ``sha256`` are ignored)."""
    return sha256_hex(canonical_json({name: message[name] for name in MESSAGE_FIELDS}))


def transcript_digest(conversation_id: int, message_digests: list[str]) -> str:
    """The overall digest over the ordered message digests and the conversation id."""
    return sha256_hex(
        canonical_json({"conversationId": conversation_id, "messages": list(message_digests)})
    )


def message_entry(message: Message) -> dict[str, Any]:
    """One message of the transcript: its hashed fields and its ``sha256``."""
    entry: dict[str, Any] = {
        "conversationId": message.conversation_id,
        "seq": message.seq,
        "kind": message.kind,
        "senderRole": message.sender_role,
        "sender": message.sender_key,
        "clientMessageId": message.client_message_id,
        "createdAt": format_time(message.created_at),
        "verdict": message.verdict,
        "reasons": [str(r) for r in (message.reasons or [])],
        "body": message.body,
        "originalBody": message.original_body or message.body,
    }
    entry["sha256"] = message_digest(entry)
    return entry


@dataclass(frozen=True)
class Transcript:
    conversation_id: int
    order_id: int
    country_code: str
    state: str
    last_seq: int
    exported_at: dt.datetime
    exported_by: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (camelCase keys)."""
        return {
            "format": FORMAT,
            "conversationId": self.conversation_id,
            "orderId": self.order_id,
            "countryCode": self.country_code,
            "state": self.state,
            "lastSeq": self.last_seq,
            "exportedAt": format_time(self.exported_at),
            "exportedBy": self.exported_by,
            "digestAlgorithm": "sha256",
            "digest": self.digest,
            "participants": self.participants,
            "messages": self.messages,
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def as_html(self) -> str:
        """The printable view (Django template, autoescaped: message text is never markup)."""
        return render_to_string("messaging/transcript.html", {"t": self.as_dict()})


def _participant_entry(participant: Participant) -> dict[str, Any]:
    return {
        "role": participant.role,
        "member": participant.audience_key,
        "deliveredUpToSeq": participant.delivered_up_to_seq,
        "readUpToSeq": participant.read_up_to_seq,
    }


def conversation_transcript(
    *, actor: Principal, conversation_id: int, export_format: str = "json"
) -> Transcript:
    """The conversation's transcript (see the module docstring); ``export_format`` (``json`` or
    ``html``) is only recorded in the audit row. 4 statements: lock, messages, participants,
    audit."""
    if export_format not in EXPORT_FORMATS:
        raise ValidationFailed(details={"format": [f"One of: {', '.join(EXPORT_FORMATS)}."]})
    with use_case(actor) as uc:
        conversation = uc.lock(Conversation.objects.filter(pk=conversation_id))
        if conversation is None or not (actor.is_staff or actor.is_system):
            raise ConversationNotFound()
        if actor.is_staff:
            uc.require_scope(
                conversation.country_code,
                action="conversation.transcript_export",
                target=conversation,
            )
            uc.require_level("L1")
        uc.act_as(actor.level)
        messages = [
            message_entry(m)
            for m in Message.objects.filter(conversation_id=conversation.pk)
            .order_by("seq")
            .iterator(chunk_size=500)
        ]
        participants = [
            _participant_entry(p)
            for p in Participant.objects.filter(conversation_id=conversation.pk).order_by("pk")
        ]
        digest = transcript_digest(conversation.pk, [m["sha256"] for m in messages])
        audit.record(
            ConversationAction.TRANSCRIPT_EXPORTED,
            conversation,
            data={
                "digest": digest,
                "messageCount": len(messages),
                "lastSeq": conversation.last_seq,
                "format": export_format,
            },
            country_code=conversation.country_code,
        )
        return Transcript(
            conversation_id=conversation.pk,
            order_id=conversation.order_id,
            country_code=conversation.country_code,
            state=conversation.state,
            last_seq=conversation.last_seq,
            exported_at=timezone.now(),
            exported_by=selectors.actor_key(actor),
            messages=messages,
            participants=participants,
            digest=digest,
        )


__all__ = [
    "EXPORT_FORMATS",
    "FORMAT",
    "MESSAGE_FIELDS",
    "Transcript",
    "canonical_json",
    "conversation_transcript",
    "message_digest",
    "message_entry",
    "transcript_digest",
]
