"""Bench data and in-process query counts: the ONE module of bench/ that calls application code.

The HTTP benchmark (``bench/http_paths.py``) never imports the application: it runs this module
as a subprocess with the same environment as the server it measures (production settings,
the bench database and Redis), reads the JSON document it writes, and drives the
server over HTTP. When service signatures change (e.g. a typed Principal replacing the actor
objects), adapt the few calls marked ``# app:`` below and nothing else.

Commands (each writes one JSON document to ``--out``; the application logs JSON lines to stdout,
so the result never goes there; progress goes to stderr):

``seed --pairs N --reader-orders M [--queries ENDPOINTS] --out FILE``
    Countries (AR, MX, BR), N buyer/seller pairs in AR (one listing per seller), one "reader"
    buyer with M orders (half paid), and a fresh access token per user. Idempotent: users and
    listings are reused by email/title; tokens are new each time (a new session per call).
    With ``--queries``, also the ``queries`` command's result (one process instead of two).
``paid-orders --pairs N --count K --out FILE``
    K new orders paid through the services; order k belongs to pair ``k % N``.
    Writes ``{"orders": [[order_id, pair_index], ...]}``.
``asgi-sends --sends N [--concurrency C] --control-fd FD --out FILE``
    N chat sends through the ASGI application in this process, for ``bench/instructions.py``
    (which runs it under callgrind): ``ready`` on FD after a warm-up, a line on stdin starts
    the measured sends, ``done <cpu s> <wall s>`` on FD at the end.
``queries --endpoints me,orders,create,cancel --out FILE``
    SQL statements per request, measured once per endpoint in this process with Django's
    ``CaptureQueriesContext`` through the full middleware + view stack (Django's test client;
    one warm-up request first). Writes ``{"<endpoint>": {"statements": n, "queries": q,
    "status": s, "sql": [...]}}``: statements are all round trips, queries leave out
    BEGIN/SAVEPOINT/RELEASE/COMMIT.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

_TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|(RELEASE )?SAVEPOINT|ROLLBACK TO)", re.I
)
BENCH_EMAIL_DOMAIN = "bench.aventide.test"
BENCH_COUNTRY = "AR"
LISTING_TITLE = "Bench: gift box"
LISTING_PRICE_MINOR = 1_500_000
#: (code, name, currency, dispute window hours, platform fee bps): same as the demo data
COUNTRIES: tuple[tuple[str, str, str, int, int], ...] = (
    ("AR", "Argentina", "ARS", 72, 1000),
    ("MX", "Mexico", "MXN", 72, 900),
    ("BR", "Brasil", "BRL", 96, 1100),
)


def _setup_django() -> None:
    from aventide.core.env import validate_env  # app: the entry points' env check

    validate_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")
    import django

    django.setup()


def _progress(message: str) -> None:
    sys.stderr.write(f"[setup_data] {message}\n")
    sys.stderr.flush()


# --- app calls (adapt here when the services change) ---------------------------------------


def _system_actor() -> Any:
    from aventide.core.principal import SYSTEM  # app: the system principal (payments webhook)

    return SYSTEM


def _principal(user: Any) -> Any:
    from aventide.accounts.contracts import principal_for_user  # app: who acts

    return principal_for_user(user)


def _ensure_countries() -> None:
    from aventide.markets import services as markets  # app

    for code, name, currency, window, fee in COUNTRIES:
        markets.country_policy_set(
            code=code,
            name=name,
            currency=currency,
            dispute_window_hours=window,
            platform_fee_bps=fee,
            active=True,
        )


def _ensure_user(email: str, *, seller: bool) -> Any:
    """A party account with an unusable password (the bench never logs in: tokens below)."""
    from aventide.accounts.models import User  # app

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=None, country_code=BENCH_COUNTRY, full_name="Bench user"
        )
    if user.is_seller != seller:
        user.is_seller = seller
        user.save(update_fields=["is_seller"])
    return user


def _ensure_listing(seller: Any) -> int:
    from aventide.orders import services as orders  # app
    from aventide.orders.models import Listing  # app

    listing = Listing.objects.filter(seller=seller, title=LISTING_TITLE, active=True).first()
    if listing is None:
        listing = orders.listing_create(
            actor=_principal(seller), title=LISTING_TITLE, price_minor=LISTING_PRICE_MINOR
        )
    return int(listing.pk)


def _access_token(user: Any) -> str:
    from aventide.accounts import services as accounts  # app

    return accounts.session_start(user=user, method="password").access


def _create_order(buyer: Any, listing_id: int, name: str, email: str = "") -> int:
    from aventide.orders import services as orders  # app

    created = orders.order_create(
        actor=_principal(buyer), listing_id=listing_id, recipient_name=name, recipient_email=email
    )
    return int(created.order.pk)


def _mark_paid(order_id: int) -> None:
    from aventide.orders import services as orders  # app

    orders.order_mark_paid(
        actor=_system_actor(), order_id=order_id, payment_reference=f"bench-{order_id}"
    )


CHAT_RECIPIENT = "Bench chat recipient"


def _active_conversation(buyer: Any, seller: Any) -> int:
    """The pair's chat: one order of the pair whose conversation the buyer opened (reused).
    Its recipient was invited by e-mail, like a real gift's: the chat's notification bridge
    can reach every party (an unreachable party is a logged ``no_channel`` decision on every
    send, which no real order has)."""
    from messaging import services as messaging  # app
    from messaging.models import Conversation  # app

    existing = (
        Conversation.objects.filter(
            buyer=buyer, seller=seller, order__recipient_name=CHAT_RECIPIENT
        )
        .values_list("pk", "state")
        .first()
    )
    if existing is None:
        order_id = _create_order(
            buyer, _ensure_listing(seller), CHAT_RECIPIENT, email=f"chat-{buyer.pk}@bench.invalid"
        )
        conversation_id = int(Conversation.objects.get(order_id=order_id).pk)
        state = "dormant"
    else:
        conversation_id, state = int(existing[0]), existing[1]
    if state == "dormant":
        messaging.conversation_activate(
            actor=_principal(buyer),
            conversation_id=conversation_id,
            reason_code="delivery_question",
        )
    return conversation_id


def _users(pairs: int) -> list[tuple[Any, Any]]:
    return [
        (
            _ensure_user(f"buyer.{i}@{BENCH_EMAIL_DOMAIN}", seller=False),
            _ensure_user(f"seller.{i}@{BENCH_EMAIL_DOMAIN}", seller=True),
        )
        for i in range(pairs)
    ]


def _listing_of(seller: Any) -> int:
    from aventide.orders.models import Listing  # app

    pk = (
        Listing.objects.filter(seller=seller, title=LISTING_TITLE, active=True)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is None:
        raise SystemExit("run `seed` first: a bench seller has no listing")
    return int(pk)


# --- commands ----------------------------------------------------------------------------


def seed(*, pairs: int, reader_orders: int) -> dict[str, Any]:
    _ensure_countries()
    out_pairs = []
    for buyer, seller in _users(pairs):
        out_pairs.append(
            {
                "buyer_id": buyer.pk,
                "seller_id": seller.pk,
                "listing_id": _ensure_listing(seller),
                "buyer_token": _access_token(buyer),
                "seller_token": _access_token(seller),
                "conversation_id": _active_conversation(buyer, seller),
            }
        )
    from aventide.orders.models import Order  # app

    reader = _ensure_user(f"reader@{BENCH_EMAIL_DOMAIN}", seller=False)
    reader_seller = _ensure_user(f"reader.seller@{BENCH_EMAIL_DOMAIN}", seller=True)
    reader_listing = _ensure_listing(reader_seller)
    have = Order.objects.filter(buyer=reader).count()
    for i in range(have, reader_orders):
        order_id = _create_order(reader, reader_listing, f"Reader recipient {i}")
        if i % 2:
            _mark_paid(order_id)
    return {
        "pairs": out_pairs,
        "reader_token": _access_token(reader),
        "reader_orders": Order.objects.filter(buyer=reader).count(),
    }


def paid_orders(*, pairs: int, count: int) -> dict[str, Any]:
    users = _users(pairs)
    listings = [_listing_of(seller) for _, seller in users]
    out: list[list[int]] = []
    started = time.monotonic()
    for k in range(count):
        pair = k % pairs
        order_id = _create_order(users[pair][0], listings[pair], f"Bench recipient {k}")
        _mark_paid(order_id)
        out.append([order_id, pair])
        if (k + 1) % 500 == 0:
            rate = (k + 1) / (time.monotonic() - started)
            _progress(f"paid orders: {k + 1}/{count} ({rate:.0f}/s)")
    return {"orders": out}


def queries(*, endpoints: list[str]) -> dict[str, Any]:
    """Statements per request of each endpoint, in-process, through the whole stack."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    users = _users(1)
    buyer, seller = users[0]
    listing_id = _listing_of(seller)
    buyer_auth = f"Bearer {_access_token(buyer)}"
    reader = _ensure_user(f"reader@{BENCH_EMAIL_DOMAIN}", seller=False)
    reader_auth = f"Bearer {_access_token(reader)}"
    host = (os.environ.get("ALLOWED_HOSTS") or "127.0.0.1").split(",")[0].strip()
    client = Client(raise_request_exception=False, HTTP_HOST=host)

    def prepare(name: str) -> Callable[[], Any]:
        """The request of ``name``, ready to send (a paid order is made here, not in it)."""
        if name == "me":
            return lambda: client.get("/api/auth/me", HTTP_AUTHORIZATION=buyer_auth)
        if name == "orders":
            return lambda: client.get("/api/orders", HTTP_AUTHORIZATION=reader_auth)
        if name == "create":
            body = {"listingId": listing_id, "recipient": {"name": "Bench queries"}}
            return lambda: client.post(
                "/api/orders", body, content_type="application/json", HTTP_AUTHORIZATION=buyer_auth
            )
        if name == "cancel":
            order_id = _create_order(buyer, listing_id, "Bench queries")
            _mark_paid(order_id)
            return lambda: client.post(
                f"/api/orders/{order_id}/cancel",
                {"reason": "bench"},
                content_type="application/json",
                HTTP_AUTHORIZATION=buyer_auth,
            )
        if name == "send":
            conversation_id = _active_conversation(buyer, seller)
            serial = time.monotonic_ns()
            body = {"clientMessageId": f"bench-q-{serial}", "body": f"Bench query {serial % 997}"}
            return lambda: client.post(
                f"/api/conversations/{conversation_id}/messages",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=buyer_auth,
            )
        raise SystemExit(f"unknown endpoint {name!r}")

    out: dict[str, Any] = {}
    for name in endpoints:
        prepare(name)()  # warm-up: first-request costs (imports, caches) are not counted
        send = prepare(name)
        with CaptureQueriesContext(connection) as ctx:
            response = send()
        sql = [q["sql"] for q in ctx.captured_queries]
        out[name] = {
            "statements": len(sql),  # every round trip, BEGIN/SAVEPOINT/COMMIT included
            "queries": sum(1 for s in sql if not _TRANSACTION_CONTROL.match(s)),
            "status": response.status_code,
            "sql": [s[:300] for s in sql],
        }
    return out


