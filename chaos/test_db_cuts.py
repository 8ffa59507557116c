"""Drill 4 of issue 15: database connection loss under chat and money load.

Two ASGI processes (``python -m aventide.server``, production settings, one psycopg pool
each) serve a bounded load of

- chat sends (``POST /api/conversations/<id>/messages``), each with its own
  ``clientMessageId``, retried with the same id after any error -- the client contract;
- order creation (``POST /api/orders`` with an ``Idempotency-Key``, retried with the same key);
- cancels of paid orders (``POST /api/orders/<id>/cancel``: the escrow is refunded to the
  buyer in the same transaction), retried after an error; a retry that finds the order
  already cancelled (409 ``INVALID_TRANSITION``, ``currentState: cancelled``) is the earlier
  attempt having committed: settled;

while a cutter runs ``pg_terminate_backend`` on every PostgreSQL backend of the drill's
processes (their connections carry an ``application_name`` of their own: ``PGAPPNAME``; the
test process's own connections are never touched) every ``cut_every`` seconds, at a moment
when at least one of them is inside a transaction. Then the history is checked:

- **0 partial commits**: every message row has exactly one audit row (``message.sent``) and
  one realtime event naming it, and its conversation's seqs are gapless; every order the load
  created has its ``order.created`` audit row and its conversation; every cancelled order has
  exactly one ``order.cancelled`` audit row, one refund transaction and one refund job; every
  ledger transaction balances (its entries sum to zero).
- **0 double money movements**: one refund per cancelled order, none for the others; each
  buyer's ``buyer_refund`` and ``buyer_payments`` accounts and each order's escrow (entries and
  balance row) hold exactly what the history says; the whole ledger sums to zero.
- **what clients were told = what the database holds**: each acknowledged message / order is
  the row the database holds for that clientMessageId / key, one row per id or key, and no row
  exists that no client was told about; every cancel the client saw succeed is cancelled in the
  database, and no order the client did not cancel is.
- **errors back under 0.1% within 5 s of each cut**: per cut, the errors it caused and how
  long until the last of them (the recovery time); among the requests started from 5 s after
  the cut to the next cut, fewer than 0.1% fail; and none before the first cut.
- **the outbox settles**: a Celery worker and beat run too (their connections are cut as well);
  every job the load enqueued (the refunds to the card, the chat's notices) ends ``succeeded``
  within SETTLE_SECONDS after the load.
- **every error is one the client can act on**: a 503 in the error contract with a stable
  code and ``Retry-After`` (never a 500, never a transport error).

The short version (``make test``) cuts twice in 18 s of load; the full one (``chaos_long``,
``make chaos``) every 20 s for 140 s. How to run it and read a failure:
docs/operations/drills.md (drill 4).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection
from django.db.models import Sum

from audit.models import Event as AuditEvent
from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.core.principal import SYSTEM
from aventide.ledger import chart
from aventide.ledger.models import AccountBalance, Entry, Transaction
from aventide.orders import services as orders
from aventide.orders.models import Order, OrderStatus
from chaos import record
from chaos.harness import Drill, HttpServer
from integrations.models import Attempt as JobAttempt
from integrations.models import Job, JobStatus
from messaging import services as messaging
from messaging.models import Conversation, Message
from realtime.models import Event as RealtimeEvent
from tests.accounts.factories import principal

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

DRILL = "Database connection loss"
#: the promise: within this many seconds of a cut the error rate is back under MAX_ERROR_RATE
RECOVERY_SECONDS = 5.0
#: the load goes on at least this long after RECOVERY_SECONDS past the last cut
LATE_WINDOW = 2.0
MAX_ERROR_RATE = 0.001
REQUEST_TIMEOUT = 15.0
#: a logical operation (one send, one order, one cancel) gives up after this long
OP_DEADLINE = 45.0
PRICE_MINOR = 12_000
#: words that spell a send's number, so that no two bodies of a conversation look alike to
#: the spam check (its fingerprint folds digits: "(1)" and "(2)" would be the same message)
WORDS = (
    "rosa", "lila", "verde", "azul", "mango", "pera", "limón", "uva",
    "tarde", "noche", "lunes", "martes", "caja", "moño", "flor", "carta",
)  # fmt: skip
CHAT_BODIES = (
    "¿A qué hora llega el regalo?",
    "Sale por la tarde, te aviso.",
    "¿Pueden dejarlo en la portería?",
    "Sí, lo dejamos ahí sin problema.",
)


@dataclass(frozen=True)
class Sizes:
    duration: float  # seconds of load
    first_cut: float  # when the first cut lands (seconds into the load)
    cut_every: float
    conversations: int  # one chat client per conversation
    creators: int  # clients creating orders
    cancellers: int  # clients cancelling paid orders
    buyers: int
    paid_orders: int  # seeded; the cancellers work through them
    think: float  # pause between a client's operations (bounds the load)

    @property
    def cuts(self) -> list[float]:
        at, out = self.first_cut, []
        while at < self.duration - 1.0:
            out.append(at)
            at += self.cut_every
        return out


SHORT = Sizes(
    duration=18.0,
    first_cut=4.0,
    cut_every=7.0,
    conversations=4,
    creators=1,
    cancellers=2,
    buyers=2,
    paid_orders=60,
    think=0.05,
)
LONG = Sizes(
    duration=140.0,
    first_cut=20.0,
    cut_every=20.0,
    conversations=6,
    creators=2,
    cancellers=2,
    buyers=3,
    paid_orders=420,
    think=0.05,
)


# --- the world, made through the services ----------------------------------------------------


@dataclass
class World:
    run: str
    seller: User
    buyers: list[User]
    listing_id: int
    conversations: list[int]  # active, one per chat client
    paid: list[int]  # paid orders, to be cancelled
    tokens: dict[int, str]  # user id -> access token
    chat_sides: dict[int, tuple[int, int]]  # conversation -> (buyer id, seller id)
    order_buyer: dict[int, int]  # paid order -> buyer id


def seed(drill: Drill, sizes: Sizes) -> World:
    from tests.accounts.factories import ensure_countries

    ensure_countries()
    run = drill.run_id
    seller = User.objects.create_user(
        email=f"seller.{run}@d4.test", password=None, country_code="AR", is_seller=True
    )
    buyers = [
        User.objects.create_user(email=f"buyer{i}.{run}@d4.test", password=None, country_code="AR")
        for i in range(sizes.buyers)
    ]
    listing = orders.listing_create(
        actor=principal(seller), title="Caja de regalo", price_minor=PRICE_MINOR
    )
    conversations, sides, paid, order_buyer = [], {}, [], {}
    for i in range(sizes.conversations):
        buyer = buyers[i % len(buyers)]
        order = orders.order_create(
            actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana"
        ).order
        conversation = Conversation.objects.get(order_id=order.pk)
        messaging.conversation_activate(
            actor=principal(buyer), conversation_id=conversation.pk, reason_code="delivery_question"
        )
        conversations.append(conversation.pk)
        sides[conversation.pk] = (buyer.pk, seller.pk)
    for k in range(sizes.paid_orders):
        buyer = buyers[k % len(buyers)]
        order = orders.order_create(
            actor=principal(buyer), listing_id=listing.pk, recipient_name=f"Beto {k}"
        ).order
        orders.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference=f"pi_{run}_{k}")
        paid.append(order.pk)
        order_buyer[order.pk] = buyer.pk
    with drill.signing_keys():
        tokens = {
            user.pk: accounts.session_start(user=user, method="password").access
            for user in [seller, *buyers]
        }
    return World(
        run=run,
        seller=seller,
        buyers=buyers,
        listing_id=listing.pk,
        conversations=conversations,
        paid=paid,
        tokens=tokens,
        chat_sides=sides,
        order_buyer=order_buyer,
    )


# --- the clients' history ----------------------------------------------------------------------


@dataclass
class Attempt:
    kind: str  # send | create | cancel
    key: str
    start: float  # seconds since the load began
    end: float
    status: int  # 0: no HTTP answer (transport error)
    code: str
    error: bool  # counts for the error rate
    actionable: bool  # an error the client can act on (503/429 in the contract)
    detail: str = ""


@dataclass
class Op:
    kind: str
    key: str
    told: int | None = None  # the id the client was told (message, order), or the order cancelled
    attempts: int = 0
    failed_attempts: int = 0
    outcome: str = "unsettled"  # ok | unsettled | refused:<status> <code>


@dataclass
class History:
    t0: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    cuts: list[tuple[float, int, Counter[str]]] = field(default_factory=list)
    #: when the clients stop: the run's duration, pushed back by the cutter so that the load
    #: always goes on RECOVERY_SECONDS + LATE_WINDOW after the last cut
    until: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0


def _code(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return "", {}
    if not isinstance(body, dict):
        return "", {}
    return str(body.get("code", "")), body


def _actionable(response: httpx.Response, body: dict[str, Any]) -> bool:
    """A server error the client can act on: 503 (or 429) in the contract, stable code,
    requestId, Retry-After."""
    return (
        response.status_code in (429, 503)
        and {"error", "code", "message", "requestId"} <= set(body)
        and bool(body.get("code"))
        and response.headers.get("Retry-After") is not None
    )


async def perform(
    client: httpx.AsyncClient,
    history: History,
    op: Op,
    request: Callable[[], Awaitable[httpx.Response]],
    settle: Callable[[httpx.Response, dict[str, Any], Op], bool],
) -> None:
    """Run one logical operation until it settles: retry the same request (same id or key)
    after any error, with a short capped backoff, for at most OP_DEADLINE seconds."""
    history.ops.append(op)
    began = time.monotonic()
    backoff = 0.1
    while time.monotonic() - began < OP_DEADLINE:
        op.attempts += 1
        start = history.now()
        try:
            response = await request()
        except httpx.HTTPError as exc:
            history.attempts.append(
                Attempt(
                    op.kind, op.key, start, history.now(), 0, "", True, False, type(exc).__name__
                )
            )
            op.failed_attempts += 1
        else:
            code, body = _code(response)
            end = history.now()
            status = response.status_code
            if settle(response, body, op):
                op.outcome = "ok"
                history.attempts.append(
                    Attempt(op.kind, op.key, start, end, status, code, False, True)
                )
                return
            if status >= 500 or status == 429:
                history.attempts.append(
                    Attempt(
                        op.kind, op.key, start, end, status, code, True,
                        _actionable(response, body), str(body.get("message", ""))[:120],
                    )
                )  # fmt: skip
                op.failed_attempts += 1
            else:  # a 4xx the client cannot retry: a broken promise, named in the report
                history.attempts.append(
                    Attempt(op.kind, op.key, start, end, status, code, True, False, str(body)[:200])
                )
                op.outcome = f"refused:{status} {code}"
                return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


def chat_body(n: int) -> str:
    spelled, rest = [], n
    while True:
        spelled.append(WORDS[rest % len(WORDS)])
        rest //= len(WORDS)
        if not rest:
            break
    return f"{CHAT_BODIES[n % len(CHAT_BODIES)]} Nota: {' '.join(spelled)}."


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def chat_client(
    client: httpx.AsyncClient,
    history: History,
    world: World,
    index: int,
    think: float,
) -> None:
    conversation = world.conversations[index]
    buyer, seller = world.chat_sides[conversation]
    n = 0
    while history.now() < history.until:
        n += 1
        sender = buyer if n % 2 else seller
        op = Op("send", f"d4-{world.run}-{index}-{n}")
        body = {"clientMessageId": op.key, "body": chat_body(n)}

        def request(op: Op = op, body: dict[str, Any] = body, sender: int = sender) -> Any:
            return client.post(
                f"/api/conversations/{conversation}/messages",
                json=body,
                headers=_auth(world.tokens[sender]),
            )

        def settle(response: httpx.Response, body: dict[str, Any], op: Op) -> bool:
            if response.status_code in (200, 201) and isinstance(body.get("id"), int):
                op.told = body["id"]
                return True
            return False

        await perform(client, history, op, request, settle)
        await asyncio.sleep(think)


async def create_client(
    client: httpx.AsyncClient,
    history: History,
    world: World,
    index: int,
    think: float,
) -> None:
    n = 0
    while history.now() < history.until:
        n += 1
        buyer = world.buyers[(index + n) % len(world.buyers)]
        op = Op("create", f"d4-{world.run}-order-{index}-{n}")
        payload = {"listingId": world.listing_id, "recipient": {"name": f"Carla {index} {n}"}}

        def request(op: Op = op, payload: dict[str, Any] = payload, buyer: User = buyer) -> Any:
            return client.post(
                "/api/orders",
                json=payload,
                headers={**_auth(world.tokens[buyer.pk]), "Idempotency-Key": op.key},
            )

        def settle(response: httpx.Response, body: dict[str, Any], op: Op) -> bool:
            if response.status_code in (200, 201) and isinstance(body.get("id"), int):
                op.told = body["id"]
                return True
            return False

        await perform(client, history, op, request, settle)
        await asyncio.sleep(think)


async def cancel_client(
    client: httpx.AsyncClient,
    history: History,
    world: World,
    queue: list[int],
    spread: float,
    think: float,
) -> None:
    total = len(queue)
    while history.now() < history.until and queue:
        # the paid orders are spread over the whole run: cancels go on through every cut
        due = (total - len(queue)) * spread / total
        if due > history.now():
            await asyncio.sleep(due - history.now())
        if not queue:  # the other canceller took the last one meanwhile
            break
        order_id = queue.pop()
        op = Op("cancel", str(order_id))
        token = world.tokens[world.order_buyer[order_id]]

        def request(order_id: int = order_id, token: str = token) -> Any:
            return client.post(
                f"/api/orders/{order_id}/cancel", json={"reason": "drill"}, headers=_auth(token)
            )

        def settle(
            response: httpx.Response, body: dict[str, Any], op: Op, order_id: int = order_id
        ) -> bool:
            if response.status_code == 200 and body.get("status") == OrderStatus.CANCELLED:
                op.told = order_id
                return True
            # An earlier attempt committed but its answer was lost to the cut: the retry finds
            # the order cancelled. Settled -- only after a failed attempt.
            details = body.get("details") or {}
            if (
                response.status_code == 409
                and body.get("code") == "INVALID_TRANSITION"
                and details.get("currentState") == OrderStatus.CANCELLED
                and op.failed_attempts > 0
            ):
                op.told = order_id
                return True
            return False

        await perform(client, history, op, request, settle)
        await asyncio.sleep(think)


#: at a cut, wait up to this long for a backend of the servers to be inside a transaction
#: (a cut that only finds idle connections tests the pool, not partial commits)
CUT_AIM_SECONDS = 2.0
_IN_TRANSACTION = ("active", "idle in transaction", "idle in transaction (aborted)")


def cut(dsn: str, database: str, application_name: str) -> tuple[float, int, Counter[str]]:
    """Terminate every backend of the servers (and only theirs, by ``application_name``),
    at a moment when at least one of them is inside a transaction (polled every 5 ms for up
    to CUT_AIM_SECONDS): when (``time.monotonic()``), how many were terminated, by the state
    they were in."""
    with psycopg.connect(dsn, autocommit=True, application_name="aventide-d4-cutter") as conn:
        aim = time.monotonic() + CUT_AIM_SECONDS
        while (
            time.monotonic() < aim
            and not conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
                " AND state = ANY(%s) LIMIT 1",
                (database, application_name, list(_IN_TRANSACTION)),
            ).fetchone()
        ):
            time.sleep(0.005)
        at = time.monotonic()
        rows = conn.execute(
            "SELECT pid, coalesce(state, ''), pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
            (database, application_name),
        ).fetchall()
    killed = sum(1 for _pid, _state, ok in rows if ok)
    return at, killed, Counter(state for _pid, state, _ok in rows)


def _dsn() -> str:
    from chaos.harness import database_url_of

    return database_url_of(connection.settings_dict)


async def drive(base_url: str, world: World, sizes: Sizes, application_name: str) -> History:
    history = History(until=sizes.duration)
    database, dsn = str(connection.settings_dict["NAME"]), _dsn()
    queue = list(reversed(world.paid))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    timeout = httpx.Timeout(REQUEST_TIMEOUT)

    async def cutter() -> None:
        for at in sizes.cuts:
            await asyncio.sleep(max(0.0, at - history.now()))
            at, killed, states = await asyncio.to_thread(cut, dsn, database, application_name)
            history.cuts.append((at - history.t0, killed, states))
            history.until = max(history.until, at - history.t0 + RECOVERY_SECONDS + LATE_WINDOW)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        tasks = [
            *(
                chat_client(client, history, world, i, sizes.think)
                for i in range(sizes.conversations)
            ),
            *(create_client(client, history, world, i, sizes.think) for i in range(sizes.creators)),
            *(
                cancel_client(client, history, world, queue, sizes.duration, sizes.think)
                for _ in range(sizes.cancellers)
            ),
            cutter(),
        ]
        await asyncio.gather(*tasks)
    return history


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Verdict:
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, what: str) -> None:
        self.problems[kind].append(what)

    @property
    def broken(self) -> int:
        return sum(len(v) for v in self.problems.values())

    def report(self, limit: int = 15) -> str:
        lines = []
        for kind, items in sorted(self.problems.items()):
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            lines.append(f"{kind}: {len(items)}{more}")
            lines += [f"  {item}" for item in items[:limit]]
        return "\n".join(lines)


def check_chat(world: World, history: History, verdict: Verdict) -> dict[str, int]:
    prefix = f"d4-{world.run}-"
    sends = [op for op in history.ops if op.kind == "send"]
    rows = list(
        Message.objects.filter(
            conversation_id__in=world.conversations, client_message_id__startswith=prefix
        ).values_list("pk", "conversation_id", "client_message_id")
    )
    by_cid: dict[str, list[int]] = defaultdict(list)
    for pk, _conv, cid in rows:
        by_cid[cid].append(pk)
    for cid, pks in by_cid.items():
        if len(pks) > 1:
            verdict.add("duplicate message rows", f"clientMessageId {cid}: messages {pks}")
    told = {op.key: op for op in sends}
    for op in sends:
        if op.outcome != "ok":
            verdict.add("sends not settled", f"{op.key}: {op.outcome} after {op.attempts} attempts")
            continue
        pks = by_cid.get(op.key, [])
        if pks != [op.told]:
            verdict.add("told vs database", f"{op.key}: told message {op.told}, database {pks}")
    for cid, pks in by_cid.items():
        if cid not in told or told[cid].outcome != "ok":
            verdict.add("rows no client was told of", f"{cid}: messages {pks}")
    ids = [pk for pk, _c, _cid in rows]
    audited = Counter(
        int(v)
        for v in AuditEvent.objects.filter(
            action__in=("message.sent", "message.redacted"), data__messageId__in=ids
        ).values_list("data__messageId", flat=True)
    )
    published = Counter(
        int(v)
        for v in RealtimeEvent.objects.filter(
            type="message.created", payload__messageId__in=ids
        ).values_list("payload__messageId", flat=True)
    )
    for pk in ids:
        if audited[pk] != 1:
            verdict.add("partial commit: message audit rows", f"message {pk}: {audited[pk]}")
        if published[pk] != 1:
            verdict.add("partial commit: message realtime events", f"message {pk}: {published[pk]}")
    for conversation in Conversation.objects.filter(pk__in=world.conversations):
        seqs = list(
            Message.objects.filter(conversation_id=conversation.pk)
            .order_by("seq")
            .values_list("seq", flat=True)
        )
        if seqs != list(range(1, conversation.last_seq + 1)):
            verdict.add(
                "partial commit: seq gaps",
                f"conversation {conversation.pk}: last_seq {conversation.last_seq}, "
                f"{len(seqs)} rows",
            )
    return {"sends": len(sends), "messages": len(rows)}


def check_created(world: World, history: History, verdict: Verdict) -> dict[str, int]:
    prefix = f"d4-{world.run}-order-"
    creates = [op for op in history.ops if op.kind == "create"]
    rows = list(
        Order.objects.filter(idempotency_key__startswith=prefix).values_list(
            "pk", "idempotency_key"
        )
    )
    by_key: dict[str, list[int]] = defaultdict(list)
    for pk, key in rows:
        by_key[key].append(pk)
    told = {op.key: op for op in creates}
    for op in creates:
        if op.outcome != "ok":
            verdict.add(
                "creates not settled", f"{op.key}: {op.outcome} after {op.attempts} attempts"
            )
        elif by_key.get(op.key, []) != [op.told]:
            verdict.add(
                "told vs database", f"{op.key}: told order {op.told}, database {by_key.get(op.key)}"
            )
    for key, pks in by_key.items():
        if len(pks) > 1:
            verdict.add("duplicate orders", f"Idempotency-Key {key}: orders {pks}")
        if key not in told or told[key].outcome != "ok":
            verdict.add("rows no client was told of", f"{key}: orders {pks}")
    ids = [pk for pk, _key in rows]
    audited = Counter(
        int(v)
        for v in AuditEvent.objects.filter(
            action="order.created", target_id__in=[str(pk) for pk in ids]
        ).values_list("target_id", flat=True)
    )
    chats = set(Conversation.objects.filter(order_id__in=ids).values_list("order_id", flat=True))
    for pk in ids:
        if audited[pk] != 1:
            verdict.add("partial commit: order.created audit rows", f"order {pk}: {audited[pk]}")
        if pk not in chats:
            verdict.add("partial commit: order without its conversation", f"order {pk}")
    return {"creates": len(creates), "orders_created": len(rows)}


def check_money(world: World, history: History, verdict: Verdict) -> dict[str, int]:
    cancels = {int(op.key): op for op in history.ops if op.kind == "cancel"}
    for op in cancels.values():
        if op.outcome != "ok":
            verdict.add(
                "cancels not settled", f"order {op.key}: {op.outcome} after {op.attempts} attempts"
            )
    status = dict(Order.objects.filter(pk__in=world.paid).values_list("pk", "status"))
    cancelled = {pk for pk, s in status.items() if s == OrderStatus.CANCELLED}
    told_cancelled = {pk for pk, op in cancels.items() if op.outcome == "ok"}
    for pk in sorted(told_cancelled - cancelled):
        verdict.add("told vs database", f"order {pk}: told cancelled, database {status[pk]}")
    for pk in sorted(cancelled - set(cancels)):
        verdict.add("told vs database", f"order {pk}: cancelled, but no client cancelled it")
    refunds = Counter(
        Transaction.objects.filter(reason="refund", order_id__in=world.paid).values_list(
            "order_id", flat=True
        )
    )
    audited = Counter(
        int(v)
        for v in AuditEvent.objects.filter(
            action="order.cancelled", target_id__in=[str(pk) for pk in world.paid]
        ).values_list("target_id", flat=True)
    )
    jobs = Counter(
        int(key.split(":")[1])
        for key in Job.objects.filter(
            idempotency_key__in=[f"order:{pk}:cancel-refund" for pk in world.paid]
        ).values_list("idempotency_key", flat=True)
    )
    for pk in world.paid:
        want = 1 if pk in cancelled else 0
        if refunds[pk] != want:
            kind = "double money movement" if refunds[pk] > want else "partial commit: refund"
            verdict.add(kind, f"order {pk} ({status[pk]}): {refunds[pk]} refund transactions")
        if audited[pk] != want:
            verdict.add("partial commit: order.cancelled audit rows", f"order {pk}: {audited[pk]}")
        if jobs[pk] != want:
            verdict.add("partial commit: refund jobs", f"order {pk}: {jobs[pk]}")
    # every transaction balances
    unbalanced = list(
        Entry.objects.values("txn_id")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
        .values_list("txn_id", "total")
    )
    for txn, total in unbalanced:
        verdict.add("unbalanced ledger transactions", f"txn {txn}: entries sum to {total}")
    # the accounts hold exactly what the history says
    sums = dict(
        Entry.objects.values("account")
        .annotate(total=Sum("amount_minor"))
        .values_list("account", "total")
    )
    for buyer in world.buyers:
        mine = [pk for pk in world.paid if world.order_buyer[pk] == buyer.pk]
        expect_refund = PRICE_MINOR * sum(1 for pk in mine if pk in cancelled)
        expect_paid = -PRICE_MINOR * len(mine)
        got_refund = int(sums.get(chart.buyer_refund(buyer.pk), 0))
        got_paid = int(sums.get(chart.buyer_payments(buyer.pk), 0))
        if got_refund != expect_refund:
            verdict.add(
                "account sums",
                f"{chart.buyer_refund(buyer.pk)}: {got_refund}, expected {expect_refund}",
            )
        if got_paid != expect_paid:
            verdict.add(
                "account sums",
                f"{chart.buyer_payments(buyer.pk)}: {got_paid}, expected {expect_paid}",
            )
    balances = dict(
        AccountBalance.objects.filter(
            account__in=[chart.escrow(pk) for pk in world.paid]
        ).values_list("account", "balance_minor")
    )
    for pk in world.paid:
        account = chart.escrow(pk)
        expect = 0 if pk in cancelled else PRICE_MINOR
        if int(sums.get(account, 0)) != expect or balances.get(account) != expect:
            verdict.add(
                "account sums",
                f"{account} ({status[pk]}): entries {sums.get(account, 0)}, "
                f"balance row {balances.get(account)}, expected {expect}",
            )
    total = int(Entry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0)
    if total != 0:
        verdict.add("account sums", f"the whole ledger sums to {total}")
    return {
        "cancels": len(cancels),
        "refunds": sum(refunds.values()),
        "refunded_minor": PRICE_MINOR * len(cancelled),
    }


#: the outbox's lease in the drill (see run_drill) and how long the jobs may take to settle
#: after the load: a lease, a dispatch tick, a retry's backoff, with room for a loaded box
LEASE_SECONDS = 15
SETTLE_SECONDS = 90.0
_SETTLED = (JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.DISCARDED)


def settle_jobs(first_job: int) -> float:
    """Wait (bounded) until every outbox job the load enqueued is succeeded or dead; how long
    it took. The workers' connections were cut too: a job whose run lost its connection waits
    for its lease to expire and the dispatcher to hand it out again."""
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_SECONDS:
        open_jobs = Job.objects.filter(pk__gte=first_job).exclude(status__in=_SETTLED).exists()
        connection.close()
        if not open_jobs:
            break
        time.sleep(0.5)
    return time.monotonic() - began


def check_jobs(first_job: int, verdict: Verdict) -> dict[str, int]:
    """Every outbox job the load enqueued settled, none in the DLQ (the sandbox never fails
    here): the refunds reached the (sandbox) provider and the chat's notices went out."""
    jobs = list(
        Job.objects.filter(pk__gte=first_job).values_list("pk", "kind", "operation", "status")
    )
    for pk, kind, operation, status in jobs:
        if status != JobStatus.SUCCEEDED:
            verdict.add(
                "outbox jobs not settled" if status not in _SETTLED else "outbox jobs dead",
                f"job {pk} ({kind} {operation}): {status}",
            )
    runs: Counter[int] = Counter(
        JobAttempt.objects.filter(job_id__gte=first_job).values_list("job_id", flat=True)
    )
    return {"jobs": len(jobs), "jobs_rerun": sum(1 for n in runs.values() if n > 1)}


