"""The demo seed, composed from every app's demo module (`manage.py seed_demo`).

Every run prints the same report (not only the first one): the accounts with what each can
do, every demo order with its id and current state, the headers of the recipients without an
account, and a request to try.
"""

from __future__ import annotations

from collections.abc import Callable

from aventide.accounts import demo as accounts_demo
from aventide.orders import demo as orders_demo
from aventide.orders.models import Order, OrderStatus

BASE_URL = "http://127.0.0.1:8000"


def _ids(orders: list[orders_demo.DemoOrder], *statuses: str) -> str:
    return ", ".join(f"#{o.order_id}" for o in orders if o.status in statuses) or "none now"


def _todo(account: accounts_demo.DemoAccount, orders: list[orders_demo.DemoOrder]) -> str:
    mine = [o for o in orders if o.country_code == account.country_code]
    if account.role == "buyer":
        return (
            f"bought every {account.country_code} demo order; may pay "
            + _ids(mine, OrderStatus.PENDING_PAYMENT)
            + ", cancel "
            + _ids(mine, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
        )
    if account.role == "seller":
        return (
            f"sells them: accept {_ids(mine, OrderStatus.PAID)}, "
            f"dispatch {_ids(mine, OrderStatus.ACCEPTED)}"
        )
    if account.role == "recipient":
        own = [o for o in mine if o.recipient_email == account.email]
        return "receives " + (
            _ids(own, *[o.status for o in own]) + "; confirm delivery when in transit"
        )
    if account.role == "superuser":
        return "/admin/: everything"
    if account.role == "ops-lead":
        countries = ",".join(accounts_demo.OPS_LEAD_COUNTRIES)
        return f"/admin/: orders, staff and scopes of {countries}"
    level = account.role.removeprefix("staff-").upper()
    return f"/admin/: orders of {account.country_code} as {level}"


def seed(write: Callable[[str], None]) -> None:
    """Seed or refresh all demo data and print the report. Idempotent: running it twice
    creates nothing new and prints the same report."""
    accounts = accounts_demo.seed_accounts()
    orders = orders_demo.seed_orders(party_email=accounts_demo.party_email)
    write(f"countries: {', '.join(c[0] for c in accounts_demo.COUNTRIES)}")
    write(f"demo accounts (development password for all: {accounts_demo.DEMO_PASSWORD}):")
    for account in accounts:
        write(
            f"  {account.role:<10} {account.country_code}  {account.email:<36} "
            f"{_todo(account, orders)}"
        )
    write("demo orders (ids differ per database; the state is the current one):")
    for order in orders:
        recipient = order.recipient_email or "recipient without account"
        line = f"  {order.country_code} order #{order.order_id:<5} {order.status:<16} {recipient}"
        if order.anon_id is not None:
            line += "  " + "  ".join(f"{k}: {v}" for k, v in order.anonymous_headers.items())
            if order.reissued:
                line += "  (link re-issued: the previous one was revoked or expired)"
        write(line)
    example = next(
        (o for o in orders if o.anon_id is not None and o.status == OrderStatus.IN_TRANSIT), None
    )
    if example is not None:
        headers = " ".join(f"-H '{k}: {v}'" for k, v in example.anonymous_headers.items())
        write(f"try it: the recipient of {example.country_code} order #{example.order_id}:")
        write(f"  curl -s {BASE_URL}/api/orders/{example.order_id} {headers}")
        write(
            f"  curl -s -X POST {BASE_URL}/api/orders/{example.order_id}/confirm-delivery {headers}"
        )
    write(f"orders: {Order.objects.count()} in total")