def asgi_sends(*, pairs: int, sends: int, concurrency: int, control: Any) -> dict[str, Any]:
    """``sends`` chat sends through the ASGI application in this process (``bench/
    instructions.py`` runs this under callgrind): the whole HTTP path after the server's
    parsing -- the app's ASGI stack, its one thread hop, middleware, DRF, the send service,
    PostgreSQL and Redis -- with ``concurrency`` sends in flight. After 50 unmeasured sends
    it writes ``ready`` to ``control`` and waits for a line on stdin; then it sends, writes
    ``done <cpu seconds> <wall seconds>`` and returns."""
    import asyncio
    import secrets

    from aventide.asgi import application  # app: the ASGI entry point the server runs
    from bench.http_paths import chat_line

    seeded = seed(pairs=pairs, reader_orders=0)["pairs"]
    host = (os.environ.get("ALLOWED_HOSTS") or "127.0.0.1").split(",")[0].strip().encode()
    tag = secrets.token_hex(4)
    first_line = secrets.randbelow(32_768)
    serial = iter(range(10**9))

    async def one() -> None:
        n = next(serial)
        pair = seeded[n % len(seeded)]
        path = f"/api/conversations/{pair['conversation_id']}/messages"
        body = json.dumps(
            {"clientMessageId": f"bench-i-{tag}-{n}", "body": chat_line(first_line + n)}
        ).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "headers": [
                (b"host", host),
                (b"authorization", f"Bearer {pair['buyer_token']}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", f"bench-i-{tag}-{n}".encode()),
            ],
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await application(scope, receive, send)
        if statuses != [201]:
            raise SystemExit(f"send {n} answered {statuses}")

    async def batch(count: int) -> None:
        left = iter(range(count))

        async def client() -> None:
            for _ in left:
                await one()

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def run() -> tuple[float, float]:
        await batch(50)
        control.write("ready\n")
        control.flush()
        sys.stdin.readline()
        cpu, wall = time.process_time(), time.perf_counter()
        await batch(sends)
        return time.process_time() - cpu, time.perf_counter() - wall

    cpu_s, wall_s = asyncio.run(run())
    control.write(f"done {cpu_s} {wall_s}\n")
    control.flush()
    return {"sends": sends, "concurrency": concurrency, "cpu_s": cpu_s, "wall_s": wall_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_seed = sub.add_parser("seed")
    p_seed.add_argument("--pairs", type=int, required=True)
    p_seed.add_argument("--reader-orders", type=int, default=10)
    p_seed.add_argument("--queries", default="", help="endpoints to count SQL for, after seeding")
    p_paid = sub.add_parser("paid-orders")
    p_paid.add_argument("--pairs", type=int, required=True)
    p_paid.add_argument("--count", type=int, required=True)
    p_q = sub.add_parser("queries")
    p_q.add_argument("--endpoints", required=True)
    p_asgi = sub.add_parser("asgi-sends")
    p_asgi.add_argument("--pairs", type=int, default=16)
    p_asgi.add_argument("--sends", type=int, required=True)
    p_asgi.add_argument("--concurrency", type=int, default=4)
    p_asgi.add_argument("--control-fd", type=int, required=True, help="where ready/done go")
    for p in (p_seed, p_paid, p_q, p_asgi):
        p.add_argument("--out", required=True, help="file to write the JSON result to")
    args = parser.parse_args(argv)

    _setup_django()
    if args.command == "seed":
        result = seed(pairs=args.pairs, reader_orders=args.reader_orders)
        if args.queries:
            result["queries"] = queries(endpoints=[e for e in args.queries.split(",") if e])
    elif args.command == "paid-orders":
        result = paid_orders(pairs=args.pairs, count=args.count)
    elif args.command == "asgi-sends":
        with os.fdopen(args.control_fd, "w") as control:
            result = asgi_sends(
                pairs=args.pairs, sends=args.sends, concurrency=args.concurrency, control=control
            )
    else:
        result = queries(endpoints=[e for e in args.endpoints.split(",") if e])
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
