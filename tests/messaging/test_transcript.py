"""Transcript export: evidence a third party can verify (issue 14, Deliver 10)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from audit.models import Event as AuditEvent
from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM
from messaging import services
from messaging.models import Conversation
from messaging.services import transcripts
from tests.accounts.factories import principal
from tests.messaging.conftest import ChatWorld, make_staff

pytestmark = pytest.mark.django_db

PHONE_TEXT = "escribime al 11 4187-2290 y arreglamos"


def _recompute(document: dict[str, Any]) -> tuple[list[str], str]:
    """A third party's check, from the exported JSON alone and the documented canonical form
    (no project code)."""

    def canonical(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
            "ascii"
        )

    digests = []
    for message in document["messages"]:
        hashed = {k: v for k, v in message.items() if k != "sha256"}
        digests.append(hashlib.sha256(canonical(hashed)).hexdigest())
    overall = hashlib.sha256(
        canonical({"conversationId": document["conversationId"], "messages": digests})
    ).hexdigest()
    return digests, overall


def _busy_chat(chat: ChatWorld) -> tuple[Conversation, Any]:
    order = chat.new_order()
    conversation = chat.active(order)
    chat.send(chat.p(chat.buyer), conversation, "¿Llega hoy? <b>urgente</b>")
    chat.send(chat.p(chat.seller), conversation, PHONE_TEXT)
    chat.send(chat.recipient(order), conversation, "Estoy en casa")
    chat.send(chat.staff_principal("L1"), conversation, "Soporte: seguimos el envío.")
    return conversation, order


def test_conversation_transcript_has_every_message_and_verifiable_digests(
    chat: ChatWorld,
) -> None:
    conversation, order = _busy_chat(chat)
    transcript = services.conversation_transcript(
        actor=chat.staff_principal("L1"), conversation_id=conversation.pk
    )
    document = json.loads(transcript.as_json())
    assert document["format"] == "aventide.chat.transcript/1"
    assert (document["conversationId"], document["orderId"]) == (conversation.pk, order.pk)
    assert [m["seq"] for m in document["messages"]] == [1, 2, 3, 4, 5]
    assert [m["senderRole"] for m in document["messages"]] == [
        "system",
        "buyer",
        "seller",
        "recipient",
        "staff",
    ]
    redacted = document["messages"][2]
    assert redacted["verdict"] == "redact" and "CONTACT_PHONE" in redacted["reasons"]
    assert "4187" not in redacted["body"] and redacted["originalBody"] == PHONE_TEXT
    assert document["messages"][3]["sender"] == f"anon:{order.recipient_anon_id}"
    assert all(m["createdAt"].endswith("Z") for m in document["messages"])
    digests, overall = _recompute(document)
    assert digests == [m["sha256"] for m in document["messages"]]
    assert overall == document["digest"] == transcript.digest


def test_conversation_transcript_digest_changes_if_any_message_changes(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    document = services.conversation_transcript(
        actor=chat.staff_principal("L2"), conversation_id=conversation.pk
    ).as_dict()
    _, original = _recompute(document)
    assert original == document["digest"]
    alterations = [
        ("body", "¿Llega mañana?"),
        ("originalBody", "otra cosa"),
        ("verdict", "allow"),
        ("reasons", []),
        ("senderRole", "seller"),
        ("createdAt", "2026-01-01T00:00:00.000000Z"),
        ("seq", 99),
    ]
    for index in range(len(document["messages"])):
        for key, value in alterations:
            tampered = copy.deepcopy(document)
            if tampered["messages"][index][key] == value:
                continue
            tampered["messages"][index][key] = value
            digests, overall = _recompute(tampered)
            assert digests[index] != document["messages"][index]["sha256"], (index, key)
            assert overall != document["digest"], (index, key)
    dropped = copy.deepcopy(document)
    del dropped["messages"][1]
    assert _recompute(dropped)[1] != document["digest"]
    swapped = copy.deepcopy(document)
    swapped["messages"][1], swapped["messages"][2] = swapped["messages"][2], swapped["messages"][1]
    assert _recompute(swapped)[1] != document["digest"]
    # the project's own helpers agree with the third party's recomputation
    message = document["messages"][1]
    assert transcripts.message_digest(message) == message["sha256"]


def test_conversation_transcript_digest_is_stable_and_follows_new_messages(
    chat: ChatWorld,
) -> None:
    conversation, _ = _busy_chat(chat)
    staff = chat.staff_principal("L1")
    first = services.conversation_transcript(actor=staff, conversation_id=conversation.pk)
    second = services.conversation_transcript(actor=staff, conversation_id=conversation.pk)
    assert first.digest == second.digest  # the export time is not hashed
    chat.send(chat.p(chat.buyer), conversation, "una más")
    third = services.conversation_transcript(actor=staff, conversation_id=conversation.pk)
    assert third.digest != first.digest
    assert third.messages[:5] == first.messages


def test_conversation_transcript_carries_receipt_watermarks(chat: ChatWorld) -> None:
    conversation, order = _busy_chat(chat)
    transcript = services.conversation_transcript(
        actor=chat.staff_principal("L1"), conversation_id=conversation.pk
    )
    members = {p["member"]: p for p in transcript.participants}
    assert {p["role"] for p in transcript.participants} == {
        "buyer",
        "seller",
        "recipient",
        "staff",
    }
    assert f"anon:{order.recipient_anon_id}" in members
    for participant in transcript.participants:
        assert 0 <= participant["readUpToSeq"] <= participant["deliveredUpToSeq"]
        assert participant["deliveredUpToSeq"] <= transcript.last_seq


def test_conversation_transcript_export_is_audited_with_its_digest(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    transcript = services.conversation_transcript(
        actor=chat.staff_principal("L3"), conversation_id=conversation.pk, export_format="html"
    )
    (row,) = AuditEvent.objects.filter(action="conversation.transcript_exported")
    assert (row.actor_id, row.actor_level) == (str(chat.staff["L3"].pk), "L3")
    assert (row.target_type, row.target_id) == ("conversation", str(conversation.pk))
    assert row.data == {
        "digest": transcript.digest,
        "messageCount": 5,
        "lastSeq": 5,
        "format": "html",
    }
    assert "4187" not in str(row.data)


def test_conversation_transcript_out_of_scope_staff_refused_and_audited(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    mx = principal(make_staff("L3", ["MX"], "l3.mx.transcript@t.test"))
    with pytest.raises(DomainError) as exc:
        services.conversation_transcript(actor=mx, conversation_id=conversation.pk)
    assert (exc.value.code, exc.value.status) == ("SCOPE_VIOLATION", 403)
    (violation,) = AuditEvent.objects.filter(action="scope.violation", actor_id=mx.id)
    assert violation.data["attempted"] == "conversation.transcript_export"
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()


def test_conversation_transcript_parties_get_not_found(chat: ChatWorld) -> None:
    conversation, order = _busy_chat(chat)
    for party in (chat.p(chat.buyer), chat.p(chat.seller), chat.recipient(order)):
        with pytest.raises(DomainError) as exc:
            services.conversation_transcript(actor=party, conversation_id=conversation.pk)
        assert (exc.value.code, exc.value.status) == ("NOT_FOUND_OR_NO_ACCESS", 404)
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()


def test_conversation_transcript_by_the_system_for_evidence_bundles(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    transcript = services.conversation_transcript(actor=SYSTEM, conversation_id=conversation.pk)
    assert len(transcript.messages) == 5
    (row,) = AuditEvent.objects.filter(action="conversation.transcript_exported")
    assert row.actor_level == "L0"


def test_conversation_transcript_html_is_escaped_and_printable(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    transcript = services.conversation_transcript(
        actor=chat.staff_principal("L1"), conversation_id=conversation.pk
    )
    html = transcript.as_html()
    assert "&lt;b&gt;urgente&lt;/b&gt;" in html and "<b>urgente</b>" not in html
    assert transcript.digest in html
    assert PHONE_TEXT in html  # staff's evidence shows the original
    for message in transcript.messages:
        assert message["sha256"] in html


def test_conversation_transcript_query_budget(
    chat: ChatWorld, django_assert_max_num_queries: Any
) -> None:
    conversation, _ = _busy_chat(chat)
    staff = chat.staff_principal("L1")
    # savepoint pair, lock, messages, participants, audit -- whatever the message count
    with django_assert_max_num_queries(6):
        services.conversation_transcript(actor=staff, conversation_id=conversation.pk)
    words = ["hola", "gracias", "¿cuándo?", "perfecto", "dale", "ok", "bien", "listo", "sí", "no"]
    for word in words:
        chat.send(chat.p(chat.buyer), conversation, word)
    with django_assert_max_num_queries(6):
        services.conversation_transcript(actor=staff, conversation_id=conversation.pk)


def test_conversation_transcript_unknown_format_refused(chat: ChatWorld) -> None:
    conversation, _ = _busy_chat(chat)
    with pytest.raises(DomainError) as exc:
        services.conversation_transcript(
            actor=chat.staff_principal("L1"), conversation_id=conversation.pk, export_format="pdf"
        )
    assert exc.value.code == "VALIDATION_ERROR"
