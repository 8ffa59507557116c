"""`seed_demo` is the newcomer's first contact: every run prints the same usable report.

- every demo order with its id and current state, on every run (not only the first);
- the anonymous recipient headers on every run, and they work against the API; a revoked or
  expired link is re-issued once (old one revoked, no duplicates), then stable again;
- one clear set of accounts: every listed party account has orders to act on;
- the README's curl example works as printed.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from aventide.accounts import services as accounts
from aventide.accounts.models import AnonymousIdentity, User
from aventide.core.principal import SYSTEM
from aventide.orders import selectors
from aventide.orders.models import Order
from tests.accounts.factories import principal

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
ORDER_LINE = re.compile(
    r"^  (?P<country>[A-Z]{2}) order #(?P<id>\d+)\s+(?P<status>[a-z_]+)\s+(?P<rest>.*)$"
)
HEADERS = re.compile(
    r"X-Anonymous-Id: (?P<anon>[0-9a-f-]{36})  X-Anonymous-Signature: (?P<sig>\S+)"
)
ACCOUNT_LINE = re.compile(r"^  (?P<role>[a-z0-9-]+)\s+(?P<country>[A-Z]{2})\s+(?P<email>\S+@\S+)\s")


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def order_lines(text: str) -> dict[int, dict[str, str]]:
    rows = {}
    for line in text.splitlines():
        match = ORDER_LINE.match(line)
        if match:
            rows[int(match["id"])] = match.groupdict()
    return rows


def recipient_client(anon_id: str, signature: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_ANONYMOUS_ID=anon_id, HTTP_X_ANONYMOUS_SIGNATURE=signature)
    return client


def test_seed_demo_reports_every_order_and_working_headers_on_every_run() -> None:
    """One seeded database for the report checks (seeding 24 orders takes seconds)."""
    first = seed()
    second = seed()
    assert first == second  # same report, nothing re-issued, nothing created
    rows = order_lines(second)
    assert set(rows) == set(Order.objects.values_list("pk", flat=True))
    anonymous = 0
    for order in Order.objects.select_related("recipient_user"):
        row = rows[order.pk]
        assert (row["country"], row["status"]) == (order.country_code, order.status)
        if order.recipient_user is not None:
            assert order.recipient_user.email in row["rest"]
            continue
        match = HEADERS.search(row["rest"])  # headers for every anonymous recipient...
        assert match is not None, row
        anonymous += 1
        # ...printed by the second run, and they work against the API.
        response = recipient_client(match["anon"], match["sig"]).get(f"/api/orders/{order.pk}")
        assert response.status_code == 200, (order.pk, response.content)
        assert response.json()["role"] == "recipient"
    assert anonymous == 21  # 7 states x 3 countries

    # The printed "try it" request confirms a delivery; the next report shows the new state.
    (post,) = [line for line in second.splitlines() if "confirm-delivery" in line]
    order_id = int(re.search(r"/api/orders/(\d+)/confirm-delivery", post).group(1))  # type: ignore[union-attr]
    anon = re.search(r"X-Anonymous-Id: ([0-9a-f-]{36})", post).group(1)  # type: ignore[union-attr]
    sig = re.search(r"X-Anonymous-Signature: ([^']+)'", post).group(1)  # type: ignore[union-attr]
    response = recipient_client(anon, sig).post(f"/api/orders/{order_id}/confirm-delivery")
    assert (response.status_code, response.json()["status"]) == (200, "delivered")
    assert order_lines(seed())[order_id]["status"] == "delivered"


def test_seed_demo_reissues_a_revoked_or_expired_link_once_without_duplicates() -> None:
    seed()
    revoked = Order.objects.filter(recipient_anon_id__isnull=False, status="in_transit").first()
    expired = Order.objects.filter(recipient_anon_id__isnull=False, status="paid").first()
    assert revoked is not None and expired is not None
    old = {revoked.pk: revoked.recipient_anon_id, expired.pk: expired.recipient_anon_id}
    accounts.anonymous_identity_revoke(actor=SYSTEM, anon_id=old[revoked.pk])
    AnonymousIdentity.objects.filter(anon_id=old[expired.pk]).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    rows = order_lines(seed())
    for order in (revoked, expired):
        order.refresh_from_db()
        assert order.recipient_anon_id != old[order.pk]
        row = rows[order.pk]
        assert "re-issued" in row["rest"]
        match = HEADERS.search(row["rest"])
        assert match is not None and match["anon"] == str(order.recipient_anon_id)
        client = recipient_client(match["anon"], match["sig"])
        assert client.get(f"/api/orders/{order.pk}").status_code == 200
        # The old identity is revoked (the expired one too); one usable identity per order.
        assert AnonymousIdentity.objects.get(anon_id=old[order.pk]).revoked_at is not None
        usable = AnonymousIdentity.objects.filter(order_id=order.pk, revoked_at__isnull=True)
        assert usable.count() == 1
    assert seed().count("re-issued") == 0  # stable again


def test_seed_demo_listed_party_accounts_have_work_and_the_readme_example_works(
    api_client: APIClient,
) -> None:
    text = seed()
    listed = [m.groupdict() for line in text.splitlines() if (m := ACCOUNT_LINE.match(line))]
    parties = [a for a in listed if a["role"] in {"buyer", "seller", "recipient"}]
    assert {(a["role"], a["country"]) for a in parties} == {
        (role, country)
        for role in ("buyer", "seller", "recipient")
        for country in ("AR", "MX", "BR")
    }
    for account in parties:
        user = User.objects.get(email=account["email"])
        orders = selectors.orders_for(principal(user))
        assert orders.exists(), account
        actionable = [o for o in orders if selectors.allowed_transitions(principal(user), o)]
        assert actionable, f"{account['email']} has nothing to do"
    # The first listed accounts are not party-less leftovers.
    assert not User.objects.filter(
        email__in=["buyer@demo.aventide.test", "seller@demo.aventide.test"]
    ).exists()

    # The README's curl example, as printed: log in as the listed buyer, list its orders.
    readme = (ROOT / "README.md").read_text()
    body = re.search(r"-d '(\{\"email\"[^']*\})' \| python3", readme)
    assert body is not None, "the README's login example moved; keep this test in step"
    login = api_client.post("/api/auth/login", json.loads(body.group(1)), format="json")
    assert login.status_code == 200, login.content
    mine = api_client.get("/api/orders", HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert mine.status_code == 200 and mine.json()["count"] >= 8
    assert "curl -s 'http://127.0.0.1:8000/api/listings?country=MX'" in readme
    assert api_client.get("/api/listings?country=MX").json()["count"] >= 1
