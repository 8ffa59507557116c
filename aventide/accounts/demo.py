"""Demo data for accounts (development only): countries, parties and staff per country."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from aventide.accounts.models import Country, User

COUNTRIES: tuple[tuple[str, str, str, int, int], ...] = (
    # code, name, currency, dispute window (h), platform fee (bps)
    ("AR", "Argentina", "ARS", 72, 1000),
    ("MX", "Mexico", "MXN", 72, 900),
    ("BR", "Brasil", "BRL", 96, 1100),
)
DEMO_PASSWORD = "aventide-demo-2026"


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
        user.is_staff = account.role.startswith("staff") or account.role == "superuser"
        user.is_superuser = account.role == "superuser"
        user.set_password(account.password)
        user.save()
    return accounts
