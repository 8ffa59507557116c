"""The application side of the fan-out benchmark (``bench/fanout.py``): it imports the app.

Run as a subprocess with the server's environment (production settings, the bench database,
Redis), like ``bench/setup_data.py``:

``setup --orders N --out FILE``
    Countries, one seller with a listing, one L1 staff member of AR, and N orders, each with
    its own buyer and anonymous recipient. For each order the four clients that watch it --
    buyer, seller, recipient, staff -- with their credentials (a fresh access token, or the
    anonymous id + signature), and the log's cursor before the run.
``publish --orders IDS --rate R --seconds S [--concurrency K] --out FILE``
    Publishes R events per second for S seconds (K publishers at once, 4 by default),
    round-robin over the orders' streams, each in its own transaction through
    ``realtime.services.publish`` (audience: the order's parties + ``staff:AR``), from an
    asyncio process whose database work runs in sync threads -- the path an ASGI request
    takes: the after-commit fan-out hops back onto this process's event loop and reuses its
    channel-layer connection. The payload carries the wall-clock time just before the
    transaction (``t``), so clients measure publish -> receive. Writes
    ``{"events": [[stream, id], ...], "late": n}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

BENCH_EMAIL_DOMAIN = "fanout.bench.aventide.test"


def _setup_django() -> None:
    from aventide.core.env import validate_env

    validate_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")
    import django

    django.setup()


def _user(email: str, **extra: Any) -> Any:
    from aventide.accounts.models import User

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password="Bench-Pass-2026!", country_code="AR", **extra
        )
    return user


def setup(*, orders: int) -> dict[str, Any]:
    from aventide.accounts import services as accounts
    from aventide.accounts.contracts import principal_for_user
    from aventide.core.principal import SYSTEM
    from aventide.markets.models import Country
    from aventide.orders import services as order_services
    from realtime import selectors

    for code, name, currency in (("AR", "Argentina", "ARS"), ("MX", "Mexico", "MXN")):
        Country.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "currency": currency,
                "dispute_window_hours": 72,
                "platform_fee_bps": 1000,
            },
        )
    seller = _user(f"seller@{BENCH_EMAIL_DOMAIN}", is_seller=True)
    staff = _user(f"staff@{BENCH_EMAIL_DOMAIN}", is_staff=True)
    if not hasattr(staff, "staff_profile"):
        profile = accounts.staff_profile_set(actor=SYSTEM, user=staff, level="L1")
        accounts.staff_scope_grant(actor=SYSTEM, staff=profile, country_code="AR")
    listing = order_services.listing_create(
        actor=principal_for_user(seller), title="Fan-out bench", price_minor=10_000
    )

    def bearer(user: Any) -> dict[str, str]:
        return {
            "kind": "bearer",
            "token": accounts.session_start(user=user, method="password").access,
        }

    seller_cred, staff_cred = bearer(seller), bearer(staff)
    out: list[dict[str, Any]] = []
    for index in range(orders):
        buyer = _user(f"buyer.{index}@{BENCH_EMAIL_DOMAIN}")
        created = order_services.order_create(
            actor=principal_for_user(buyer), listing_id=listing.pk, recipient_name="Ana"
        )
        access = created.recipient_access
        assert access is not None
        anon = {"kind": "anon", "id": str(access.anon_id), "signature": access.signature}
        out.append(
            {
                "id": created.order.pk,
                "clients": [bearer(buyer), seller_cred, anon, staff_cred],
            }
        )
        sys.stderr.write(f"\r[setup] orders {index + 1}/{orders}")
    sys.stderr.write("\n")
    return {"orders": out, "cursor": selectors.current_cursor()}


def publish(
    *, order_ids: list[int], rate: float, seconds: float, concurrency: int
) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.db import transaction

    from aventide.orders.models import Order
    from realtime import services as realtime

    audiences: dict[int, list[str]] = {}
    for order in Order.objects.filter(pk__in=order_ids):
        audiences[order.pk] = [
            f"user:{order.buyer_id}",
            f"user:{order.seller_id}",
            f"anon:{order.recipient_anon_id}",
            "staff:AR",
        ]

    def one(order_id: int, seq: int) -> int:
        sent_at = time.time()
        with transaction.atomic():
            return realtime.publish(
                stream=f"order:{order_id}",
                type="bench.tick",
                payload={"t": sent_at, "seq": seq},
                audience=audiences[order_id],
                country_code="AR",
            )

    async def run() -> dict[str, Any]:
        # ``concurrency`` publishers (each in its own sync thread with its own database
        # connection, like concurrent requests), sharing one schedule of ``rate`` events/s.
        events: list[tuple[str, int]] = []
        total = int(rate * seconds)
        start = time.monotonic()
        late = 0
        publish_one = sync_to_async(one, thread_sensitive=False)

        async def worker(k: int) -> None:
            nonlocal late
            for seq in range(k, total, concurrency):
                delay = start + seq / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    late += 1
                order_id = order_ids[seq % len(order_ids)]
                events.append((f"order:{order_id}", await publish_one(order_id, seq)))

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return {"events": events, "late": late, "seconds": time.monotonic() - start}

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup")
    p_setup.add_argument("--orders", type=int, default=50)
    p_setup.add_argument("--out", required=True)
    p_pub = sub.add_parser("publish")
    p_pub.add_argument("--orders", required=True, help="comma-separated order ids")
    p_pub.add_argument("--rate", type=float, default=200)
    p_pub.add_argument("--seconds", type=float, default=20)
    p_pub.add_argument("--concurrency", type=int, default=4)
    p_pub.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    _setup_django()
    if args.command == "setup":
        result = setup(orders=args.orders)
    else:
        ids = [int(x) for x in args.orders.split(",") if x]
        result = publish(
            order_ids=ids, rate=args.rate, seconds=args.seconds, concurrency=args.concurrency
        )
    with open(args.out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
