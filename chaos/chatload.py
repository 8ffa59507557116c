"""The chat load generator and history checker of drills 3 (Redis restart) and 6 (soak).

Two halves that share one plan (a JSON document):

- **The load** (no Django here: it runs as its own process, ``python -m chaos.chatload
  --plan plan.json --role send|listen|all --out result.json``, started through the drill so
  it is stopped with it). *Senders* post ``rate`` messages/s for ``seconds`` seconds round
  robin over the plan's conversations (``POST /api/conversations/{id}/messages``), alternating
  buyer and seller, every body a distinct everyday line; a failed send (transport error, 5xx,
  429, 401) is retried with the **same clientMessageId** (the client contract) with backoff
  until ``retry_seconds`` after the run. Optional REST readers make ``rest_rate`` GETs/s
  (a conversation's messages, the conversation list, the realtime catchup). *Listeners* are
  WebSocket clients as docs/api/realtime-websocket.md describes them: a ticket
  (``POST /api/auth/ws-token``), ``/ws/realtime/`` with the ticket in the subprotocol, one
  ``subscribe`` per stream with ``since`` = the highest event id processed on it; on any loss
  of the socket they reconnect (backoff + jitter) and resume with ``since``; at the end each
  closes and does a **final reconnect with since** and reads until ``caughtUp`` on every
  stream. Every request and frame is recorded with its wall-clock time.
- **The check** (Django, in the test process): ``seed`` builds the conversations through the
  services (orders, activation) and mints the credentials with the drill's keys; ``check``
  compares the history with the database: every acknowledged send is in the database exactly
  once with the id it was told (``lost``), every listener's received event ids (live +
  resumed + final catchup) equal the realtime log's events addressed to it on its streams in
  the run (``missing``, ``duplicates``, ``foreign``), with the ids named.

The figures (send->deliver latency of live frames, errors by time) come from the same
history. Every loop is bounded by the plan's times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: statuses a sender does not retry (the request itself is refused: retrying cannot help)
FINAL_REFUSALS = frozenset({400, 403, 404, 409, 422})
#: how long a listener waits for ``caughtUp`` on its final reconnect
FINAL_CATCHUP_SECONDS = 30.0
#: how long after the run a load process may take to end (late sends' retries, the final
#: catchups); the drill fails with the load's log past it
END_BUDGET_SECONDS = 420.0


def chat_body(n: int) -> str:
    """An everyday chat line, distinct for every ``n`` below 32,768 (distinct moderation
    fingerprints: repeating one body is spam, as it should be)."""
    from bench.http_paths import chat_line

    return chat_line(n)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def _headers(cred: dict[str, str]) -> dict[str, str]:
    if cred["kind"] == "bearer":
        return {"Authorization": f"Bearer {cred['token']}"}
    return {"X-Anonymous-Id": cred["id"], "X-Anonymous-Signature": cred["signature"]}


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Everything the load saw, with wall-clock times (seconds since the epoch)."""

    sends: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    listeners: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedule_lag: list[float] = field(default_factory=list)
    #: sends of the plan never started: the server fell too far behind the offered rate
    unsent: int = 0

    def error(self, kind: str, what: str) -> None:
        self.errors.append((time.time(), kind, what))

    def dump(self) -> dict[str, Any]:
        return {
            "sends": self.sends,
            "errors": self.errors,
            "requests": dict(self.requests),
            "listeners": self.listeners,
            "schedule_lag_max": max(self.schedule_lag, default=0.0),
            "schedule_late": sum(1 for lag in self.schedule_lag if lag > 1.0),
            "unsent": self.unsent,
        }


class Progress:
    """A progress line on stderr every 10 s (the load process's log)."""

    def __init__(self, rec: Recorder, what: str) -> None:
        self.rec, self.what, self.next = rec, what, time.time() + 10

    def tick(self) -> None:
        if time.time() < self.next:
            return
        self.next += 10
        acked = sum(1 for s in self.rec.sends.values() if s.get("acked"))
        sys.stderr.write(
            f"{time.strftime('%H:%M:%S')} {self.what}: started {len(self.rec.sends)}, "
            f"acked {acked}, errors {len(self.rec.errors)}, "
            f"lag {self.rec.schedule_lag[-1] if self.rec.schedule_lag else 0:.1f}s\n"
        )
        sys.stderr.flush()


