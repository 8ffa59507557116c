"""Receipts (``message_ack``) and reconcile, through the services and the REST API (issue 14,
Deliver 5 and 6): monotonic watermarks on the caller's participant row, the receipt event,
the refusals with their codes -- each counted in ``METRIC_CHAT_ACK_FAILURE`` -- and a failing
ack that leaves sending alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import Event as AuditEvent
from aventide.accounts.models import User
from aventide.accounts.tokens import sign_anonymous_id
from aventide.core import metrics
from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM, Principal
from aventide.orders.models import Order
from messaging import services
from messaging.models import Conversation, Participant
from messaging.services import receipts
from realtime import contracts
from realtime import services as realtime_services
from realtime.models import Event as RealtimeEvent
from realtime.models import InboxEntry
from tests.accounts.factories import login_headers, principal
from tests.messaging.conftest import ChatWorld, make_staff, make_user

pytestmark = pytest.mark.django_db

METRIC = receipts.METRIC_CHAT_ACK_FAILURE
#: distinct texts (moderation blocks the same normalised text repeated as spam)
BODIES = (
    "¿Llega hoy o mañana?",
    "¿El timbre es el 3B?",
    "Avisame cuando salga el paquete",
    "¿Pueden dejarlo en portería?",
    "Gracias por la respuesta",
    "¿Viene con tarjeta de regalo?",
)


def failures(flow: str, code: str) -> float:
    return metrics.count_of(METRIC, flow=flow, code=code)


class Counted:
    """How many ``METRIC_CHAT_ACK_FAILURE {flow, code}`` a block emitted."""

    def __init__(self, flow: str, code: str) -> None:
        self.flow, self.code = flow, code

    def __enter__(self) -> Counted:
        self.before = failures(self.flow, self.code)
        return self

    def __exit__(self, *exc: object) -> None:
        self.delta = failures(self.flow, self.code) - self.before


def conversation_with(chat: ChatWorld, messages: int = 3) -> Conversation:
    """An active chat (seq 1 is the activation's system message) plus ``messages`` from the
    buyer: ``last_seq == messages + 1``."""
    conversation = chat.active()
    for n in range(messages):
        chat.send(chat.p(chat.buyer), conversation, BODIES[n])
    conversation.refresh_from_db()
    assert conversation.last_seq == messages + 1
    return conversation


def ack(actor: Principal, conversation: Conversation, kind: str, up_to: Any) -> receipts.Receipt:
    return services.message_ack(
        actor=actor, conversation_id=conversation.pk, kind=kind, up_to_seq=up_to
    )


def row(conversation: Conversation, role: str) -> Participant:
    return Participant.objects.get(conversation=conversation, role=role)


def receipt_events(conversation: Conversation) -> list[dict[str, Any]]:
    return list(
        RealtimeEvent.objects.filter(stream=conversation.stream, type="message.receipt")
        .order_by("id")
        .values_list("payload", flat=True)
    )


# --- message_ack -------------------------------------------------------------------------------


def test_message_ack_delivered_moves_the_watermark_and_publishes_a_receipt(
    chat: ChatWorld,
) -> None:
    conversation = conversation_with(chat)
    result = ack(chat.p(chat.seller), conversation, "delivered", 3)
    assert (result.role, result.delivered_up_to_seq, result.read_up_to_seq) == ("seller", 3, 0)
    assert result.moved and result.last_seq == 4
    seller = row(conversation, "seller")
    assert (seller.delivered_up_to_seq, seller.read_up_to_seq) == (3, 0)
    assert row(conversation, "buyer").delivered_up_to_seq == 0  # only the caller's row
    assert receipt_events(conversation) == [
        {
            "conversationId": conversation.pk,
            "role": "seller",
            "deliveredUpToSeq": 3,
            "readUpToSeq": 0,
        }
    ]
    event = RealtimeEvent.objects.get(type="message.receipt")
    keys = set(InboxEntry.objects.filter(event=event).values_list("audience_key", flat=True))
    assert keys == {
        f"user:{chat.buyer.pk}",
        f"user:{chat.seller.pk}",
        f"anon:{conversation.recipient_anon_id}",
        "staff:AR",
    }


def test_message_ack_read_raises_delivered_too(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    result = ack(chat.p(chat.seller), conversation, "read", 4)
    assert (result.delivered_up_to_seq, result.read_up_to_seq) == (4, 4)
    seller = row(conversation, "seller")
    assert (seller.delivered_up_to_seq, seller.read_up_to_seq) == (4, 4)


def test_message_ack_older_or_repeated_is_a_noop_answering_the_current_state(
    chat: ChatWorld,
) -> None:
    conversation = conversation_with(chat)
    ack(chat.p(chat.seller), conversation, "read", 3)
    events = len(receipt_events(conversation))
    older = ack(chat.p(chat.seller), conversation, "delivered", 1)
    again = ack(chat.p(chat.seller), conversation, "read", 3)
    lower_read = ack(chat.p(chat.seller), conversation, "read", 2)
    for result in (older, again, lower_read):
        assert (result.delivered_up_to_seq, result.read_up_to_seq, result.moved) == (3, 3, False)
    assert len(receipt_events(conversation)) == events  # nothing moved: no event
    delivered_more = ack(chat.p(chat.seller), conversation, "delivered", 4)
    assert (delivered_more.delivered_up_to_seq, delivered_more.read_up_to_seq) == (4, 3)


def test_message_ack_writes_no_audit_row(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    before = AuditEvent.objects.count()
    ack(chat.p(chat.seller), conversation, "read", 4)
    assert AuditEvent.objects.count() == before


def test_message_ack_by_the_anonymous_recipient(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    chat.send(chat.p(chat.seller), conversation, "Sale hoy a la tarde")
    result = ack(chat.recipient(order), conversation, "read", 2)
    assert (result.role, result.read_up_to_seq) == ("recipient", 2)
    assert row(conversation, "recipient").read_up_to_seq == 2


def test_message_ack_is_accepted_in_a_frozen_chat(chat: ChatWorld) -> None:
    conversation = conversation_with(chat, messages=1)
    services.conversation_freeze(actor=chat.staff_principal("L2"), conversation_id=conversation.pk)
    result = ack(chat.p(chat.seller), conversation, "read", 2)
    assert result.read_up_to_seq == 2


def test_message_ack_zero_is_a_valid_noop(chat: ChatWorld) -> None:
    conversation = chat.conversation(chat.new_order())  # dormant, last_seq 0
    result = ack(chat.p(chat.buyer), conversation, "read", 0)
    assert (result.delivered_up_to_seq, result.read_up_to_seq, result.moved) == (0, 0, False)


@pytest.mark.parametrize(
    ("kind", "up_to", "flow"),
    [
        ("delivered", 5, "ack_delivered"),  # last_seq is 4
        ("read", 10**30, "ack_read"),
        ("delivered", -1, "ack_delivered"),
        ("read", "3", "ack_read"),
        ("read", 2.0, "ack_read"),
        ("delivered", True, "ack_delivered"),
        ("delivered", None, "ack_delivered"),
        ("seen", 1, "ack_unknown"),
    ],
)
def test_message_ack_invalid_is_invalid_ack_counted_and_changes_nothing(
    chat: ChatWorld, kind: str, up_to: Any, flow: str
) -> None:
    conversation = conversation_with(chat)
    ack(chat.p(chat.seller), conversation, "delivered", 1)
    with Counted(flow, "INVALID_ACK") as counted, pytest.raises(DomainError) as exc:
        ack(chat.p(chat.seller), conversation, kind, up_to)
    assert (exc.value.code, exc.value.status) == ("INVALID_ACK", 400)
    assert counted.delta == 1
    seller = row(conversation, "seller")
    assert (seller.delivered_up_to_seq, seller.read_up_to_seq) == (1, 0)


def test_message_ack_by_a_non_member_is_not_found_and_counted(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    stranger = principal(make_user("stranger@t.test"))
    other_order = chat.new_order()
    other_recipient = chat.recipient(other_order)
    for actor, kind, flow in (
        (stranger, "read", "ack_read"),
        (other_recipient, "delivered", "ack_delivered"),
    ):
        with Counted(flow, "NOT_FOUND_OR_NO_ACCESS") as counted, pytest.raises(DomainError) as e:
            ack(actor, conversation, kind, 1)
        assert (e.value.code, e.value.status) == ("NOT_FOUND_OR_NO_ACCESS", 404)
        assert counted.delta == 1
    for unknown_id in (10**9, 2**63, 0):  # 2**63: past bigint, still a plain not-found
        with Counted("ack_read", "NOT_FOUND_OR_NO_ACCESS") as counted, pytest.raises(DomainError):
            services.message_ack(
                actor=chat.p(chat.seller), conversation_id=unknown_id, kind="read", up_to_seq=0
            )
        assert counted.delta == 1
    assert not receipt_events(conversation)


def test_message_ack_by_staff_who_never_posted_is_a_noop(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    staff = chat.staff_principal("L1")
    result = ack(staff, conversation, "read", 4)
    assert (result.role, result.delivered_up_to_seq, result.read_up_to_seq) == ("staff", 0, 0)
    assert not result.moved
    assert not Participant.objects.filter(conversation=conversation, role="staff").exists()
    assert not receipt_events(conversation)
    with pytest.raises(DomainError) as exc:
        ack(staff, conversation, "read", 5)  # still checked against last_seq
    assert exc.value.code == "INVALID_ACK"


def test_message_ack_by_staff_who_posted_moves_their_row(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    staff = chat.staff_principal("L1")
    chat.send(staff, conversation, "Soporte: estamos revisando el envío.")
    result = ack(staff, conversation, "read", 5)
    assert (result.role, result.read_up_to_seq, result.moved) == ("staff", 5, True)
    assert receipt_events(conversation)[-1]["role"] == "staff"


def test_message_ack_staff_out_of_scope_is_scope_violation_audited_and_counted(
    chat: ChatWorld,
) -> None:
    conversation = conversation_with(chat)
    mx_staff = principal(make_staff("L2", ["MX"], "staff.mx@t.test"))
    with Counted("ack_read", "SCOPE_VIOLATION") as counted, pytest.raises(DomainError) as exc:
        ack(mx_staff, conversation, "read", 1)
    assert (exc.value.code, exc.value.status) == ("SCOPE_VIOLATION", 403)
    assert counted.delta == 1
    assert AuditEvent.objects.filter(action="scope.violation").exists()


def test_message_ack_by_the_system_is_a_noop(chat: ChatWorld) -> None:
    conversation = conversation_with(chat, messages=1)
    result = ack(SYSTEM, conversation, "read", 2)
    assert (result.role, result.moved) == ("system", False)


def test_message_ack_unexpected_error_is_counted_as_internal_error_and_rolled_back(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = conversation_with(chat)

    def broken(**_: Any) -> None:
        raise RuntimeError("event log down")

    monkeypatch.setattr(realtime_services, "publish_last", broken)
    with Counted("ack_read", "INTERNAL_ERROR") as counted, pytest.raises(RuntimeError):
        ack(chat.p(chat.seller), conversation, "read", 2)
    assert counted.delta == 1
    assert row(conversation, "seller").read_up_to_seq == 0  # the frame rolled back


def test_a_failing_ack_never_blocks_a_send(
    chat: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ack path fails (reading the row raises); the parties still send and read."""
    conversation = conversation_with(chat, messages=1)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("participants table unavailable")

    monkeypatch.setattr(receipts, "_read_participant", broken)
    for kind in ("delivered", "read"):
        with pytest.raises(RuntimeError):
            ack(chat.p(chat.seller), conversation, kind, 2)
    with pytest.raises(DomainError):
        ack(chat.p(chat.seller), conversation, "read", -1)
    sent = chat.send(chat.p(chat.seller), conversation, "Sale mañana temprano")
    assert sent.created and sent.message.seq == 3
    answer = chat.send(chat.p(chat.buyer), conversation, "Perfecto, gracias")
    assert answer.message.seq == 4
    conversation.refresh_from_db()
    assert conversation.last_seq == 4


def test_message_ack_query_budget(
    chat: ChatWorld, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversation = conversation_with(chat)
    seller = chat.p(chat.seller)
    # moved: the row (+ its conversation) 1, the row FOR NO KEY UPDATE 1, the update 1, the
    # receipt event 1 (it takes the publish lock) + its stream's previous id 1, + the test's
    # savepoint pair
    with django_assert_max_num_queries(7):
        ack(seller, conversation, "read", 3)
    # no-op: the read only (+ the savepoint pair)
    with django_assert_max_num_queries(3):
        ack(seller, conversation, "delivered", 2)


def test_the_realtime_ack_frames_are_registered_to_the_same_service(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    delivered = contracts.ack_handler("message.delivered")
    read = contracts.ack_handler("message.read")
    assert delivered is receipts.ack_delivered_frame and read is receipts.ack_read_frame
    answer = delivered(chat.p(chat.seller), {"conversationId": conversation.pk, "upToSeq": 2})
    assert answer == {
        "conversationId": conversation.pk,
        "role": "seller",
        "deliveredUpToSeq": 2,
        "readUpToSeq": 0,
        "lastSeq": 4,
        "moved": True,
    }
    answer = read(chat.p(chat.seller), {"conversationId": conversation.pk, "upToSeq": 3})
    assert answer is not None and (answer["deliveredUpToSeq"], answer["readUpToSeq"]) == (3, 3)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"upToSeq": 1}, "INVALID_ACK"),  # no conversationId
        ({"conversationId": "CID-AS-TEXT", "upToSeq": 1}, "NOT_FOUND_OR_NO_ACCESS"),
        ({"conversationId": None, "upToSeq": 1}, "NOT_FOUND_OR_NO_ACCESS"),
        ({"conversationId": 2**63, "upToSeq": 1}, "NOT_FOUND_OR_NO_ACCESS"),
        ({"conversationId": "CID", "upToSeq": 1, "extra": 1}, "VALIDATION_ERROR"),
        ({"conversationId": "CID"}, "INVALID_ACK"),  # no upToSeq
        ({"conversationId": "CID", "upToSeq": 9}, "INVALID_ACK"),
    ],
)
def test_a_bad_ack_frame_is_refused_with_its_code_and_counted(
    chat: ChatWorld, data: dict[str, Any], code: str
) -> None:
    conversation = conversation_with(chat)
    ids = {"CID": conversation.pk, "CID-AS-TEXT": str(conversation.pk)}  # no coercion
    data = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in data.items()}
    handler = contracts.ack_handler("message.read")
    assert handler is not None
    with Counted("ack_read", code) as counted, pytest.raises(DomainError) as exc:
        handler(chat.p(chat.seller), data)
    assert exc.value.code == code
    assert counted.delta == 1


