"""Registries for the ScopeGuard table-driven test (test_scope_guard.py).

- ``ROW_FACTORIES``: for every model whose admin uses ``ScopedAdminMixin``, how to create one
  row of a given country (through the services where they exist). A new scoped admin without
  an entry here makes ``test_every_scoped_admin_has_a_row_factory`` fail: add one.
- ``ENDPOINT_CASES``: for every staff-facing API view (``staff_facing = True``), keyed by URL
  name, how to call it for a given country. ``test_every_staff_endpoint_has_a_case`` fails
  until a new staff endpoint has its case.

A case returns ``(response, visible_ids, own_ids)``: ``visible_ids`` is the set of object ids
the response shows (for list endpoints), or None for action endpoints. Action cases also assert
the row's state afterwards (changed on success, untouched on a refusal).

- ``PARTY_REFUSALS``: how a staff-facing endpoint answers a party (no staff) who has nothing to
  do with the object, when that is not 403: endpoints that parties also use for their OWN
  objects (``order-cancel``) answer an unrelated party exactly like a missing object (404), so
  ids leak nothing (ARCHITECTURE.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from django.db import models

from aventide.accounts import services as accounts_services
from aventide.accounts.models import AnonymousIdentity
from aventide.core.principal import SYSTEM
from aventide.markets.models import Country
from tests.accounts.factories import issue_anon, make_staff, make_user, principal

_seq = itertools.count(1)


def _anonymous_identity(country: str) -> AnonymousIdentity:
    issued = issue_anon(order_id=next(_seq), country_code=country)
    return AnonymousIdentity.objects.get(anon_id=issued.anon_id)


def _staff_profile(country: str) -> models.Model:
    return make_staff(level="L1", countries=(country,), country_code=country).staff_profile


def _staff_scope(country: str) -> models.Model:
    return make_staff(
        level="L1", countries=(country,), country_code=country
    ).staff_profile.scopes.get()


def _audit_event(country: str) -> models.Model:
    from audit import services as audit_services

    return audit_services.record(
        "test.scope_case", ("order", next(_seq)), actor=SYSTEM, country_code=country
    )


def _listing(country: str) -> models.Model:
    from aventide.orders import services as orders_services

    seller = make_user(country_code=country, is_seller=True)
    return orders_services.listing_create(
        actor=principal(seller), title="Flores", price_minor=15_000
    )


def _order(country: str) -> models.Model:
    from aventide.orders import services as orders_services

    listing: Any = _listing(country)
    buyer = make_user(country_code=country)
    return orders_services.order_create(
        actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana"
    ).order


def _captured(country: str) -> Any:
    from aventide.ledger import services as ledger_services

    currency = Country.objects.get(code=country).currency
    return ledger_services.escrow_capture(
        actor=SYSTEM,
        order_id=900_000 + next(_seq),
        country_code=country,
        buyer_id=1,
        seller_id=2,
        amount_minor=10_000,
        currency=currency,
        idempotency_key=f"scope-case-{next(_seq)}",
    )


def paid_order(country: str) -> Any:
    """An order paid through the services (created by its buyer, marked paid by the system)."""
    from aventide.orders import services as orders_services

    order: Any = _order(country)
    return orders_services.order_mark_paid(
        actor=SYSTEM, order_id=order.pk, payment_reference=f"scope-pay-{next(_seq)}"
    )


def _ledger_transaction(country: str) -> models.Model:
    txn: models.Model = _captured(country)
    return txn


def _order_snapshot(country: str) -> models.Model:
    from aventide.ledger.models import OrderSnapshot

    txn = _captured(country)
    return OrderSnapshot.objects.get(order_id=txn.order_id)


def _integration_job(country: str) -> models.Model:
    from integrations import services as integrations_services

    return integrations_services.enqueue(
        kind="email",
        operation="email.send",
        payload={"template": "scope-case"},
        idempotency_key=f"scope-case-{next(_job_seq)}",
        country_code=country,
    )


_job_seq = itertools.count(1)


ROW_FACTORIES: dict[str, Callable[[str], models.Model]] = {
    "accounts.user": lambda country: make_user(country_code=country),
    "accounts.staffprofile": _staff_profile,
    "accounts.staffcountryscope": _staff_scope,
    "accounts.anonymousidentity": _anonymous_identity,
    "markets.country": lambda country: Country.objects.get(code=country),
    "audit.event": _audit_event,
    "orders.listing": _listing,
    "orders.order": _order,
    "ledger.transaction": _ledger_transaction,
    "ledger.ordersnapshot": _order_snapshot,
    "integrations.job": _integration_job,
}


# --- staff-facing endpoints ----------------------------------------------------------------


def _list_anonymous_identities(client: Any, headers: dict[str, str], country: str) -> Any:
    row = _anonymous_identity(country)
    response = client.get(
        "/api/auth/staff/anonymous-identities", {"countryCode": country}, **headers
    )
    visible = {item["anonId"] for item in response.json()} if response.status_code == 200 else None
    return response, visible, {str(row.anon_id)}


def _revoke_anonymous_identity(client: Any, headers: dict[str, str], country: str) -> Any:
    row = _anonymous_identity(country)
    response = client.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": country, "anonId": str(row.anon_id)},
        format="json",
        **headers,
    )
    return response, None, None


def _cancel_order(client: Any, headers: dict[str, str], country: str) -> Any:
    order = paid_order(country)
    response = client.post(
        f"/api/orders/{order.pk}/cancel", {"reason": "scope table"}, format="json", **headers
    )
    order.refresh_from_db()
    if response.status_code == 200:
        assert order.status == "cancelled", "200 but the order was not cancelled"
        assert response.json()["status"] == "cancelled"
    else:
        assert order.status == "paid", "a refused cancel changed the order"
    return response, None, None


EndpointCase = Callable[[Any, dict[str, str], str], tuple[Any, set[str] | None, set[str] | None]]

ENDPOINT_CASES: dict[str, EndpointCase] = {
    "auth:staff-anonymous-identities": _list_anonymous_identities,
    "auth:staff-anonymous-identity-revoke": _revoke_anonymous_identity,
    "order-cancel": _cancel_order,
}

#: URL name -> (status, code) a party unrelated to the object gets (default 403).
PARTY_REFUSALS: dict[str, tuple[int, str]] = {
    "order-cancel": (404, "NOT_FOUND"),
}

_ = accounts_services  # services are what the factories above go through


# --- messaging (issue 14): the chat's admins -------------------------------------------------


def _active_conversation(country: str) -> Any:
    """An order's conversation, opened by its buyer through the service."""
    from messaging import services as messaging_services
    from messaging.models import Conversation

    order: Any = _order(country)
    conversation = Conversation.objects.get(order_id=order.pk)
    messaging_services.conversation_activate(
        actor=principal(order.buyer), conversation_id=conversation.pk, reason_code="delay"
    )
    return order, conversation


