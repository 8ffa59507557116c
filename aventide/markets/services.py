"""Write use cases of markets: a country's policy (seeding, the superuser's admin edits).

Markets sits below accounts in the app graph, so it cannot use accounts' use-case frame: its
one write is a short transaction that writes the row and its audit event together, attributed
to whoever the request or command bound (the admin's staff member, or the system).
"""

from __future__ import annotations

from django.db import transaction

from audit import services as audit
from aventide.markets.audit_actions import CountryAction
from aventide.markets.models import Country


def country_policy_set(
    *,
    code: str,
    name: str,
    currency: str,
    dispute_window_hours: int,
    platform_fee_bps: int,
    active: bool = True,
) -> Country:
    """Create or change a country and its policy. Idempotent: no change, no audit row.

    Audit ``country.policy_set`` with the before/after policy (the fee decides every later
    capture's split, so every change is evidence)."""
    with transaction.atomic():
        country = Country.objects.select_for_update().filter(code=code).first()
        after = {
            "name": name,
            "currency": currency,
            "disputeWindowHours": dispute_window_hours,
            "platformFeeBps": platform_fee_bps,
            "active": active,
        }
        before = None
        if country is None:
            country = Country(code=code)
        else:
            before = {
                "name": country.name,
                "currency": country.currency,
                "disputeWindowHours": country.dispute_window_hours,
                "platformFeeBps": country.platform_fee_bps,
                "active": country.active,
            }
            if before == after:
                return country
        country.name = name
        country.currency = currency
        country.dispute_window_hours = dispute_window_hours
        country.platform_fee_bps = platform_fee_bps
        country.active = active
        country.full_clean()
        country.save()
        audit.record(
            CountryAction.POLICY_SET,
            ("country", code),
            country_code=code,
            data={"before": before, "after": after},
        )
    return country