# --- conversation_reconcile --------------------------------------------------------------------


def test_conversation_reconcile_tells_behind_and_every_partys_watermarks(chat: ChatWorld) -> None:
    conversation = conversation_with(chat)
    ack(chat.p(chat.seller), conversation, "read", 3)
    ack(chat.p(chat.buyer), conversation, "read", 4)
    state = services.conversation_reconcile(
        actor=chat.p(chat.buyer), conversation_id=conversation.pk, last_seq_seen=2
    )
    assert state.as_dict() == {
        "conversationId": conversation.pk,
        "state": "active",
        "lastSeq": 4,
        "lastSeqSeen": 2,
        "behind": True,
        "missingFrom": 3,
        "resync": False,
        "unread": 0,
        "me": {"role": "buyer", "deliveredUpToSeq": 4, "readUpToSeq": 4},
        "others": [
            {"role": "seller", "deliveredUpToSeq": 3, "readUpToSeq": 3},
            {"role": "recipient", "deliveredUpToSeq": 0, "readUpToSeq": 0},
        ],
    }


def test_conversation_reconcile_up_to_date_and_ahead(chat: ChatWorld) -> None:
    conversation = conversation_with(chat, messages=1)
    current = services.conversation_reconcile(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, last_seq_seen=2
    )
    assert (current.behind, current.missing_from, current.resync) == (False, None, False)
    assert current.as_dict()["unread"] == 2
    ahead = services.conversation_reconcile(
        actor=chat.p(chat.seller), conversation_id=conversation.pk, last_seq_seen=7
    )
    assert (ahead.behind, ahead.missing_from, ahead.resync) == (False, None, True)


