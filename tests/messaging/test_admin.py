"""The chat's staff console: scoped by country, read-only, actions through the services
(issue 14, Deliver 12). Logged in as staff with the Django test client."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Event as AuditEvent
from aventide.accounts.models import User
from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM
from messaging import services
from messaging.models import AbuseReport, Conversation, Message
from tests.messaging.conftest import ChatWorld, make_staff

pytestmark = pytest.mark.django_db

PHONE_TEXT = "escribime al 11 4187-2290 y arreglamos"
CHANGELIST = "admin:messaging_conversation_changelist"


def staff_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _mx_staff() -> User:
    return make_staff("L3", ["MX"], "l3.mx.chatadmin@t.test")


def _state(conversation: Conversation) -> str:
    return Conversation.objects.get(pk=conversation.pk).state


def _action(client: Client, action: str, *ids: int, url: str = CHANGELIST) -> Any:
    return client.post(
        reverse(url), {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True
    )


def _messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_conversation_admin_is_scoped_by_country(chat: ChatWorld) -> None:
    conversation = chat.active()
    l1 = staff_client(chat.staff["L1"])
    listing = l1.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert [c.pk for c in listing.context["cl"].result_list] == [conversation.pk]
    mx = staff_client(_mx_staff())
    assert mx.get(reverse(CHANGELIST)).context["cl"].result_count == 0
    change = mx.get(reverse("admin:messaging_conversation_change", args=[conversation.pk]))
    assert change.status_code in (302, 403, 404)


def test_conversation_admin_page_shows_messages_verdicts_and_originals(chat: ChatWorld) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.seller), conversation, PHONE_TEXT)
    page = staff_client(chat.staff["L1"]).get(
        reverse("admin:messaging_conversation_change", args=[conversation.pk])
    )
    assert page.status_code == 200
    content = page.content.decode()
    assert "redact" in content and "CONTACT_PHONE" in content
    assert PHONE_TEXT in content  # the original, staff only
    assert "transcript-json" in content and "transcript-html" in content
    assert 'name="state"' not in content  # read-only: no form field for the state


def test_conversation_admin_cannot_change_state_by_posting_the_form(chat: ChatWorld) -> None:
    conversation = chat.active()
    url = reverse("admin:messaging_conversation_change", args=[conversation.pk])
    response = staff_client(chat.staff["L3"]).post(url, {"state": "closed"})
    assert response.status_code in (302, 403)
    assert _state(conversation) == "active"


def test_conversation_admin_freeze_unfreeze_close_go_through_the_services(
    chat: ChatWorld,
) -> None:
    conversation = chat.active()
    client = staff_client(chat.staff["L1"])
    frozen = _action(client, "freeze_conversations", conversation.pk)
    assert "1 conversation(s) frozen." in _messages_of(frozen)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.state, stored.freeze_reason) == ("frozen", "FROZEN_STAFF")
    row = AuditEvent.objects.get(action="conversation.frozen")
    assert (row.actor_id, row.actor_level) == (str(chat.staff["L1"].pk), "L1")

    _action(client, "unfreeze_conversations", conversation.pk)
    assert _state(conversation) == "active"
    assert AuditEvent.objects.filter(action="conversation.unfrozen").count() == 1

    _action(client, "close_conversations", conversation.pk)
    assert _state(conversation) == "closed"
    closed = AuditEvent.objects.get(action="conversation.closed")
    assert closed.data["reason"] == "closed by staff"


def test_conversation_admin_shows_a_refusal_with_its_code(chat: ChatWorld) -> None:
    conversation = chat.active()
    services.conversation_close(actor=SYSTEM, conversation_id=conversation.pk)
    response = _action(staff_client(chat.staff["L2"]), "freeze_conversations", conversation.pk)
    assert response.status_code == 200
    (text,) = _messages_of(response)
    assert text.startswith(f"conversation {conversation.pk}: CONVERSATION_CLOSED")
    assert _state(conversation) == "closed"


def test_conversation_admin_actions_never_reach_other_countries(chat: ChatWorld) -> None:
    conversation = chat.active()
    _action(staff_client(_mx_staff()), "freeze_conversations", conversation.pk)
    assert _state(conversation) == "active"
    assert not AuditEvent.objects.filter(action="conversation.frozen").exists()


def test_conversation_admin_transcript_json_download_is_audited(chat: ChatWorld) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.seller), conversation, PHONE_TEXT)
    url = reverse("admin:messaging_conversation_transcript", args=[conversation.pk, "json"])
    response = staff_client(chat.staff["L1"]).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    document = json.loads(response.content)
    assert [m["seq"] for m in document["messages"]] == [1, 2]
    assert document["messages"][1]["originalBody"] == PHONE_TEXT
    canonical = json.dumps(
        {
            "conversationId": conversation.pk,
            "messages": [m["sha256"] for m in document["messages"]],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    assert hashlib.sha256(canonical.encode("ascii")).hexdigest() == document["digest"]
    assert response["X-Transcript-Digest"] == document["digest"]
    row = AuditEvent.objects.get(action="conversation.transcript_exported")
    assert row.data["digest"] == document["digest"] and row.data["format"] == "json"
    assert row.actor_id == str(chat.staff["L1"].pk)


def test_conversation_admin_transcript_html_is_printable_and_escaped(chat: ChatWorld) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "<script>alert(1)</script> ¿llega?")
    url = reverse("admin:messaging_conversation_transcript", args=[conversation.pk, "html"])
    response = staff_client(chat.staff["L2"]).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    content = response.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    row = AuditEvent.objects.get(action="conversation.transcript_exported")
    assert row.data["format"] == "html" and row.data["digest"] in content


def test_conversation_admin_transcript_of_another_country_is_404(chat: ChatWorld) -> None:
    conversation = chat.active()
    url = reverse("admin:messaging_conversation_transcript", args=[conversation.pk, "json"])
    assert staff_client(_mx_staff()).get(url).status_code == 404
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()


def test_conversation_admin_export_action_downloads_one(chat: ChatWorld) -> None:
    one, two = chat.active(), chat.active()
    client = staff_client(chat.staff["L1"])
    response = client.post(
        reverse(CHANGELIST),
        {"action": "export_transcript_json", "_selected_action": [str(one.pk)]},
    )
    assert response.status_code == 200
    assert json.loads(response.content)["conversationId"] == one.pk
    both = _action(client, "export_transcript_json", one.pk, two.pk)
    assert "Select exactly one conversation to export." in _messages_of(both)
    assert AuditEvent.objects.filter(action="conversation.transcript_exported").count() == 1


def test_message_admin_lists_verdicts_read_only_and_scoped(chat: ChatWorld) -> None:
    conversation = chat.active()
    redacted = chat.send(chat.p(chat.seller), conversation, PHONE_TEXT).message
    url = reverse("admin:messaging_message_changelist")
    listing = staff_client(chat.staff["L1"]).get(url, {"verdict__exact": "redact"})
    assert listing.status_code == 200
    assert [m.pk for m in listing.context["cl"].result_list] == [redacted.pk]
    detail = staff_client(chat.staff["L1"]).get(
        reverse("admin:messaging_message_change", args=[redacted.pk])
    )
    assert detail.status_code == 200 and PHONE_TEXT in detail.content.decode()
    assert b'name="body"' not in detail.content
    assert staff_client(_mx_staff()).get(url).context["cl"].result_count == 0
    assert Message.objects.get(pk=redacted.pk).body == redacted.body


def test_strike_admin_lists_strikes_per_sender(chat: ChatWorld) -> None:
    conversation = chat.active()
    for text in (PHONE_TEXT, "mi mail es vendedor@gmail.com escribime"):
        chat.send(chat.p(chat.seller), conversation, text)
    url = reverse("admin:messaging_strike_changelist")
    listing = staff_client(chat.staff["L1"]).get(url, {"q": f"user:{chat.seller.pk}"})
    assert listing.status_code == 200
    rows = listing.context["cl"].result_list
    assert len(rows) == 2
    assert {r.sender_key for r in rows} == {f"user:{chat.seller.pk}"}
    assert {r.sender_strike_count for r in rows} == {2}
    assert staff_client(_mx_staff()).get(url).context["cl"].result_count == 0


def _reported(chat: ChatWorld) -> tuple[AbuseReport, AbuseReport]:
    conversation = chat.active()
    older = chat.send(chat.p(chat.seller), conversation, "Contestá ya.").message
    newer = chat.send(chat.p(chat.seller), conversation, "Te estoy esperando.").message
    first = services.conversation_report(
        actor=chat.p(chat.buyer),
        conversation_id=conversation.pk,
        message_seq=older.seq,
        reason_code="harassment",
    ).report
    second = services.conversation_report(
        actor=chat.p(chat.buyer),
        conversation_id=conversation.pk,
        message_seq=newer.seq,
        reason_code="other",
    ).report
    return first, second


def test_report_admin_queue_open_first_and_resolve_action(chat: ChatWorld) -> None:
    first, second = _reported(chat)
    client = staff_client(chat.staff["L1"])
    url = "admin:messaging_abusereport_changelist"
    resolved = _action(client, "resolve_reports", second.pk, url=url)
    assert "1 report(s) resolved." in _messages_of(resolved)
    assert AbuseReport.objects.get(pk=second.pk).status == "resolved"
    row = AuditEvent.objects.get(action="conversation.report_resolved")
    assert row.data["reportId"] == second.pk and row.actor_level == "L1"
    queue = client.get(reverse(url))
    assert [r.pk for r in queue.context["cl"].result_list] == [first.pk, second.pk]
    assert "Contestá ya." in queue.content.decode()
    assert staff_client(_mx_staff()).get(reverse(url)).context["cl"].result_count == 0


def test_report_admin_resolve_never_reaches_other_countries(chat: ChatWorld) -> None:
    first, _ = _reported(chat)
    _action(
        staff_client(_mx_staff()),
        "resolve_reports",
        first.pk,
        url="admin:messaging_abusereport_changelist",
    )
    assert AbuseReport.objects.get(pk=first.pk).status == "open"


def test_chat_admin_is_closed_to_parties(chat: ChatWorld) -> None:
    conversation = chat.active()
    party = staff_client(chat.buyer)
    for name in (CHANGELIST, "admin:messaging_abusereport_changelist"):
        assert party.get(reverse(name)).status_code == 302  # to the admin login
    url = reverse("admin:messaging_conversation_transcript", args=[conversation.pk, "json"])
    assert party.get(url).status_code == 302
    assert not AuditEvent.objects.filter(action="conversation.transcript_exported").exists()


def test_every_staff_level_reads_the_chat_admin(chat: ChatWorld) -> None:
    chat.active()
    for level in ("L1", "L2", "L3"):
        client = staff_client(chat.staff[level])
        for model in ("conversation", "message", "strike", "abusereport"):
            response = client.get(reverse(f"admin:messaging_{model}_changelist"))
            assert response.status_code == 200, (level, model)


def test_admin_freeze_of_a_conversation_with_a_domain_error_keeps_others_going(
    chat: ChatWorld,
) -> None:
    ok, closed = chat.active(), chat.active()
    services.conversation_close(actor=SYSTEM, conversation_id=closed.pk)
    response = _action(staff_client(chat.staff["L1"]), "freeze_conversations", ok.pk, closed.pk)
    texts = _messages_of(response)
    assert any("CONVERSATION_CLOSED" in t for t in texts)
    assert "1 conversation(s) frozen." in texts
    assert _state(ok) == "frozen"
    with pytest.raises(DomainError):
        chat.send(chat.p(chat.buyer), ok, "hola")


def test_chat_admin_lists_cost_the_same_for_more_rows(chat: ChatWorld) -> None:
    """No per-row queries: open-report counts, strike counts and the reported message come
    with the page's one query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = staff_client(chat.staff["L1"])
    names = [
        CHANGELIST,
        "admin:messaging_message_changelist",
        "admin:messaging_strike_changelist",
        "admin:messaging_abusereport_changelist",
    ]

    def costs() -> list[int]:
        out = []
        for name in names:
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse(name)).status_code == 200
            out.append(len(ctx.captured_queries))
        return out

    def add_rows() -> None:
        _reported(chat)  # a conversation, two messages, two reports
        conversation = chat.active()
        chat.send(chat.p(chat.seller), conversation, PHONE_TEXT)  # a strike

    add_rows()
    few = costs()
    for _ in range(3):
        add_rows()
    assert costs() == few
