"""The demo seed, composed from every app's demo module (`manage.py seed_demo`)."""

from __future__ import annotations

from collections.abc import Callable

from aventide.accounts import demo as accounts_demo
from aventide.orders import demo as orders_demo


def seed(write: Callable[[str], None]) -> None:
    """Seed or refresh all demo data. Idempotent: running it twice changes nothing new."""
    accounts = accounts_demo.seed_accounts()
    write(f"countries: {', '.join(c[0] for c in accounts_demo.COUNTRIES)}")
    write("demo accounts (development passwords):")
    for account in accounts:
        write(f"  {account.role:<12} {account.country_code}  {account.email}  {account.password}")
    write("demo orders (one per state and country):")
    orders_demo.seed_orders(write)
