"""Signed anonymous identities: issue, authenticate, own order only, revoke, rotate."""

from __future__ import annotations

import hmac
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import Event
from aventide.accounts import services, tokens
from aventide.accounts.errors import AnonymousIdentityNotFound, ScopeViolation, StaffLevelRequired
from aventide.accounts.models import AnonymousIdentity
from aventide.accounts.permissions import require_order_access
from aventide.core.errors import DomainError, NotFound
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from tests.accounts.factories import (
    anon_headers,
    anonymous_principal,
    issue_anon,
    make_staff,
    principal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_probe")]

A1 = ("a1", "anon-key-one-000000000000000000000000000000")
A2 = ("a2", "anon-key-two-111111111111111111111111111111")


@pytest.fixture(autouse=True)
def _anon_ring(settings) -> None:
    settings.ANON_SIGNING_KEYS = [A1]


def test_issue_creates_identity_signature_and_audit_event() -> None:
    issued = issue_anon(order_id=42, country_code="mx")
    identity = AnonymousIdentity.objects.get(anon_id=issued.anon_id)
    assert identity.order_id == 42 and identity.country_code == "MX"
    assert identity.role == "recipient"
    assert identity.expires_at == issued.expires_at
    assert issued.expires_at - timezone.now() > timedelta(days=59)
    assert issued.signature == services.sign_anonymous_id(issued.anon_id)
    assert "=" not in issued.signature and len(issued.signature) == 43
    event = Event.objects.get(action="anonymous_identity.issued")
    assert event.target_id == str(issued.anon_id) and event.country_code == "MX"
    assert event.data["orderId"] == 42
    assert issued.signature not in str(event.data)


def test_issue_joins_the_callers_transaction() -> None:
    def create_order_then_fail() -> None:
        with transaction.atomic():
            issue_anon(order_id=7)
            raise RuntimeError("order creation failed")

    with pytest.raises(RuntimeError):
        create_order_then_fail()
    assert not AnonymousIdentity.objects.exists()
    assert not Event.objects.filter(action="anonymous_identity.issued").exists()


def test_issue_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        issue_anon(role="buyer")


def test_valid_signature_reaches_its_own_order(api_client) -> None:
    issued = issue_anon(order_id=42)
    response = api_client.get(
        "/api/_probe/orders/42", **anon_headers(issued.anon_id, issued.signature)
    )
    assert response.status_code == 200
    assert response.json()["actor"] == f"anonymous:{issued.anon_id}"
    assert response.json()["contextActor"] == f"anonymous:{issued.anon_id}"


def test_anonymous_identity_cannot_reach_another_order(api_client) -> None:
    issued = issue_anon(order_id=42)
    issue_anon(order_id=43)
    response = api_client.get(
        "/api/_probe/orders/43", **anon_headers(issued.anon_id, issued.signature)
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_anonymous_identity_is_refused_by_default_permission(api_client) -> None:
    issued = issue_anon(order_id=42)
    response = api_client.get(
        "/api/_probe/default", **anon_headers(issued.anon_id, issued.signature)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "ACCOUNT_REQUIRED"
    # /me is account-only like every other such endpoint: recognised, then refused the same way
    # (it used to ignore the anonymous headers and answer 401 AUTH_REQUIRED).
    me = api_client.get("/api/auth/me", **anon_headers(issued.anon_id, issued.signature))
    assert (me.status_code, me.json()["code"]) == (403, "ACCOUNT_REQUIRED")


def _assert_anon_failure(response, code: str) -> None:
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.json()["requestId"]


def test_tampered_id_fails(api_client) -> None:
    issued = issue_anon(order_id=42)
    other = issue_anon(order_id=43)
    response = api_client.get(
        "/api/_probe/orders/43", **anon_headers(other.anon_id, issued.signature)
    )
    _assert_anon_failure(response, "ANON_SIGNATURE_INVALID")
    flipped = str(issued.anon_id)[:-1] + ("0" if str(issued.anon_id)[-1] != "0" else "1")
    response = api_client.get("/api/_probe/orders/42", **anon_headers(flipped, issued.signature))
    _assert_anon_failure(response, "ANON_SIGNATURE_INVALID")


def test_signature_from_a_wrong_key_fails(api_client) -> None:
    issued = issue_anon(order_id=42)
    forged = tokens._anon_mac("attacker-guess-key-0000000000000000000", issued.anon_id)
    response = api_client.get("/api/_probe/orders/42", **anon_headers(issued.anon_id, forged))
    _assert_anon_failure(response, "ANON_SIGNATURE_INVALID")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_ANONYMOUS_ID": "not-a-uuid", "HTTP_X_ANONYMOUS_SIGNATURE": "abc"},
        {"HTTP_X_ANONYMOUS_ID": str(uuid.uuid4())},
        {"HTTP_X_ANONYMOUS_SIGNATURE": "abc"},
        {"HTTP_X_ANONYMOUS_ID": str(uuid.uuid4()), "HTTP_X_ANONYMOUS_SIGNATURE": "ñ" * 10},
    ],
)
def test_malformed_or_partial_headers_fail(api_client, headers) -> None:
    _assert_anon_failure(
        api_client.get("/api/_probe/orders/1", **headers), "ANON_SIGNATURE_INVALID"
    )


def test_revoked_identity_fails(api_client) -> None:
    issued = issue_anon(order_id=42)
    services.anonymous_identity_revoke(actor=SYSTEM, anon_id=issued.anon_id)
    response = api_client.get(
        "/api/_probe/orders/42", **anon_headers(issued.anon_id, issued.signature)
    )
    _assert_anon_failure(response, "ANON_IDENTITY_REVOKED")


def test_expired_identity_fails(api_client) -> None:
    issued = issue_anon(order_id=42, ttl=timedelta(seconds=-1))
    response = api_client.get(
        "/api/_probe/orders/42", **anon_headers(issued.anon_id, issued.signature)
    )
    _assert_anon_failure(response, "ANON_IDENTITY_EXPIRED")


def test_well_signed_but_unknown_identity_fails(api_client) -> None:
    ghost = uuid.uuid4()
    response = api_client.get(
        "/api/_probe/orders/42", **anon_headers(ghost, services.sign_anonymous_id(ghost))
    )
    _assert_anon_failure(response, "ANON_SIGNATURE_INVALID")


def test_anon_key_rotation(settings, api_client) -> None:
    issued = issue_anon(order_id=42)  # signed with a1
    settings.ANON_SIGNING_KEYS = [A2, A1]
    headers = anon_headers(issued.anon_id, issued.signature)
    assert api_client.get("/api/_probe/orders/42", **headers).status_code == 200
    assert services.sign_anonymous_id(issued.anon_id) != issued.signature  # a2 signs now
    settings.ANON_SIGNING_KEYS = [A2]
    _assert_anon_failure(
        api_client.get("/api/_probe/orders/42", **headers), "ANON_SIGNATURE_INVALID"
    )
    resigned = anon_headers(issued.anon_id, services.sign_anonymous_id(issued.anon_id))
    assert api_client.get("/api/_probe/orders/42", **resigned).status_code == 200


def test_signature_comparison_is_constant_time(monkeypatch, settings) -> None:
    """Every key is compared with hmac.compare_digest, with no early exit on a match."""
    settings.ANON_SIGNING_KEYS = [A1, A2]
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    anon_id = uuid.uuid4()
    assert tokens.verify_anonymous_signature(anon_id, tokens.sign_anonymous_id(anon_id))
    assert len(calls) == 2  # matched on the first key, still compared the second
    calls.clear()
    assert not tokens.verify_anonymous_signature(anon_id, "x" * 43)
    assert len(calls) == 2


def test_anonymous_principal_contract() -> None:
    issued = issue_anon(order_id=5, country_code="AR")
    actor = anonymous_principal(issued.anon_id)
    assert actor.is_authenticated and actor.is_anonymous_identity and not actor.is_staff
    assert not actor.is_registered and actor.user_id is None
    assert actor == Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(issued.anon_id),
        country_code="AR",
        order_id=5,
        role="recipient",
    )
    assert actor.anon_id == issued.anon_id
    require_order_access(actor, "5")  # its own order
    with pytest.raises(NotFound):
        require_order_access(actor, 6)
    with pytest.raises(NotFound):
        require_order_access(actor, "not-a-number")


