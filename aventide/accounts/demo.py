"""Demo data for accounts (development only): countries, parties and staff per country.

Staff L1/L2/L3 of each country are scoped to that country; the ops lead operates in AR and MX.
Staff profiles and scopes go through the services (with the system actor), so the audit trail
shows how they came to be; re-running changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from aventide.accounts import services
from aventide.accounts.models import Country, StaffCountryScope, User
from aventide.core.context import Actor

COUNTRIES: tuple[tuple[str, str, str, int, int], ...] = (
    # code, name, currency, dispute window (h), platform fee (bps)
    ("AR", "Argentina", "ARS", 72, 1000),
    ("MX", "Mexico", "MXN", 72, 900),
    ("BR", "Brasil", "BRL", 96, 1100),
)
DEMO_PASSWORD = "aventide-demo-2026"
SEED_ACTOR = Actor(type="system", id="seed_demo")
OPS_LEAD_EMAIL = "opslead@demo.aventide.test"
OPS_LEAD_COUNTRIES = ("AR", "MX")


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: str
    country_code: str
    password: str = DEMO_PASSWORD


def demo_accounts() -> list[DemoAccount]:
    accounts = [
        DemoAccount("buyer@demo.aventide.test", "buyer", "AR"),
        DemoAccount("seller@demo.aventide.test", "seller", "AR"),
        DemoAccount("recipient@demo.aventide.test", "recipient", "AR"),
        DemoAccount("admin@demo.aventide.test", "superuser", "AR"),
        DemoAccount(OPS_LEAD_EMAIL, "ops-lead", "AR"),
    ]
    for code, *_ in COUNTRIES:
        lower = code.lower()
        accounts.append(DemoAccount(f"buyer.{lower}@demo.aventide.test", "buyer", code))
        accounts.append(DemoAccount(f"seller.{lower}@demo.aventide.test", "seller", code))
        for level in ("l1", "l2", "l3"):
            accounts.append(
                DemoAccount(f"staff.{level}.{lower}@demo.aventide.test", f"staff-{level}", code)
            )
    return accounts


@transaction.atomic
def seed_accounts() -> list[DemoAccount]:
    """Create or refresh the demo countries and accounts. Idempotent."""
    for code, name, currency, window, fee in COUNTRIES:
        Country.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "currency": currency,
                "dispute_window_hours": window,
                "platform_fee_bps": fee,
                "active": True,
            },
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