def _chat_conversation(country: str) -> models.Model:
    conversation: models.Model = _active_conversation(country)[1]
    return conversation


def _chat_message(country: str) -> models.Model:
    from messaging import services as messaging_services

    order, conversation = _active_conversation(country)
    return messaging_services.message_send(
        actor=principal(order.buyer),
        conversation_id=conversation.pk,
        client_message_id=f"scope-{next(_seq)}",
        body="¿Llega hoy?",
    ).message


def _chat_strike(country: str) -> models.Model:
    from messaging import services as messaging_services
    from messaging.models import Strike

    order, conversation = _active_conversation(country)
    messaging_services.message_send(  # redacted: a strike on the seller
        actor=principal(order.seller),
        conversation_id=conversation.pk,
        client_message_id=f"scope-{next(_seq)}",
        body="escribime al 11 4187-2290",
    )
    return Strike.objects.get(conversation=conversation)


def _chat_report(country: str) -> models.Model:
    from messaging import services as messaging_services

    order, conversation = _active_conversation(country)
    sent = messaging_services.message_send(
        actor=principal(order.seller),
        conversation_id=conversation.pk,
        client_message_id=f"scope-{next(_seq)}",
        body="Contestá ya.",
    ).message
    return messaging_services.conversation_report(
        actor=principal(order.buyer),
        conversation_id=conversation.pk,
        message_seq=sent.seq,
        reason_code="harassment",
    ).report


ROW_FACTORIES.update(
    {
        "messaging.conversation": _chat_conversation,
        "messaging.message": _chat_message,
        "messaging.strike": _chat_strike,
        "messaging.abusereport": _chat_report,
    }
)