async def _sleep_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _send_one(http: Any, plan: dict[str, Any], rec: Recorder, n: int) -> None:
    conversations = plan["conversations"]
    conversation = conversations[n % len(conversations)]
    sender = conversation["senders"][(n // len(conversations)) % len(conversation["senders"])]
    base = plan["base_urls"][n % len(plan["base_urls"])]
    cmid = f"{plan['run']}-{n}"
    body = chat_body(plan.get("body_offset", 0) + n)
    entry: dict[str, Any] = {
        "conversation": conversation["id"],
        "t0": time.time(),
        "attempts": 0,
        "statuses": [],
    }
    rec.sends[cmid] = entry
    deadline = plan["start_at"] + plan["seconds"] + plan["retry_seconds"]
    url = f"{base}/api/conversations/{conversation['id']}/messages"
    attempt = 0
    while True:
        attempt += 1
        entry["attempts"] = attempt
        rec.requests["send"] += 1
        try:
            response = await http.post(
                url, json={"clientMessageId": cmid, "body": body}, headers=_headers(sender)
            )
            status = response.status_code
        except Exception as exc:  # noqa: BLE001 - recorded; the client retries
            status, response = 0, None
            rec.error("send", type(exc).__name__)
        entry["statuses"].append(status)
        if response is not None and 200 <= status < 300:
            data = response.json()
            entry.update(acked=True, t_ack=time.time(), message_id=data["id"], seq=data["seq"])
            return
        if response is not None:
            code = ""
            with contextlib.suppress(Exception):
                code = str(response.json().get("code", ""))
            rec.error("send", f"{status} {code}".strip())
            if status in FINAL_REFUSALS:
                entry["refused"] = f"{status} {code}"
                return
        if time.time() >= deadline:
            entry["gave_up"] = True
            return
        await asyncio.sleep(min(2.0, 0.2 * 2 ** min(attempt, 4)) * (0.5 + random.random()))  # noqa: S311


async def _senders(http: Any, plan: dict[str, Any], rec: Recorder) -> None:
    rate, seconds = float(plan["rate"]), float(plan["seconds"])
    if rate <= 0:
        return
    total = int(rate * seconds)
    # No more sends in flight than the client has connections: requests queued inside httpx's
    # pool cost the load process CPU per queued request on every response (measured: 0.24 ->
    # 0.7 of a core once the servers fell a little behind), taking from the servers on the
    # same cores; waiting on this semaphore costs nothing.
    connections = int(plan.get("http_connections", 100))
    inflight = asyncio.Semaphore(min(int(plan.get("max_inflight", 400)), connections))
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        try:
            await _send_one(http, plan, rec, n)
        finally:
            inflight.release()

    cutoff = plan["start_at"] + seconds + float(plan.get("late_cutoff_seconds", 10.0))
    progress = Progress(rec, "send")
    for n in range(total):
        due = plan["start_at"] + n / rate
        await _sleep_until(due)
        await inflight.acquire()
        if time.time() > cutoff:  # the server cannot take the offered rate: stop offering
            inflight.release()
            rec.unsent = total - n
            break
        rec.schedule_lag.append(max(0.0, time.time() - due))
        progress.tick()
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=plan["retry_seconds"] + 60)


async def _rest_readers(http: Any, plan: dict[str, Any], rec: Recorder) -> None:
    """``rest_rate`` GETs/s: a conversation's last messages, the conversation list, the
    realtime catchup (each one, round robin, as one of the conversation's senders)."""
    rate = float(plan.get("rest_rate", 0))
    if rate <= 0:
        return
    conversations = plan["conversations"]
    total = int(rate * plan["seconds"])
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        conversation = conversations[(n // 3) % len(conversations)]
        cred = conversation["senders"][n % len(conversation["senders"])]
        base = plan["base_urls"][n % len(plan["base_urls"])]
        path = (
            f"/api/conversations/{conversation['id']}/messages?limit=20",
            "/api/conversations",
            f"/api/realtime/catchup?since={plan['cursor']}&limit=50",
        )[n % 3]
        rec.requests["rest"] += 1
        try:
            response = await http.get(base + path, headers=_headers(cred))
            if response.status_code >= 300:
                rec.error("rest", str(response.status_code))
        except Exception as exc:  # noqa: BLE001 - recorded
            rec.error("rest", type(exc).__name__)

    cutoff = plan["start_at"] + plan["seconds"] + float(plan.get("late_cutoff_seconds", 10.0))
    for n in range(total):
        await _sleep_until(plan["start_at"] + n / rate)
        if time.time() > cutoff:
            break
        if len(tasks) >= 200:  # bounded: a slow server makes the readers wait, not pile up
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)


class _Listener:
    """One WebSocket client: reconnects on any loss, resumes each stream with ``since``."""

    def __init__(self, spec: dict[str, Any], plan: dict[str, Any], rec: Recorder) -> None:
        self.name: str = spec["name"]
        self.cred: dict[str, str] = spec["cred"]
        self.streams: list[str] = spec["streams"]
        self.base: str = spec["base_url"]
        self.origin: str = plan["origin"]
        self.last = {stream: int(plan["cursor"]) for stream in self.streams}
        self.rec = rec
        #: [event id, stream, message id or 0, received at, path (live|resume|final)]
        self.received: list[list[Any]] = []
        self.state: dict[str, Any] = {"received": self.received, "reconnects": 0, "errors": []}
        rec.listeners[self.name] = self.state

    def _error(self, what: str) -> None:
        self.state["errors"].append([time.time(), what])
        self.rec.error("ws", what)

    async def _ticket(self, http: Any) -> str:
        self.rec.requests["ticket"] += 1
        response = await http.post(f"{self.base}/api/auth/ws-token", headers=_headers(self.cred))
        if response.status_code != 200:
            raise RuntimeError(f"ws-token {response.status_code}")
        return str(response.json()["ticket"])

    async def session(self, http: Any, stop: asyncio.Event | None, *, final: bool) -> bool:
        """One connection. Returns True when it ended because ``stop`` was set (or, final,
        every stream caught up); False when the socket was lost."""
        from websockets.asyncio.client import connect

        ticket = await self._ticket(http)
        url = self.base.replace("http://", "ws://") + "/ws/realtime/"
        self.rec.requests["ws_connect"] += 1
        async with connect(
            url,
            origin=self.origin,  # type: ignore[arg-type]
            subprotocols=["aventide.v1", f"ticket.{ticket}"],  # type: ignore[list-item]
            open_timeout=30,
            ping_interval=20,
            ping_timeout=60,
            close_timeout=5,
            proxy=None,
            max_queue=None,
        ) as ws:
            for stream in self.streams:
                await ws.send(
                    json.dumps({"type": "subscribe", "stream": stream, "since": self.last[stream]})
                )
            resuming = set(self.streams)
            path = "final" if final else "resume"
            watcher = None
            if stop is not None:

                async def close_on_stop() -> None:
                    await stop.wait()
                    await ws.close()

                watcher = asyncio.create_task(close_on_stop())
            heart = asyncio.create_task(self._heartbeat(ws))
            try:
                async for raw in ws:
                    now = time.time()
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if kind == "event":
                        stream = frame.get("stream", "")
                        data = frame.get("data") or {}
                        live = stream not in resuming
                        self.received.append(
                            [
                                frame["id"],
                                stream,
                                int(data.get("messageId") or 0),
                                round(now, 4),
                                "live" if live and not final else path,
                            ]
                        )
                        if stream in self.last:
                            self.last[stream] = max(self.last[stream], int(frame["id"]))
                    elif kind == "caughtUp":
                        resuming.discard(frame.get("stream", ""))
                        if final and not resuming:
                            return True
                    elif kind == "error":
                        self._error(f"frame {frame.get('code', '?')}")
                    elif kind == "unsubscribed":
                        self._error(f"unsubscribed {frame.get('reason', '?')}")
            finally:
                heart.cancel()
                if watcher is not None:
                    watcher.cancel()
            return stop is not None and stop.is_set()

    async def _heartbeat(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(20 + random.random() * 5)  # noqa: S311
            await ws.send('{"type":"ping"}')

    async def run(self, http: Any, stop: asyncio.Event, final_slots: asyncio.Semaphore) -> None:
        failures = 0
        while not stop.is_set():
            try:
                if await self.session(http, stop, final=False):
                    break
                self._error("closed")
            except Exception as exc:  # noqa: BLE001 - recorded; the client reconnects
                self._error(type(exc).__name__ if "ws-token" not in str(exc) else str(exc))
            if stop.is_set():
                break
            failures += 1
            self.state["reconnects"] += 1
            await asyncio.sleep(min(3.0, 0.25 * failures) * (0.5 + random.random()))  # noqa: S311
        # the final reconnect with ``since``: whatever live delivery missed comes now (a
        # bounded number at a time: a thousand tickets at once would queue in the client's
        # own connection pool, not in the server)
        for attempt in range(8):
            try:
                async with final_slots:
                    ok = await asyncio.wait_for(
                        self.session(http, None, final=True), timeout=FINAL_CATCHUP_SECONDS
                    )
                if ok:
                    self.state["final"] = True
                    return
                self._error("final closed")
            except Exception as exc:  # noqa: BLE001 - recorded; tried again
                self._error(f"final {type(exc).__name__}")
            await asyncio.sleep(0.5 * (attempt + 1))


class _Gated:
    """The HTTP clients behind semaphores of their pools' size: requests beyond the
    connections wait here, never inside httpx's pool, which spends CPU on every queued request
    at every response (measured: the soak's send process pegged a core once the servers fell
    a little behind, and starved them on the same cores). The connections are split over
    several clients of ``SHARD_CONNECTIONS`` each: httpcore scans every connection of its
    pool (an expiry check with a socket call per connection) for every request, so one pool
    of 100 cost the send process ~70% of its CPU in that scan at the soak's 150 requests/s."""

    SHARD_CONNECTIONS = 8

    def __init__(self, clients: list[Any], per_client: int) -> None:
        self._clients = clients
        self._gates = [asyncio.Semaphore(per_client) for _ in clients]
        self._turn = 0

    def _pick(self) -> int:
        """The next shard in turn with a free connection (else the next in turn: it queues
        on that shard's semaphore)."""
        n = len(self._clients)
        start = self._turn
        self._turn = (start + 1) % n
        for k in range(n):
            i = (start + k) % n
            if not self._gates[i].locked():
                return i
        return start

    async def get(self, url: str, **kwargs: Any) -> Any:
        i = self._pick()
        async with self._gates[i]:
            return await self._clients[i].get(url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Any:
        i = self._pick()
        async with self._gates[i]:
            return await self._clients[i].post(url, **kwargs)


@contextlib.asynccontextmanager
async def _http(plan: dict[str, Any]) -> Any:
    """``_Gated`` over ``http_connections`` keep-alive connections in shards."""
    import httpx

    connections = max(1, int(plan.get("http_connections", 100)))
    per_client = min(_Gated.SHARD_CONNECTIONS, connections)
    shards = -(-connections // per_client)
    # idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s), so
    # a request never races the server closing the connection it reuses
    limits = httpx.Limits(max_connections=per_client, keepalive_expiry=2.0)
    timeout = httpx.Timeout(float(plan.get("http_timeout", 15.0)))
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)
            )
            for _ in range(shards)
        ]
        yield _Gated(clients, per_client)


async def run_load(plan: dict[str, Any], role: str) -> dict[str, Any]:
    """Drive the plan's load (``role``: ``send``, ``listen`` or ``all``) to its end."""
    rec = Recorder()
    async with _http(plan) as http:
        stop = asyncio.Event()
        listeners: list[asyncio.Task[None]] = []
        final_slots = asyncio.Semaphore(int(plan.get("final_concurrency", 50)))
        if role in ("listen", "all"):
            for i, spec in enumerate(plan["listeners"]):
                listener = _Listener(spec, plan, rec)
                listeners.append(asyncio.create_task(listener.run(http, stop, final_slots)))
                if i % 20 == 19:  # connect in waves (tickets are HTTP requests too)
                    await asyncio.sleep(0.05)
        work = []
        if role in ("send", "all"):
            work = [_senders(http, plan, rec), _rest_readers(http, plan, rec)]
        end = plan["start_at"] + plan["seconds"]
        done = Path(plan["done_file"]) if plan.get("done_file") else None
        if work:
            await asyncio.gather(*work)
            if done is not None:
                done.touch()
        if listeners:
            # the senders' end (their last retries included) plus the drain: live frames
            # still on their way arrive
            limit = end + float(plan["retry_seconds"]) + 90
            while done is not None and not done.exists() and time.time() < limit:
                await asyncio.sleep(0.5)
            await _sleep_until(end)
            await asyncio.sleep(float(plan.get("drain_seconds", 3.0)))
            stop.set()
            await asyncio.wait(listeners, timeout=FINAL_CATCHUP_SECONDS * 3 + 30)
            for task in listeners:
                task.cancel()
    return rec.dump()


def command(plan: Path, role: str, out: Path) -> list[str]:
    """The command line of one load process (``drill.process(name, command(...))``)."""
    return [sys.executable, "-m", "chaos.chatload", "--plan", str(plan), "--role", role,
            "--out", str(out)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The chaos drills' chat load (chaos/chatload.py)")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--role", choices=["send", "listen", "all"], default="all")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text())
    result = asyncio.run(run_load(plan, args.role))
    tmp = Path(args.out + ".tmp")
    tmp.write_text(json.dumps(result))
    tmp.rename(args.out)
    sys.stderr.write(f"chatload {args.role}: done\n")
    return 0


# --- the world and the check (Django: the test process) ---------------------------------------


@dataclass
class ChatWorld:
    """The run's conversations (ids, streams, senders) and listeners (who, which streams)."""

    conversations: list[dict[str, Any]]
    listeners: list[dict[str, Any]]
    cursor: int


def seed(
    drill: Any,
    *,
    buyers: int,
    conversations_per_buyer: int = 1,
    sockets: int | None = None,
    tag: str = "",
) -> ChatWorld:
    """``buyers`` x ``conversations_per_buyer`` active conversations, each with its own
    seller, made through the services (order, activation by the buyer), and credentials minted
    with the drill's keys. Listeners: one socket per buyer (on all its conversations) when
    ``sockets`` is None; else ``sockets`` sockets handed round robin over the parties (buyer,
    seller, anonymous recipient of each conversation), so some parties hold two."""
    from aventide.accounts import services as accounts
    from aventide.accounts.contracts import principal_for_user
    from aventide.accounts.models import User
    from aventide.accounts.tokens import sign_anonymous_id
    from aventide.orders import services as orders
    from messaging import services as messaging
    from messaging.models import Conversation
    from realtime.contracts import anon_key, user_key
    from realtime.models import Event

    tag = tag or drill.run_id
    conversations: list[dict[str, Any]] = []
    groups: list[list[dict[str, Any]]] = []
    buyer_parties: list[dict[str, Any]] = []
    with drill.signing_keys():
        for b in range(buyers):
            buyer = User.objects.create_user(
                email=f"buyer.{b}.{tag}@chaos.test", password=None, country_code="AR"
            )
            buyer_cred = {
                "kind": "bearer",
                "token": accounts.session_start(user=buyer, method="password").access,
            }
            buyer_party: dict[str, Any] = {
                "key": user_key(buyer.pk),
                "cred": buyer_cred,
                "streams": [],
            }
            buyer_parties.append(buyer_party)
            group = [buyer_party]
            groups.append(group)
            for k in range(conversations_per_buyer):
                seller = User.objects.create_user(
                    email=f"seller.{b}.{k}.{tag}@chaos.test",
                    password=None,
                    country_code="AR",
                    is_seller=True,
                )
                listing = orders.listing_create(
                    actor=principal_for_user(seller), title="Flores", price_minor=15_000
                )
                created = orders.order_create(
                    actor=principal_for_user(buyer), listing_id=listing.pk, recipient_name="Ana"
                )
                conversation = Conversation.objects.get(order_id=created.order.pk)
                messaging.conversation_activate(
                    actor=principal_for_user(buyer),
                    conversation_id=conversation.pk,
                    reason_code="delivery_question",
                )
                seller_cred = {
                    "kind": "bearer",
                    "token": accounts.session_start(user=seller, method="password").access,
                }
                stream = f"conversation:{conversation.pk}"
                buyer_party["streams"].append(stream)
                conversations.append(
                    {"id": conversation.pk, "stream": stream, "senders": [buyer_cred, seller_cred]}
                )
                group.append({"key": user_key(seller.pk), "cred": seller_cred, "streams": [stream]})
                access = created.recipient_access
                assert access is not None
                anon = str(access.anon_id)
                group.append(
                    {
                        "key": anon_key(anon),
                        "cred": {"kind": "anon", "id": anon, "signature": sign_anonymous_id(anon)},
                        "streams": [stream],
                    }
                )
    if sockets is None:
        chosen = buyer_parties
    else:
        pool = [party for group in groups for party in group]
        chosen = [pool[i % len(pool)] for i in range(sockets)]
    listeners = [
        {"name": f"l{i}", "key": p["key"], "cred": p["cred"], "streams": list(p["streams"])}
        for i, p in enumerate(chosen)
    ]
    cursor = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return ChatWorld(conversations=conversations, listeners=listeners, cursor=int(cursor))


def write_plan(
    path: Path,
    world: ChatWorld,
    *,
    run: str,
    base_urls: list[str],
    origin: str,
    start_at: float,
    seconds: float,
    rate: float,
    rest_rate: float = 0.0,
    retry_seconds: float = 45.0,
    drain_seconds: float = 3.0,
    listeners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    specs = world.listeners if listeners is None else listeners
    plan = {
        "run": run,
        "base_urls": base_urls,
        "origin": origin,
        "start_at": start_at,
        "seconds": seconds,
        "rate": rate,
        "rest_rate": rest_rate,
        "retry_seconds": retry_seconds,
        "drain_seconds": drain_seconds,
        "cursor": world.cursor,
        "done_file": str(path.with_suffix(".senders-done")),
        "conversations": world.conversations,
        "listeners": [
            {**spec, "base_url": base_urls[i % len(base_urls)]} for i, spec in enumerate(specs)
        ],
    }
    path.write_text(json.dumps(plan))
    return plan


def merge(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One history from the load processes' results (senders + listeners)."""
    merged: dict[str, Any] = {
        "sends": {},
        "errors": [],
        "requests": Counter(),
        "listeners": {},
        "schedule_lag_max": 0.0,
        "schedule_late": 0,
        "unsent": 0,
    }
    for result in results:
        merged["sends"].update(result["sends"])
        merged["errors"].extend(result["errors"])
        merged["requests"].update(result["requests"])
        merged["listeners"].update(result["listeners"])
        merged["schedule_lag_max"] = max(merged["schedule_lag_max"], result["schedule_lag_max"])
        merged["schedule_late"] += result["schedule_late"]
        merged["unsent"] += result.get("unsent", 0)
    merged["errors"].sort()
    return merged


@dataclass
class Verdict:
    """What the history says against the database (counts, and the ids behind each)."""

    acked: int = 0
    unacked: int = 0
    lost: list[str] = field(default_factory=list)
    wrong_id: list[str] = field(default_factory=list)
    duplicate_rows: list[str] = field(default_factory=list)
    db_messages: int = 0
    expected_deliveries: int = 0
    delivered: int = 0
    missing: dict[str, list[int]] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    foreign: dict[str, list[int]] = field(default_factory=dict)
    no_final: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    via_path: Counter[str] = field(default_factory=Counter)

    @property
    def missing_count(self) -> int:
        return sum(len(v) for v in self.missing.values())

    @property
    def duplicate_count(self) -> int:
        return sum(len(v) for v in self.duplicates.values())

    @property
    def foreign_count(self) -> int:
        return sum(len(v) for v in self.foreign.values())

    def broken(self) -> int:
        return (
            len(self.lost)
            + len(self.wrong_id)
            + len(self.duplicate_rows)
            + self.missing_count
            + self.duplicate_count
            + self.foreign_count
            + len(self.no_final)
        )

    def problems(self, limit: int = 20) -> list[str]:
        """The broken promises with their ids (so the case can be reproduced)."""
        out = []
        if self.lost:
            out.append(f"acknowledged but absent (clientMessageId): {self.lost[:limit]}")
        if self.wrong_id:
            out.append(f"acknowledged with another message id: {self.wrong_id[:limit]}")
        if self.duplicate_rows:
            out.append(f"more than one row: {self.duplicate_rows[:limit]}")
        for label, table in (
            ("missing event ids", self.missing),
            ("duplicate event ids", self.duplicates),
            ("event ids not addressed to it", self.foreign),
        ):
            for name, ids in list(table.items())[:limit]:
                out.append(f"listener {name}: {label} {ids[:limit]}")
        if self.no_final:
            out.append(f"listeners whose final catchup never completed: {self.no_final[:limit]}")
        return out


def check(world: ChatWorld, history: dict[str, Any], *, run: str) -> Verdict:
    """The history against the database (see the module docstring)."""
    from messaging.models import Message
    from realtime.models import InboxEntry

    verdict = Verdict()
    conversation_ids = [c["id"] for c in world.conversations]
    rows: dict[str, list[int]] = defaultdict(list)
    for cmid, pk in Message.objects.filter(
        conversation_id__in=conversation_ids, client_message_id__startswith=f"{run}-"
    ).values_list("client_message_id", "pk"):
        rows[cmid].append(pk)
    verdict.db_messages = sum(len(v) for v in rows.values())
    sent_at: dict[int, float] = {}
    for cmid, send in history["sends"].items():
        if not send.get("acked"):
            verdict.unacked += 1
            continue
        verdict.acked += 1
        found = rows.get(cmid, [])
        if not found:
            verdict.lost.append(cmid)
        elif found != [send["message_id"]]:
            verdict.wrong_id.append(cmid)
        sent_at[int(send["message_id"])] = float(send["t0"])
    verdict.duplicate_rows = sorted(cmid for cmid, pks in rows.items() if len(pks) > 1)

    keys = {spec["name"]: spec for spec in world.listeners}
    expected_by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
    streams = sorted({s for spec in world.listeners for s in spec["streams"]})
    audience = sorted({spec["key"] for spec in world.listeners})
    for key, stream, event_id in InboxEntry.objects.filter(
        audience_key__in=audience, stream__in=streams, event_id__gt=world.cursor
    ).values_list("audience_key", "stream", "event_id"):
        expected_by_key[(key, stream)].add(int(event_id))
    for name, state in history["listeners"].items():
        spec = keys[name]
        expected: set[int] = set()
        for stream in spec["streams"]:
            expected |= expected_by_key[(spec["key"], stream)]
        ids = [int(r[0]) for r in state["received"]]
        got = set(ids)
        verdict.expected_deliveries += len(expected)
        verdict.delivered += len(got & expected)
        if missing := sorted(expected - got):
            verdict.missing[name] = missing
        if dups := sorted(i for i, c in Counter(ids).items() if c > 1):
            verdict.duplicates[name] = dups
        if foreign := sorted(got - expected):
            verdict.foreign[name] = foreign
        if not state.get("final"):
            verdict.no_final.append(name)
        for _event_id, _stream, message_id, at, path in state["received"]:
            verdict.via_path[path] += 1
            if path == "live" and message_id in sent_at:
                verdict.latencies_ms.append((float(at) - sent_at[message_id]) * 1000.0)
    return verdict


def unsent_problem(history: dict[str, Any], rate: float, seconds: float) -> str:
    """The run did not offer the load it was asked for (the server fell > 10 s behind)."""
    started = len(history["sends"])
    return (
        f"the offered load was not achieved: {history['unsent']} of {int(rate * seconds)} "
        f"sends never started ({started / seconds:.1f} sends/s instead of {rate:.0f}): the "
        "servers fell more than 10 s behind"
    )


def request_total(history: dict[str, Any]) -> int:
    return int(sum(history["requests"].values()))


if __name__ == "__main__":
    raise SystemExit(main())