def test_conversation_reconcile_for_staff_and_the_recipient(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    staff = chat.staff_principal("L1")
    state = services.conversation_reconcile(
        actor=staff, conversation_id=conversation.pk, last_seq_seen=0
    )
    assert state.me.as_dict() == {"role": "staff", "deliveredUpToSeq": 0, "readUpToSeq": 0}
    assert [o.role for o in state.others] == ["buyer", "seller", "recipient"]
    mine = services.conversation_reconcile(
        actor=chat.recipient(order), conversation_id=conversation.pk, last_seq_seen=1
    )
    assert mine.me.role == "recipient" and [o.role for o in mine.others] == ["buyer", "seller"]


def test_conversation_reconcile_refusals_are_counted(chat: ChatWorld) -> None:
    conversation = conversation_with(chat, messages=1)
    stranger = principal(make_user("stranger@t.test"))
    mx_staff = principal(make_staff("L2", ["MX"], "staff.mx@t.test"))
    for actor in (stranger, mx_staff, chat.recipient(chat.new_order())):
        with (
            Counted("reconcile_status", "NOT_FOUND_OR_NO_ACCESS") as counted,
            pytest.raises(DomainError) as exc,
        ):
            services.conversation_reconcile(
                actor=actor, conversation_id=conversation.pk, last_seq_seen=0
            )
        assert exc.value.code == "NOT_FOUND_OR_NO_ACCESS" and counted.delta == 1
    for bad in (-1, "2", None, 1.5):
        with (
            Counted("reconcile_status", "VALIDATION_ERROR") as counted,
            pytest.raises(DomainError) as exc,
        ):
            services.conversation_reconcile(
                actor=chat.p(chat.buyer),
                conversation_id=conversation.pk,
                last_seq_seen=bad,  # type: ignore[arg-type]  # client input of any type
            )
        assert exc.value.code == "VALIDATION_ERROR" and counted.delta == 1


def test_conversation_reconcile_query_budget(
    chat: ChatWorld, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    conversation = conversation_with(chat, messages=1)
    buyer = chat.p(chat.buyer)
    with django_assert_max_num_queries(2):
        services.conversation_reconcile(
            actor=buyer, conversation_id=conversation.pk, last_seq_seen=0
        )


# --- REST --------------------------------------------------------------------------------------


def as_user(user: User) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**login_headers(user))
    return client


def as_recipient(chat: ChatWorld, order: Order) -> APIClient:
    client = APIClient(raise_request_exception=False)
    anon = chat.recipient(order)
    client.credentials(
        HTTP_X_ANONYMOUS_ID=str(anon.anon_id),
        HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(anon.id),
    )
    return client


def test_api_ack_then_reconcile_shows_the_other_partys_read(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    chat.send(chat.p(chat.buyer), conversation, "¿A qué hora llega?")
    seller = as_user(chat.seller)
    acked = seller.post(
        f"/api/conversations/{conversation.pk}/ack",
        {"kind": "read", "upToSeq": 2},
        format="json",
    )
    assert acked.status_code == 200, acked.content
    assert acked.json() == {
        "conversationId": conversation.pk,
        "role": "seller",
        "deliveredUpToSeq": 2,
        "readUpToSeq": 2,
        "lastSeq": 2,
        "moved": True,
    }
    recipient = as_recipient(chat, order)
    got = recipient.post(
        f"/api/conversations/{conversation.pk}/ack",
        {"kind": "delivered", "upToSeq": 2},
        format="json",
    )
    assert got.status_code == 200 and got.json()["role"] == "recipient"
    state = as_user(chat.buyer).post(
        f"/api/conversations/{conversation.pk}/reconcile", {"lastSeqSeen": 1}, format="json"
    )
    assert state.status_code == 200, state.content
    body = state.json()
    assert (body["lastSeq"], body["behind"], body["missingFrom"]) == (2, True, 2)
    assert body["others"] == [
        {"role": "seller", "deliveredUpToSeq": 2, "readUpToSeq": 2},
        {"role": "recipient", "deliveredUpToSeq": 2, "readUpToSeq": 0},
    ]


@pytest.mark.parametrize(
    ("payload", "status", "code", "flow"),
    [
        ({"kind": "read", "upToSeq": 3}, 400, "INVALID_ACK", "ack_read"),
        ({"kind": "read", "upToSeq": "1"}, 400, "INVALID_ACK", "ack_read"),
        ({"kind": "delivered", "upToSeq": -2}, 400, "INVALID_ACK", "ack_delivered"),
        ({"kind": "delivered"}, 400, "INVALID_ACK", "ack_delivered"),
        ({"kind": "read", "upToSeq": 1, "at": 5}, 400, "VALIDATION_ERROR", "ack_read"),
        ({"kind": "opened", "upToSeq": 1}, 400, "INVALID_ACK", "ack_unknown"),
        ([1, 2], 400, "VALIDATION_ERROR", "ack_unknown"),
    ],
)
def test_api_ack_refusals_answer_the_error_contract_and_are_counted(
    chat: ChatWorld, payload: Any, status: int, code: str, flow: str
) -> None:
    conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "¿A qué hora llega?")
    with Counted(flow, code) as counted:
        response = as_user(chat.seller).post(
            f"/api/conversations/{conversation.pk}/ack", payload, format="json"
        )
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["requestId"]
    assert counted.delta == 1
    if isinstance(payload, dict) and "at" in payload:
        assert body["details"] == {"at": ["Unknown field."]}
    if isinstance(payload, list):
        assert body["details"] == {"body": ["A JSON object."]}


def test_api_ack_and_reconcile_by_a_non_member_are_404(chat: ChatWorld) -> None:
    conversation = chat.active()
    stranger = as_user(make_user("stranger@t.test"))
    with Counted("ack_read", "NOT_FOUND_OR_NO_ACCESS") as counted:
        response = stranger.post(
            f"/api/conversations/{conversation.pk}/ack",
            {"kind": "read", "upToSeq": 1},
            format="json",
        )
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND_OR_NO_ACCESS")
    assert counted.delta == 1
    with Counted("reconcile_status", "NOT_FOUND_OR_NO_ACCESS") as counted:
        response = stranger.post(
            f"/api/conversations/{conversation.pk}/reconcile", {"lastSeqSeen": 0}, format="json"
        )
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND_OR_NO_ACCESS")
    assert counted.delta == 1
    unauthenticated = APIClient(raise_request_exception=False).post(
        f"/api/conversations/{conversation.pk}/ack", {"kind": "read", "upToSeq": 1}, format="json"
    )
    assert unauthenticated.status_code == 401


def test_api_reconcile_bad_input_is_validation_error(chat: ChatWorld) -> None:
    conversation = chat.active()
    buyer = as_user(chat.buyer)
    for payload in ({"lastSeqSeen": -1}, {"lastSeqSeen": "1"}, {"lastSeen": 1}, [0]):
        with Counted("reconcile_status", "VALIDATION_ERROR") as counted:
            response = buyer.post(
                f"/api/conversations/{conversation.pk}/reconcile", payload, format="json"
            )
        assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
        assert counted.delta == 1
    empty = buyer.post(f"/api/conversations/{conversation.pk}/reconcile", {}, format="json")
    assert empty.status_code == 200 and empty.json()["lastSeqSeen"] == 0