@dataclass
class CutReport:
    at: float
    killed: int
    states: Counter[str]
    errors: int
    recovery: float
    late_requests: int
    late_errors: int

    def line(self) -> str:
        states = ", ".join(f"{n} {s or '?'}" for s, n in sorted(self.states.items()))
        return (
            f"cut at {self.at:5.1f}s: {self.killed} backends ({states}); {self.errors} errors, "
            f"recovered in {self.recovery:.2f}s; from +{RECOVERY_SECONDS:.0f}s: "
            f"{self.late_errors}/{self.late_requests} errors"
        )


def check_errors(history: History, sizes: Sizes, verdict: Verdict) -> list[CutReport]:
    errors = [a for a in history.attempts if a.error]
    for a in errors:
        if not a.actionable:
            verdict.add(
                "errors the client cannot act on",
                f"{a.kind} {a.key} at {a.start:.2f}s: {a.status or 'no answer'} {a.code} "
                f"{a.detail}",
            )
    if not history.cuts:
        verdict.add("cuts", "the cutter never ran")
        return []
    first = history.cuts[0][0]
    for a in errors:
        if a.end < first:
            verdict.add("errors before the first cut", f"{a.kind} {a.key}: {a.status} {a.code}")
    reports = []
    ends = [c[0] for c in history.cuts[1:]] + [history.until]
    for (at, killed, states), until in zip(history.cuts, ends, strict=True):
        mine = [a for a in errors if at <= a.end < until]
        recovery = max((a.end - at for a in mine), default=0.0)
        # started 5 s after this cut or later, answered before the next one
        late = [a for a in history.attempts if a.start >= at + RECOVERY_SECONDS and a.end < until]
        late_errors = sum(1 for a in late if a.error)
        report = CutReport(at, killed, states, len(mine), recovery, len(late), late_errors)
        reports.append(report)
        if killed == 0:
            verdict.add("cuts", f"cut at {at:.1f}s found no backend of the servers")
        if not late:
            verdict.add("error rate after a cut", f"cut at {at:.1f}s: no requests after +5s")
        elif late_errors / len(late) >= MAX_ERROR_RATE:
            verdict.add(
                "error rate after a cut",
                f"cut at {at:.1f}s: {late_errors}/{len(late)} requests failed from +5s",
            )
    return reports


