"""Drill 1 of issue 15: the send dedupe storm.

The promise: however many times, however concurrently and over whichever path a client sends
one message (one ``(conversation, clientMessageId)``, one body), the chat stores it once,
tells every caller the same message, publishes it once, notifies each party once, and never
answers a 5xx.

The drill builds an active conversation through the services (a buyer, a seller, the order's
anonymous recipient), starts the production server with two worker processes, and opens the
other parties' sockets on the conversation's stream (the seller and the anonymous recipient,
as their apps do). Then the buyer fires the storm, all at once: half of the sends as
``POST /api/conversations/{id}/messages`` (an ``httpx`` client with a bounded pool), half as
``{"type": "send", "kind": "message.send"}`` frames spread over ``connections`` WebSockets,
every one with the same clientMessageId and body.

It checks the history three ways:

- what the clients were told: every answer is a 201/200 or a ``sent`` frame carrying the same
  message id and seq, exactly one of them says "created" (201, or ``sent`` without
  ``replayed``), nothing else (no 5xx, no ``INTERNAL_ERROR``, no 429: a retry of a message
  is never rate limited);
- what the database holds: one message row for the key, ``last_seq`` moved by one, one
  ``message.sent`` audit row, one ``message.created`` realtime event with one inbox row per
  member, one notification decision per other party, no strike;
- what each party received: each listener got exactly one live frame for the message, a
  resume with ``since`` over the socket and the REST catchup (buyer, seller, recipient) each
  show exactly one event for it.

Sizes: the short version (``make test``) 200 sends over 10 sockets + REST; the full one
(``chaos_long``, ``make chaos``) 2,000 sends over 50 sockets + REST. The chat's rate limits are
the production defaults (the drill raises only the API's generic throttles, in the harness).
How to run it and read a failure: docs/operations/drills.md, "Drill 1".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from audit.models import Event as AuditEvent
from aventide.accounts import services as accounts
from aventide.accounts.tokens import sign_anonymous_id
from chaos import record
from chaos.harness import Drill
from messaging.models import Conversation, Message, NotificationDecision, Strike
from realtime.models import Event as RealtimeEvent
from realtime.models import InboxEntry
from tests.messaging.conftest import ChatWorld

pytestmark = [pytest.mark.postgres, pytest.mark.chaos]

DRILL = "Send dedupe storm"
ORIGIN = "http://127.0.0.1:8000"
CLIENT_MESSAGE_ID = "storm-1"
BODY = "¿El repartidor puede dejarlo en portería si no hay nadie?"
#: distinct bodies for the messages that fill the buyer's allowance (repeating one body, even
#: with other digits, would be spam: moderation masks digits in its fingerprint)
FILLERS = (
    *("alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"),
    *("juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"),
    *("sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"),
)
#: an error frame's code -> the status REST answers it with (to count them alike)
FRAME_STATUS = {
    "INTERNAL_ERROR": 500,
    "RATE_LIMITED": 429,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "MESSAGE_BLOCKED": 422,
    "CONVERSATION_NOT_ACTIVE": 409,
    "CONVERSATION_FROZEN": 409,
    "CONVERSATION_CLOSED": 409,
    "NOT_FOUND_OR_NO_ACCESS": 404,
    "SCOPE_VIOLATION": 403,
}
#: send frames per buyer socket in the late phase (the socket's frame burst is 40)
FRAMES_PER_SOCKET = 20
#: bounded waits (seconds)
OPEN_TIMEOUT = 30.0
ANSWER_TIMEOUT = 120.0
LIVE_TIMEOUT = 15.0
QUIET_AFTER = 1.0


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    chat: ChatWorld
    conversation: Conversation
    buyer: dict[str, str]
    seller: dict[str, str]
    recipient: dict[str, str]
    #: the newest realtime event id before the storm (the listeners' ``since``)
    cursor: int


def build_world(drill: Drill) -> World:
    """An active conversation (buyer, seller, anonymous recipient) made through the services,
    and each party's credentials signed with the drill's keys."""
    chat = ChatWorld("AR")
    order = chat.new_order()
    conversation = chat.active(order)  # seq 1: the activation's system message
    anon = chat.recipient(order)
    with drill.signing_keys():
        buyer = accounts.session_start(user=chat.buyer, method="password").access
        seller = accounts.session_start(user=chat.seller, method="password").access
        signature = sign_anonymous_id(anon.id)
    cursor = RealtimeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return World(
        chat=chat,
        conversation=conversation,
        buyer={"Authorization": f"Bearer {buyer}"},
        seller={"Authorization": f"Bearer {seller}"},
        recipient={"X-Anonymous-Id": str(anon.anon_id), "X-Anonymous-Signature": signature},
        cursor=cursor,
    )


# --- the clients -------------------------------------------------------------------------------


@dataclass
class Answer:
    """What one send was told."""

    path: str  # "rest" | "ws"
    index: int
    status: int  # HTTP status; for a frame: 201 sent, 200 sent+replayed, else the error's
    code: str = ""  # the error code, if any
    message_id: int | None = None
    seq: int | None = None
    ms: float = 0.0

    @property
    def created(self) -> bool:
        return self.status == 201

    def __str__(self) -> str:
        what = self.code or f"id={self.message_id} seq={self.seq}"
        return f"{self.path}#{self.index} {self.status} {what}"


@dataclass
class Listener:
    """A party's socket on the conversation's stream, recording every event frame."""

    name: str
    headers: dict[str, str]
    frames: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def events_for(self, message_id: int) -> list[int]:
        return [
            f["id"]
            for f in self.frames
            if f.get("type") == "event"
            and f.get("event") == "message.created"
            and f.get("data", {}).get("messageId") == message_id
        ]


async def ticket(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    issued = await http.post("/api/auth/ws-token", headers=headers)
    assert issued.status_code == 200, f"ws-token: {issued.status_code} {issued.text[:300]}"
    return str(issued.json()["ticket"])


async def open_socket(http: httpx.AsyncClient, ws_url: str, headers: dict[str, str]) -> Any:
    """An authenticated socket (ticket from ``POST /api/auth/ws-token`` in the first frame)."""
    ws = await connect(
        ws_url, origin=Origin(ORIGIN), open_timeout=OPEN_TIMEOUT, proxy=None, max_queue=None
    )
    await ws.send(json.dumps({"type": "auth", "ticket": await ticket(http, headers)}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
    assert frame.get("type") == "authenticated", frame
    return ws


async def subscribe(ws: ClientConnection, stream: str, since: int | None = None) -> None:
    frame: dict[str, Any] = {"type": "subscribe", "stream": stream}
    if since is not None:
        frame["since"] = since
    await ws.send(json.dumps(frame))


async def listen(ws: ClientConnection, listener: Listener, stop: asyncio.Event) -> None:
    """Record every frame until ``stop`` (or the socket closes, which is an error here)."""
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.2)
        except TimeoutError:
            continue
        except ConnectionClosed as closed:
            listener.errors.append(f"closed {closed.rcvd.code if closed.rcvd else '?'}")
            return
        frame = json.loads(raw)
        if frame.get("type") == "error":
            listener.errors.append(str(frame.get("code")))
        listener.frames.append(frame)


def _frame_answer(index: int, frame: dict[str, Any], started: float) -> Answer:
    ms = (time.monotonic() - started) * 1000.0
    if frame.get("type") == "sent":
        data = frame.get("data") or {}
        return Answer(
            "ws",
            index,
            200 if frame.get("replayed") else 201,
            message_id=data.get("id"),
            seq=data.get("seq"),
            ms=ms,
        )
    code = str(frame.get("code") or frame.get("type"))
    return Answer("ws", index, FRAME_STATUS.get(code, 400), code=code, ms=ms)


async def ws_sender(
    ws: ClientConnection, conversation_id: int, refs: list[int], go: asyncio.Event
) -> list[Answer]:
    """One buyer socket: its ``send`` frames all at once, then their answers (by ``ref``)."""
    await go.wait()
    started = time.monotonic()
    for ref in refs:
        await ws.send(
            json.dumps(
                {
                    "type": "send",
                    "kind": "message.send",
                    "ref": ref,
                    "conversationId": conversation_id,
                    "clientMessageId": CLIENT_MESSAGE_ID,
                    "body": BODY,
                },
                ensure_ascii=False,
            )
        )
    answers: dict[int, Answer] = {}
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            while len(answers) < len(refs):
                frame = json.loads(await ws.recv())
                ref = frame.get("ref")
                if frame.get("type") in ("sent", "error") and ref in refs:
                    answers[ref] = _frame_answer(ref, frame, started)
                elif frame.get("type") == "error":  # an error without our ref: the socket's
                    answers.update(
                        {r: Answer("ws", r, 599, code=str(frame.get("code"))) for r in refs}
                    )
    except (TimeoutError, ConnectionClosed) as lost:
        code = "TIMEOUT" if isinstance(lost, TimeoutError) else "CLOSED"
        for ref in refs:
            answers.setdefault(ref, Answer("ws", ref, 599, code=code))
    return [answers[ref] for ref in refs]


async def rest_send(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], index: int, go: asyncio.Event
) -> Answer:
    await go.wait()
    started = time.monotonic()
    try:
        response = await http.post(
            path, json={"clientMessageId": CLIENT_MESSAGE_ID, "body": BODY}, headers=headers
        )
    except httpx.HTTPError as exc:
        return Answer("rest", index, 599, code=type(exc).__name__)
    ms = (time.monotonic() - started) * 1000.0
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (200, 201):
        return Answer(
            "rest",
            index,
            response.status_code,
            message_id=body.get("id"),
            seq=body.get("seq"),
            ms=ms,
        )
    return Answer("rest", index, response.status_code, code=str(body.get("code", "?")), ms=ms)


@dataclass
class Storm:
    answers: list[Answer]
    listeners: list[Listener]
    seconds: float
    #: (name, event ids of the message) from a resume over the socket with ``since``
    resumed: dict[str, list[int]]
    #: (name, event ids of the message) from ``GET /api/realtime/catchup?since=``
    caught_up: dict[str, list[int]]
    #: the late retries, sent once the claim expired and the sender is at its limit
    late: list[Answer] = field(default_factory=list)
    #: new messages the buyer got through before its first 429 (filling the allowance)
    filled: int = 0
    #: the sender was still at its limit after the late retries (else the phase proved nothing)
    at_limit: bool = False


async def storm(
    world: World,
    base_url: str,
    ws_url: str,
    *,
    sends: int,
    connections: int,
    rest_pool: int,
    late_retries: int,
    redis_url: str,
) -> Storm:
    conversation_id = world.conversation.pk
    stream = f"conversation:{conversation_id}"
    ws_sends = sends // 2
    rest_sends = sends - ws_sends
    limits = httpx.Limits(max_connections=rest_pool, max_keepalive_connections=rest_pool)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=ANSWER_TIMEOUT, limits=limits, trust_env=False
    ) as http:
        # the other parties listen, as their apps do
        listeners = [Listener("seller", world.seller), Listener("recipient", world.recipient)]
        listening = []
        for listener in listeners:
            ws = await open_socket(http, ws_url, listener.headers)
            await subscribe(ws, stream)
            frame = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
            assert frame.get("type") == "subscribed", (listener.name, frame)
            listening.append(ws)
        stop = asyncio.Event()
        listen_tasks = [
            asyncio.create_task(listen(ws, lst, stop))
            for ws, lst in zip(listening, listeners, strict=True)
        ]
        # the buyer's sockets, open and authenticated before the storm
        senders = await asyncio.gather(
            *(open_socket(http, ws_url, world.buyer) for _ in range(connections))
        )
        refs = [list(range(c, ws_sends, connections)) for c in range(connections)]
        # one request first, so that the pool's connections are not all opened in the storm
        warm = await http.get(f"/api/conversations/{conversation_id}", headers=world.buyer)
        assert warm.status_code == 200, warm.text
        go = asyncio.Event()
        path = f"/api/conversations/{conversation_id}/messages"
        tasks: list[asyncio.Task[Any]] = [
            *(
                asyncio.create_task(ws_sender(ws, conversation_id, r, go))
                for ws, r in zip(senders, refs, strict=True)
            ),
            *(
                asyncio.create_task(rest_send(http, path, world.buyer, i, go))
                for i in range(rest_sends)
            ),
        ]
        await asyncio.sleep(0.1)  # every task is waiting on ``go``
        started = time.monotonic()
        go.set()
        done = await asyncio.gather(*tasks)
        seconds = time.monotonic() - started
        answers: list[Answer] = []
        for item in done:
            answers.extend(item if isinstance(item, list) else [item])  # a socket's, or one
        for ws in senders:
            await ws.close()

        # the live frames: wait until each listener has the message (bounded), then a moment
        # more for a late duplicate
        ids = {a.message_id for a in answers if a.message_id is not None}
        message_id = min(ids) if ids else -1
        deadline = time.monotonic() + LIVE_TIMEOUT
        while time.monotonic() < deadline and not all(
            lst.events_for(message_id) for lst in listeners
        ):
            await asyncio.sleep(0.1)
        await asyncio.sleep(QUIET_AFTER)
        stop.set()
        await asyncio.gather(*listen_tasks)
        for ws in listening:
            await ws.close()

        # catchup with ``since``: a fresh socket's resume, and REST
        resumed: dict[str, list[int]] = {}
        for listener in listeners:
            replay = Listener(listener.name, listener.headers)
            ws = await open_socket(http, ws_url, listener.headers)
            await subscribe(ws, stream, since=world.cursor)
            async with asyncio.timeout(OPEN_TIMEOUT):
                while True:
                    frame = json.loads(await ws.recv())
                    replay.frames.append(frame)
                    if frame.get("type") in ("caughtUp", "error"):
                        break
            await ws.close()
            assert frame.get("type") == "caughtUp", (listener.name, frame)
            resumed[listener.name] = replay.events_for(message_id)
        caught_up: dict[str, list[int]] = {}
        parties = {"buyer": world.buyer, "seller": world.seller, "recipient": world.recipient}
        for name, headers in parties.items():
            found: list[int] = []
            cursor = world.cursor
            for _ in range(50):  # pages, bounded
                page = await http.get(
                    "/api/realtime/catchup", params={"since": cursor, "limit": 200}, headers=headers
                )
                assert page.status_code == 200, (name, page.status_code, page.text[:300])
                body = page.json()
                found += Listener(name, headers, frames=body["events"]).events_for(message_id)
                cursor = body["nextCursor"]
                if not body["hasMore"]:
                    break
            caught_up[name] = found
        result = Storm(
            answers=answers,
            listeners=listeners,
            seconds=seconds,
            resumed=resumed,
            caught_up=caught_up,
        )
        for _ in range(2):  # a second try only if the rate window rolled over meanwhile
            await retry_at_the_limit(world, http, ws_url, result, late_retries, redis_url)
            if result.at_limit:
                break
    return result


async def retry_at_the_limit(
    world: World,
    http: httpx.AsyncClient,
    ws_url: str,
    result: Storm,
    retries: int,
    redis_url: str,
) -> None:
    """The honest retry the chat's limits must not refuse: the cache forgot the message's
    claim (it lives two windows; a Redis restart loses it too), the buyer then sent new
    messages up to its limit (the first 429 proves it), and its app retries the stored
    message -- over REST and the socket. Every retry must answer the original."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match="*chat:seen:*", count=1000):
            client.delete(key)
    path = f"/api/conversations/{world.conversation.pk}/messages"
    filled = 0
    for n in range(200):  # bounded: the default allowance is 20 per conversation per minute
        new = await http.post(
            path,
            json={"clientMessageId": f"fill-{time.time_ns()}-{n}", "body": f"{FILLERS[n % 26]}?"},
            headers=world.buyer,
        )
        if new.status_code == 429:
            break
        assert new.status_code == 201, f"filling the allowance: {new.status_code} {new.text}"
        filled += 1
    else:
        raise AssertionError("200 new messages and never a 429: the chat's limit is off")
    # the socket's own frame limit (bursts of 40) is not what this phase tests: at most
    # FRAMES_PER_SOCKET retries per socket
    ws_count = retries // 2
    sockets = [
        await open_socket(http, ws_url, world.buyer)
        for _ in range(-(-ws_count // FRAMES_PER_SOCKET))
    ]
    go = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [
        *(
            asyncio.create_task(
                ws_sender(ws, world.conversation.pk, list(range(c, ws_count, len(sockets))), go)
            )
            for c, ws in enumerate(sockets)
        ),
        *(
            asyncio.create_task(rest_send(http, path, world.buyer, i, go))
            for i in range(retries - ws_count)
        ),
    ]
    await asyncio.sleep(0.05)
    go.set()
    for item in await asyncio.gather(*tasks):
        result.late.extend(item if isinstance(item, list) else [item])  # a socket's, or one
    for ws in sockets:
        await ws.close()
    still = await http.post(
        path,
        json={"clientMessageId": f"fill-{time.time_ns()}", "body": "¿y ahora?"},
        headers=world.buyer,
    )
    result.filled += filled + (still.status_code == 201)  # a new window let it through
    result.at_limit = still.status_code == 429


# --- the drill ---------------------------------------------------------------------------------


def run_drill(
    drill: Drill, *, sends: int, connections: int, rest_pool: int, late_retries: int
) -> None:
    world = build_world(drill)
    web = drill.asgi_server(workers=2, WS_ALLOWED_ORIGINS=ORIGIN)
    result = asyncio.run(
        storm(
            world,
            web.base_url,
            web.ws_url,
            sends=sends,
            connections=connections,
            rest_pool=rest_pool,
            late_retries=late_retries,
            redis_url=drill.redis.url(0),
        )
    )
    conversation = Conversation.objects.get(pk=world.conversation.pk)
    rows = list(
        Message.objects.filter(conversation=conversation, client_message_id=CLIENT_MESSAGE_ID)
    )
    problems: list[str] = []

    # what the database holds
    if len(rows) != 1:
        problems.append(f"{len(rows)} message rows for the key: ids {_ids([m.pk for m in rows])}")
    message = rows[0] if rows else None
    message_id = message.pk if message else -1
    seq = message.seq if message else -1
    expected_seq = world.conversation.last_seq + 1 + result.filled
    if conversation.last_seq != expected_seq:
        problems.append(
            f"last_seq {world.conversation.last_seq} -> {conversation.last_seq} (expected "
            f"{expected_seq}: the message and {result.filled} new ones)"
        )
    audits = list(
        AuditEvent.objects.filter(
            action="message.sent", data__clientMessageId=CLIENT_MESSAGE_ID
        ).values_list("pk", flat=True)
    )
    if len(audits) != 1:
        problems.append(f"{len(audits)} message.sent audit rows: {_ids(audits)}")
    events = list(
        RealtimeEvent.objects.filter(
            stream=conversation.stream, type="message.created", payload__messageId=message_id
        ).values_list("pk", flat=True)
    )
    if len(events) != 1:
        problems.append(
            f"{len(events)} message.created events for message {message_id}: {_ids(events)}"
        )
    inbox = Counter(
        InboxEntry.objects.filter(event_id__in=events).values_list("audience_key", flat=True)
    )
    members = {
        f"user:{world.chat.buyer.pk}",
        f"user:{world.chat.seller.pk}",
        f"anon:{conversation.recipient_anon_id}",
    }
    if not members <= set(inbox) or any(n != 1 for n in inbox.values()):
        problems.append(f"inbox rows of the event: {dict(inbox)} (members {sorted(members)})")
    decisions = Counter(
        NotificationDecision.objects.filter(
            conversation=conversation, trigger="message", seq=seq
        ).values_list("participant__role", flat=True)
    )
    if decisions != Counter({"seller": 1, "recipient": 1}):
        problems.append(f"notification decisions for seq {seq}: {dict(decisions)}")
    strikes = Strike.objects.filter(conversation=conversation).count()
    if strikes:
        problems.append(f"{strikes} strikes")

    # what the clients were told
    answers = result.answers
    if len(answers) != sends:
        problems.append(f"{len(answers)} answers for {sends} sends")
    server_errors = [a for a in answers if a.status >= 500]
    refused = [a for a in answers if a.status not in (200, 201) and a.status < 500]
    created = [a for a in answers if a.created]
    wrong = [
        a
        for a in answers
        if a.status in (200, 201) and (a.message_id != message_id or a.seq != seq)
    ]
    if server_errors:
        problems.append(f"{len(server_errors)} 5xx/INTERNAL_ERROR/lost: {_some(server_errors)}")
    if refused:
        problems.append(f"{len(refused)} refused: {_some(refused)}")
    if len(created) != 1:
        problems.append(f"{len(created)} answers said created (expected 1): {_some(created)}")
    if wrong:
        problems.append(
            f"{len(wrong)} answers name another message than {message_id}/seq {seq}: {_some(wrong)}"
        )

    # what the server logged: no error, no traceback (a 5xx a client did not see, say)
    logged = [
        line
        for line in web.log.read_text(errors="replace").splitlines()
        if '"level": "error"' in line or "Traceback" in line
    ]
    if logged:
        problems.append(f"{len(logged)} error lines in {web.log}: {logged[:3]}")

    # the late retries (claim expired, sender at its limit): the original, never a 429
    late_wrong = [
        a for a in result.late if a.status != 200 or a.message_id != message_id or a.seq != seq
    ]
    if late_wrong:
        problems.append(
            f"{len(late_wrong)} of {len(result.late)} retries at the limit not answered with "
            f"the original: {_some(late_wrong)}"
        )
    if not result.at_limit:
        problems.append("the sender was not at its limit after the late retries (vacuous)")

    # what each party received
    live = {lst.name: lst.events_for(message_id) for lst in result.listeners}
    for listener in result.listeners:
        if listener.errors:
            problems.append(f"{listener.name}'s socket: errors {listener.errors}")
    for name, ids in live.items():
        if len(ids) != 1:
            problems.append(
                f"{name} got {len(ids)} live frames for message {message_id}: {_ids(ids)}"
            )
    for name, ids in result.resumed.items():
        if len(ids) != 1 or ids != events:
            problems.append(
                f"{name}'s resume (since {world.cursor}) has {_ids(ids)}, log {_ids(events)}"
            )
    for name, ids in result.caught_up.items():
        if len(ids) != 1 or ids != events:
            problems.append(
                f"{name}'s REST catchup (since {world.cursor}) has {_ids(ids)}, log {_ids(events)}"
            )

    timing = ", ".join(
        f"{path} p50 {_pct([a.ms for a in answers if a.path == path], 0.5):.0f} ms "
        f"p95 {_pct([a.ms for a in answers if a.path == path], 0.95):.0f} ms"
        for path in ("rest", "ws")
    )
    figures = {
        "sends": len(answers),
        "rest": sum(a.path == "rest" for a in answers),
        "ws": sum(a.path == "ws" for a in answers),
        "connections": len(result.listeners) + connections,
        "rows": len(rows),
        "created": len(created),
        "replayed": sum(a.status == 200 for a in answers),
        "events": len(events),
        "live_frames": sum(len(ids) for ids in live.values()),
        "server_errors": len(server_errors),
        "refused": len(refused),
        "error_lines": len(logged),
        "late_retries": len(result.late),
        "late_refused": len(late_wrong),
        "storm_ms": round(result.seconds * 1000),
        "broken": len(problems),
    }
    record(DRILL, **figures)
    verdict = (
        f"{DRILL}: {'OK' if not problems else 'BROKEN'} -- {figures['sends']} sends "
        f"({figures['rest']} REST, {figures['ws']} WS over {connections} sockets) in "
        f"{result.seconds:.1f} s ({timing}); message {message_id} seq {seq}: {len(rows)} row, "
        f"{len(created)} created, {len(events)} event, live frames "
        f"{ {name: len(ids) for name, ids in live.items()} }, "
        f"{len(server_errors)} 5xx, {len(refused)} refused; at the limit after "
        f"{result.filled} new: {len(result.late) - len(late_wrong)}/{len(result.late)} retries "
        f"answered the original; {len(problems)} broken"
    )
    print(verdict)
    assert not problems, verdict + "\n" + "\n".join(problems)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else 0.0


def _ids(ids: list[int], n: int = 12) -> str:
    """Ids for a failure message: all of them when few, else the first ``n`` and the count."""
    return str(ids) if len(ids) <= n else f"{ids[:n]}... ({len(ids)})"


def _some(answers: list[Answer], n: int = 8) -> str:
    shown = ", ".join(str(a) for a in answers[:n])
    codes = Counter(f"{a.path}:{a.status}:{a.code}" for a in answers)
    return f"{shown}{' ...' if len(answers) > n else ''} (by kind: {dict(codes)})"


def test_send_storm_short(drill: Drill, countries: list[str]) -> None:
    """200 sends of one message (100 REST, 100 WS frames over 10 sockets): one of everything."""
    run_drill(drill, sends=200, connections=10, rest_pool=20, late_retries=20)


@pytest.mark.chaos_long
@pytest.mark.timeout(600)
def test_send_storm_full(drill: Drill, countries: list[str]) -> None:
    """Issue 15, Deliver 1: 2,000 sends (1,000 REST, 1,000 WS frames over 50 sockets)."""
    run_drill(drill, sends=2000, connections=50, rest_pool=50, late_retries=100)
