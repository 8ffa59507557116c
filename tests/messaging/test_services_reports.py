"""Abuse reports: a party flags a message, staff resolve it (issue 14, Deliver 8)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import Event as AuditEvent
from aventide.accounts.tokens import sign_anonymous_id
from aventide.core.errors import DomainError
from messaging import services
from messaging.models import AbuseReport, Conversation
from realtime.models import Event as RealtimeEvent
from tests.accounts.factories import login_headers, principal
from tests.messaging.conftest import ChatWorld, make_staff, make_user

pytestmark = pytest.mark.django_db


def _chat_with_seller_message(chat: ChatWorld) -> tuple[Conversation, int]:
    """An active conversation (seq 1 is the activation) where the seller wrote seq 2."""
    conversation = chat.active()
    sent = chat.send(chat.p(chat.seller), conversation, "Si no pagás hoy vas a ver.")
    return conversation, sent.message.seq


def _report(actor: Any, conversation: Conversation, seq: int, reason: str = "harassment") -> Any:
    return services.conversation_report(
        actor=actor, conversation_id=conversation.pk, message_seq=seq, reason_code=reason
    )


def test_conversation_report_creates_the_flag_audit_and_staff_event(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    result = _report(chat.p(chat.buyer), conversation, seq)
    assert result.created
    report = AbuseReport.objects.get()
    assert report.pk == result.report.pk
    assert (report.source, report.status, report.reason_code) == ("report", "open", "harassment")
    assert report.country_code == "AR"
    assert report.message is not None and report.message.seq == seq
    assert report.reporter_key == f"user:{chat.buyer.pk}"
    row = AuditEvent.objects.get(action="conversation.reported")
    assert row.actor_level == "buyer"
    assert row.target_type == "conversation" and row.target_id == str(conversation.pk)
    assert row.data["reportId"] == report.pk and row.data["seq"] == seq
    assert row.data["reasonCode"] == "harassment"
    assert "pagás" not in str(row.data)  # ids and codes, never the text
    event = RealtimeEvent.objects.get(type="conversation.reported")
    assert event.payload["reportId"] == report.pk
    assert "reporter" not in str(event.payload).lower()  # the reported party never learns who


def test_conversation_report_event_reaches_staff_only(chat: ChatWorld) -> None:
    from realtime.models import InboxEntry

    conversation, seq = _chat_with_seller_message(chat)
    _report(chat.p(chat.buyer), conversation, seq)
    event = RealtimeEvent.objects.get(type="conversation.reported")
    audience = set(
        InboxEntry.objects.filter(event_id=event.pk).values_list("audience_key", flat=True)
    )
    assert audience == {"staff:AR"}


def test_conversation_report_repeat_returns_the_first_and_writes_nothing(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    first = _report(chat.p(chat.buyer), conversation, seq)
    counts = (AbuseReport.objects.count(), AuditEvent.objects.count())
    again = _report(chat.p(chat.buyer), conversation, seq, reason="spam")
    assert not again.created
    assert again.report.pk == first.report.pk
    assert again.report.reason_code == "harassment"
    assert (AbuseReport.objects.count(), AuditEvent.objects.count()) == counts


def test_conversation_report_each_party_reports_once(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    seq = chat.send(chat.p(chat.seller), conversation, "Dale, contestá ya.").message.seq
    _report(chat.p(chat.buyer), conversation, seq)
    anon = _report(chat.recipient(order), conversation, seq, reason="other")
    assert anon.created
    assert anon.report.reporter_key == f"anon:{order.recipient_anon_id}"
    assert AbuseReport.objects.filter(message__seq=seq).count() == 2


def test_conversation_report_refuses_your_own_message(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    with pytest.raises(DomainError) as exc:
        _report(chat.p(chat.seller), conversation, seq)
    assert (exc.value.code, exc.value.status) == ("MESSAGE_NOT_REPORTABLE", 422)
    assert not AbuseReport.objects.exists()
    assert not AuditEvent.objects.filter(action="conversation.reported").exists()


def test_conversation_report_refuses_a_system_message(chat: ChatWorld) -> None:
    conversation = chat.active()  # seq 1 is the activation's system message
    with pytest.raises(DomainError) as exc:
        _report(chat.p(chat.seller), conversation, 1)
    assert exc.value.code == "MESSAGE_NOT_REPORTABLE"


def test_conversation_report_unknown_seq_is_message_not_found(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    with pytest.raises(DomainError) as exc:
        _report(chat.p(chat.buyer), conversation, seq + 1)
    assert (exc.value.code, exc.value.status) == ("MESSAGE_NOT_FOUND", 404)


@pytest.mark.parametrize(("reason", "seq"), [("gossip", 2), ("", 2), ("spam", 0), ("spam", -1)])
def test_conversation_report_validates_reason_and_seq(
    chat: ChatWorld, reason: str, seq: int
) -> None:
    conversation, _ = _chat_with_seller_message(chat)
    with pytest.raises(DomainError) as exc:
        _report(chat.p(chat.buyer), conversation, seq, reason=reason)
    assert exc.value.code == "VALIDATION_ERROR"
    assert not AbuseReport.objects.exists()


def test_conversation_report_non_members_get_not_found(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    outsider = principal(make_user("outsider.report@t.test"))
    other_recipient = chat.recipient(chat.new_order())
    for actor in (outsider, other_recipient):
        with pytest.raises(DomainError) as exc:
            _report(actor, conversation, seq)
        assert (exc.value.code, exc.value.status) == ("NOT_FOUND_OR_NO_ACCESS", 404)
    with pytest.raises(DomainError) as missing:
        services.conversation_report(
            actor=chat.p(chat.buyer), conversation_id=10**9, message_seq=1, reason_code="spam"
        )
    assert missing.value.code == "NOT_FOUND_OR_NO_ACCESS"
    assert not AbuseReport.objects.exists()


def test_conversation_report_staff_do_not_file_reports(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    with pytest.raises(DomainError) as exc:
        _report(chat.staff_principal("L2"), conversation, seq)
    assert (exc.value.code, exc.value.status) == ("FORBIDDEN", 403)


def test_conversation_report_works_on_a_frozen_chat(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    services.conversation_freeze(actor=chat.staff_principal("L1"), conversation_id=conversation.pk)
    assert _report(chat.p(chat.buyer), conversation, seq).created


def test_conversation_report_query_budget(
    chat: ChatWorld, django_assert_max_num_queries: Any
) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    buyer = chat.p(chat.buyer)
    # savepoint pair, lock, message, existing report, insert, audit, realtime event + inbox,
    # the stream's previous event id
    with django_assert_max_num_queries(9):
        _report(buyer, conversation, seq)
    # a repeat: savepoint pair, lock, message, existing report
    with django_assert_max_num_queries(5):
        _report(buyer, conversation, seq)


# --- report_resolve ----------------------------------------------------------------------------


def test_report_resolve_by_staff_in_scope_is_audited_and_idempotent(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    report = _report(chat.p(chat.buyer), conversation, seq).report
    staff = chat.staff_principal("L1")
    resolved = services.report_resolve(actor=staff, report_id=report.pk)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    assert AbuseReport.objects.get(pk=report.pk).status == "resolved"
    row = AuditEvent.objects.get(action="conversation.report_resolved")
    assert (row.actor_id, row.actor_level) == (str(chat.staff["L1"].pk), "L1")
    assert row.target_id == str(conversation.pk) and row.data["reportId"] == report.pk
    again = services.report_resolve(actor=staff, report_id=report.pk)
    assert again.resolved_at == resolved.resolved_at
    assert AuditEvent.objects.filter(action="conversation.report_resolved").count() == 1


def test_report_resolve_out_of_scope_is_scope_violation_with_its_audit_row(
    chat: ChatWorld,
) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    report = _report(chat.p(chat.buyer), conversation, seq).report
    mx_staff = principal(make_staff("L3", ["MX"], "l3.mx.reports@t.test"))
    with pytest.raises(DomainError) as exc:
        services.report_resolve(actor=mx_staff, report_id=report.pk)
    assert exc.value.code == "SCOPE_VIOLATION"
    assert AuditEvent.objects.filter(action="scope.violation", actor_id=str(mx_staff.id)).exists()
    assert AbuseReport.objects.get(pk=report.pk).status == "open"


def test_report_resolve_parties_get_not_found(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    report = _report(chat.p(chat.buyer), conversation, seq).report
    with pytest.raises(DomainError) as exc:
        services.report_resolve(actor=chat.p(chat.buyer), report_id=report.pk)
    assert (exc.value.code, exc.value.status) == ("NOT_FOUND", 404)
    assert AbuseReport.objects.get(pk=report.pk).status == "open"


def test_report_resolve_closes_the_strikes_flag_too(chat: ChatWorld) -> None:
    conversation = chat.active()
    for n in range(3):
        with pytest.raises(DomainError):
            chat.send(chat.p(chat.buyer), conversation, f"pagame por fuera {n}, sin comisión")
    flag = AbuseReport.objects.get(source="strikes")
    services.report_resolve(actor=chat.staff_principal("L2"), report_id=flag.pk)
    assert AbuseReport.objects.get(pk=flag.pk).status == "resolved"


# --- the API -----------------------------------------------------------------------------------


def _client(user: Any) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**login_headers(user))
    return client


def test_report_api_201_then_200_with_the_same_report(chat: ChatWorld) -> None:
    conversation, seq = _chat_with_seller_message(chat)
    buyer = _client(chat.buyer)
    url = f"/api/conversations/{conversation.pk}/report"
    first = buyer.post(url, {"messageSeq": seq, "reasonCode": "off_platform"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["messageSeq"] == seq and body["reasonCode"] == "off_platform"
    assert body["status"] == "open" and body["conversationId"] == conversation.pk
    again = buyer.post(url, {"messageSeq": seq, "reasonCode": "off_platform"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_report_api_codes(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    seq = chat.send(chat.p(chat.seller), conversation, "hola").message.seq
    url = f"/api/conversations/{conversation.pk}/report"
    buyer = _client(chat.buyer)
    cases = [
        (buyer, {"messageSeq": seq, "reasonCode": "rude"}, 400, "VALIDATION_ERROR"),
        (buyer, {"messageSeq": "2", "reasonCode": "spam"}, 400, "VALIDATION_ERROR"),
        (buyer, {"messageSeq": seq, "reasonCode": "spam", "x": 1}, 400, "VALIDATION_ERROR"),
        (buyer, {"messageSeq": 99, "reasonCode": "spam"}, 404, "MESSAGE_NOT_FOUND"),
        (buyer, {"messageSeq": 1, "reasonCode": "spam"}, 422, "MESSAGE_NOT_REPORTABLE"),
        (_client(chat.seller), {"messageSeq": seq, "reasonCode": "spam"}, 422,
         "MESSAGE_NOT_REPORTABLE"),
        (_client(make_user("stranger.api@t.test")), {"messageSeq": seq, "reasonCode": "spam"},
         404, "NOT_FOUND_OR_NO_ACCESS"),
    ]  # fmt: skip
    for client, payload, status, code in cases:
        response = client.post(url, payload, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), payload
    assert not AbuseReport.objects.exists()


def test_report_api_anonymous_recipient_reports(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    seq = chat.send(chat.p(chat.seller), conversation, "hola").message.seq
    anon = chat.recipient(order)
    client = APIClient(raise_request_exception=False)
    client.credentials(
        HTTP_X_ANONYMOUS_ID=str(anon.anon_id),
        HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(anon.id),
    )
    response = client.post(
        f"/api/conversations/{conversation.pk}/report",
        {"messageSeq": seq, "reasonCode": "fraud"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert AbuseReport.objects.get().reporter_key == f"anon:{anon.anon_id}"


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_conversation_report_racing_repeats_make_one_report(countries: list[str]) -> None:
    """A double tap: the same party reports the same message from two requests at once. Both
    wait on the conversation's row lock; one creates the report, the other returns it."""
    from tests.concurrency import race

    chat = ChatWorld("AR")
    conversation, seq = _chat_with_seller_message(chat)
    buyer = chat.p(chat.buyer)

    def report() -> Any:
        result = _report(buyer, conversation, seq)
        return (result.report.pk, result.created)

    results = race(
        [report, report, report],
        "SELECT 1 FROM messaging_conversation WHERE id = %s FOR UPDATE",
        [conversation.pk],
    )
    report_id = AbuseReport.objects.get().pk
    assert sorted(results, key=str) == sorted(
        [(report_id, True), (report_id, False), (report_id, False)], key=str
    ), results
    assert AuditEvent.objects.filter(action="conversation.reported").count() == 1