def test_staff_revoke_requires_scope_and_level() -> None:
    issued = issue_anon(order_id=42, country_code="MX")
    l2_ar = make_staff(level="L2", countries=("AR",))
    with pytest.raises(ScopeViolation):
        services.anonymous_identity_revoke(actor=principal(l2_ar), anon_id=issued.anon_id)
    l1_mx = make_staff(level="L1", countries=("MX",))
    with pytest.raises(StaffLevelRequired):
        services.anonymous_identity_revoke(actor=principal(l1_mx), anon_id=issued.anon_id)
    l2_mx = make_staff(level="L2", countries=("MX",))
    identity = services.anonymous_identity_revoke(
        actor=principal(l2_mx), anon_id=issued.anon_id, reason="link leaked"
    )
    assert identity.revoked_at is not None
    event = Event.objects.get(action="anonymous_identity.revoked")
    assert event.actor_type == "staff" and event.actor_id == str(l2_mx.pk)
    assert event.actor_level == "L2" and event.data["reason"] == "link leaked"
    # idempotent: no second event
    services.anonymous_identity_revoke(actor=principal(l2_mx), anon_id=issued.anon_id)
    assert Event.objects.filter(action="anonymous_identity.revoked").count() == 1


def test_revoke_unknown_identity_is_not_found() -> None:
    with pytest.raises(AnonymousIdentityNotFound):
        services.anonymous_identity_revoke(actor=SYSTEM, anon_id=uuid.uuid4())


def test_revoke_refuses_principals_without_scope_or_level_such_as_redeemed_ws_tickets() -> None:
    """A principal redeemed from a ws ticket carries its scope and level like any other: it
    cannot revoke outside them (review finding 6), and a recipient never can."""
    issued = issue_anon(order_id=42, country_code="MX")
    l1_ar = make_staff(level="L1", countries=("AR",))
    session = services.session_start(user=l1_ar, method="password")
    ticket = services.ws_ticket_issue(actor=principal(l1_ar), session_id=session.family_id)
    staff_actor = services.ws_ticket_redeem(ticket=ticket)
    anon_actor = anonymous_principal(issue_anon(order_id=43, country_code="MX").anon_id)
    unscoped_l3 = Principal(kind=PrincipalKind.STAFF, id="1", level="L3")
    refused = {"SCOPE_VIOLATION", "STAFF_LEVEL_REQUIRED"}
    for actor in (staff_actor, anon_actor, unscoped_l3):
        with pytest.raises(DomainError) as err:
            services.anonymous_identity_revoke(actor=actor, anon_id=issued.anon_id)
        assert err.value.code in refused
    with pytest.raises(StaffLevelRequired):
        services.anonymous_identity_revoke(actor=anon_actor, anon_id=issued.anon_id)
    assert AnonymousIdentity.objects.get(anon_id=issued.anon_id).revoked_at is None
    assert not Event.objects.filter(action="anonymous_identity.revoked").exists()