# --- the drill ---------------------------------------------------------------------------------


def run_drill(drill: Drill, sizes: Sizes) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    began = time.monotonic()
    application_name = f"aventide-d4-{drill.run_id}"
    # the servers start (~5 s of imports) while the test seeds the database
    servers: list[HttpServer] = []
    env = {
        "PGAPPNAME": application_name,  # libpq tags every connection of the drill's processes
        "DB_POOL_MAX_SIZE": "6",
        "MESSAGING_RATE_PER_CONVERSATION": "1000000",
        "MESSAGING_RATE_PER_SENDER": "1000000",
        # the outbox: a job whose worker lost its connection mid-run is re-dispatched when its
        # lease expires (120 s in production); the sandbox's webhooks are not what this tests
        "INTEGRATIONS_LEASE_SECONDS": str(LEASE_SECONDS),
        "INTEGRATIONS_DISPATCH_EVERY_SECONDS": "2",
        "SANDBOX_WEBHOOKS": "false",
    }

    def start() -> None:
        servers.append(drill.asgi_server(workers=2, **env))
        drill.celery_worker(concurrency=2, **env)
        drill.celery_beat(**env)

    starting = threading.Thread(target=start, daemon=True)
    starting.start()
    try:
        world = seed(drill, sizes)
    finally:
        connection.close()
        starting.join(timeout=120)
    assert servers, "the servers did not start (see the log tails)"
    web = servers[0]
    print(f"seeded and serving at {time.monotonic() - began:.1f}s")
    first_job = (Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    connection.close()
    history = asyncio.run(drive(web.base_url, world, sizes, application_name))
    print(f"load done at {time.monotonic() - began:.1f}s")
    settle_seconds = settle_jobs(first_job)
    verdict = Verdict()
    figures = {
        **check_chat(world, history, verdict),
        **check_created(world, history, verdict),
        **check_money(world, history, verdict),
    }
    cuts = check_errors(history, sizes, verdict)
    figures.update(check_jobs(first_job, verdict))
    requests = len(history.attempts)
    errors = sum(1 for a in history.attempts if a.error)
    statuses = Counter(f"{a.status} {a.code}".strip() for a in history.attempts if a.error)
    record(
        DRILL,
        cuts=len(cuts),
        backends_killed=sum(c.killed for c in cuts),
        killed_in_transaction=sum(
            n for c in cuts for state, n in c.states.items() if state in _IN_TRANSACTION
        ),
        requests=requests,
        errors=errors,
        **figures,
        max_recovery_ms=int(1000 * max((c.recovery for c in cuts), default=0.0)),
        jobs_settle_ms=int(1000 * settle_seconds),
        broken=verdict.broken,
    )
    line = (
        f"{DRILL}: {'OK' if not verdict.broken else 'BROKEN'} -- {len(cuts)} cuts, "
        f"{sum(c.killed for c in cuts)} backends killed, {requests} requests "
        f"({figures['sends']} sends, {figures['creates']} creates, {figures['cancels']} cancels), "
        f"{errors} errors {dict(statuses)}, max recovery "
        f"{max((c.recovery for c in cuts), default=0.0):.2f}s, {figures['refunds']} refunds, "
        f"{figures['jobs']} outbox jobs settled in {settle_seconds:.1f}s "
        f"({figures['jobs_rerun']} run again after a cut), "
        f"broken {verdict.broken}"
    )
    print("\n" + line)
    for report in cuts:
        print("  " + report.line())
    assert not verdict.broken, f"{line}\n{verdict.report()}"


@pytest.mark.timeout(300)
def test_db_cuts_short(drill: Drill) -> None:
    run_drill(drill, SHORT)


@pytest.mark.chaos_long
@pytest.mark.timeout(900)
def test_db_cuts_long(drill: Drill) -> None:
    run_drill(drill, LONG)


def test_cutter_touches_only_the_named_application(db: None) -> None:
    """The cutter's filter: a backend of another application_name on the same database (the
    test's own, here) survives."""
    database = str(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    _at, killed, _states = cut(_dsn(), database, f"nobody-{secrets.token_hex(4)}")
    assert killed == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == mine
