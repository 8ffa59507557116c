"""Demo data for accounts (development only): countries, parties and staff per country.

One set, the same in every country ``xx`` (ar, mx, br): ``buyer.xx@`` buys every demo order
of the country from ``seller.xx@``; ``recipient.xx@`` is the registered recipient of one of
them (the other recipients have no account: they use the anonymous headers seed_demo prints);
``staff.l1|l2|l3.xx@`` work the country in the admin. Plus ``admin@`` (superuser) and
``opslead@`` (L3 ops lead of AR and MX).

Staff L1/L2/L3 of each country are scoped to that country; the ops lead operates in AR and MX.
Staff profiles and scopes go through the services (with the system actor), so the audit trail
shows how they came to be; re-running changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from aventide.accounts import services
from aventide.accounts.models import StaffCountryScope, User
from aventide.core.principal import SYSTEM
from aventide.markets import services as markets

COUNTRIES: tuple[tuple[str, str, str, int, int], ...] = (
    # code, name, currency, dispute window (h), platform fee (bps)
    ("AR", "Argentina", "ARS", 72, 1000),
    ("MX", "Mexico", "MXN", 72, 900),
    ("BR", "Brasil", "BRL", 96, 1100),
)
DEMO_PASSWORD = "aventide-demo-2026"
SEED_ACTOR = SYSTEM
OPS_LEAD_EMAIL = "opslead@demo.aventide.test"
OPS_LEAD_COUNTRIES = ("AR", "MX")


ADMIN_EMAIL = "admin@demo.aventide.test"
PARTY_ROLES = ("buyer", "seller", "recipient")


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    country_code: str
    password: str = DEMO_PASSWORD


def party_email(role: str, country_code: str) -> str:
    """``buyer.ar@demo.aventide.test``: the demo party of ``role`` in a country."""
    if role not in PARTY_ROLES:
        raise ValueError(f"unknown demo party role {role!r}")
    return f"{role}.{country_code.lower()}@demo.aventide.test"


def demo_accounts() -> list[DemoAccount]:
    accounts = [
        DemoAccount(ADMIN_EMAIL, "superuser", "AR"),
        DemoAccount(OPS_LEAD_EMAIL, "ops-lead", "AR"),
    ]
    for code, *_ in COUNTRIES:
        lower = code.lower()
        for role in PARTY_ROLES:
            accounts.append(DemoAccount(party_email(role, code), role, code))
        for level in ("l1", "l2", "l3"):
            accounts.append(
                DemoAccount(f"staff.{level}.{lower}@demo.aventide.test", f"staff-{level}", code)
            )
    return accounts


@transaction.atomic
def seed_accounts() -> list[DemoAccount]:
    """Create or refresh the demo countries and accounts. Idempotent."""
    for code, name, currency, window, fee in COUNTRIES:
        markets.country_policy_set(
            code=code,
            name=name,
            currency=currency,
            dispute_window_hours=window,
            platform_fee_bps=fee,
            active=True,
        )
    accounts = demo_accounts()
    for account in accounts:
        user = User.objects.filter(email=account.email).first()
        if user is None:
            user = User(email=account.email)
        user.country_code = account.country_code
        user.full_name = f"Demo {account.role} {account.country_code}"
        user.is_staff = account.role.startswith("staff") or account.role in {
            "superuser",
            "ops-lead",
        }
        user.is_superuser = account.role == "superuser"
        user.is_seller = account.role == "seller"
        if not user.check_password(account.password):
            user.set_password(account.password)
        user.save()
        _seed_staff(user, account)
    return accounts


def _seed_staff(user: User, account: DemoAccount) -> None:
    if account.role.startswith("staff-"):
        level, countries, ops_lead = (
            account.role.removeprefix("staff-").upper(),
            [account.country_code],
            False,
        )
    elif account.role == "ops-lead":
        level, countries, ops_lead = "L3", list(OPS_LEAD_COUNTRIES), True
    else:
        return
    profile = services.staff_profile_set(
        actor=SEED_ACTOR, user=user, level=level, is_ops_lead=ops_lead
    )
    for code in countries:
        services.staff_scope_grant(actor=SEED_ACTOR, staff=profile, country_code=code)
    for extra in StaffCountryScope.objects.filter(staff=profile).exclude(
        country_code__in=countries
    ):
        services.staff_scope_revoke(
            actor=SEED_ACTOR, staff=profile, country_code=extra.country_code
        )
