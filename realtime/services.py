"""Writes of the realtime event log: ``publish`` (inside the caller's transaction) and the
retention purge.

``publish`` is how every app tells clients that something changed. It is part of the
caller's commit -- the event exists if and only if the change does -- and, after that commit,
it is pushed live over the channel layer (best effort; the log + catchup is the guarantee).

Ordering. The cursor is ``Event.id`` (bigserial), and a client that saw event N must never
miss an event < N that commits later. So on PostgreSQL every publishing transaction takes one
transaction-level advisory lock before its first event id is drawn: publishing transactions
commit in id order and a committed id N means every id < N is committed (or rolled back).
The lock is held until commit, so services call ``publish_last`` as the LAST write of a
transaction; in a use-case frame that owns its transaction the call is sent together with the
COMMIT, so the lock is never held across a round trip of the request thread
(docs/decisions/0014-realtime-event-log.md: why this and not a gap-detecting reader;
0021-publish-with-the-commit.md: the commit tail).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict, Unpack, cast

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aventide.core import aftercommit, committail
from aventide.core.logging import get_logger, redact_mapping
from aventide.core.metrics import emit
from realtime.contracts import event_frame, parse_stream
from realtime.errors import PublishOutsideTransaction
from realtime.models import Event, InboxEntry, RetentionMark

# public: Web Push (decision 0017)
from realtime.push.services import Notice as Notice
from realtime.push.services import notify as notify
from realtime.push.services import push_enabled as push_enabled
from realtime.revocation import (  # noqa: F401 -- public: membership changes, for the apps that own a room's members (realtime/revocation.py)
    principal_recheck,
    stream_recheck,
)

logger = get_logger("aventide.realtime")

METRIC_PUBLISHED = "METRIC_REALTIME_EVENT_PUBLISHED"
METRIC_FANOUT_FAILED = "METRIC_REALTIME_FANOUT_FAILED"
METRIC_PURGED = "METRIC_REALTIME_PURGED"

#: The advisory lock key that orders publishing transactions (an arbitrary fixed bigint).
PUBLISH_LOCK_KEY = 0x52545F4C4F47  # "RT_LOG"

_AUDIENCE_PREFIXES = ("user:", "anon:", "staff:")

#: The whole publish on PostgreSQL, one call (realtime/migrations/0005_publish_function.py):
#: the ordering lock, the stream's previous event (read after the lock with a fresh snapshot,
#: so every earlier event of the stream is committed and visible -- live messages carry it
#: as ``prev``: a socket that has not sent ``prev`` yet knows an earlier event is still on
#: its way, since the processes' fan-outs can overtake each other, and reads the log instead
#: of skipping it), the event row and one inbox row per audience key.
_PG_PUBLISH_SQL = (
    "SELECT o_event_id, o_prev_id FROM realtime_publish("
    "%s::bigint, %s::varchar, %s::varchar, %s::jsonb, %s::varchar, %s::timestamptz, %s::varchar[])"
)


def _clean_audience(audience: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for key in audience:
        stream = parse_stream(key)
        if stream is None or not key.startswith(_AUDIENCE_PREFIXES):
            raise ValueError(f"not an audience key: {key!r}")
        if key not in keys:
            keys.append(key)
    return keys


class EventSpec(TypedDict):
    """The keywords of ``publish`` and ``publish_last`` (see ``publish_last``)."""

    stream: str
    type: str
    payload: dict[str, Any]
    audience: Iterable[str]
    country_code: NotRequired[str]
    verbatim: NotRequired[Iterable[str]]


def publish(**event: Unpack[EventSpec]) -> int:
    """Append one event to ``stream`` for ``audience`` now and return its id (see
    ``publish_last``, which services use, for the whole contract)."""
    event_id = _publish(event, last=False)
    assert event_id is not None  # not deferred
    return event_id


def publish_last(**event: Unpack[EventSpec]) -> None:
    """Append one event to ``stream`` for ``audience`` (audience keys: ``user:<id>``,
    ``anon:<uuid>``, ``staff:<CC>``) as the transaction's last write: in a use-case frame
    that owns its transaction the call is sent with the COMMIT (decision 0021), elsewhere it
    runs now. The event's id, the cursor, is in the live frame sent after the commit.

    Must run inside the caller's transaction (``PublishOutsideTransaction`` otherwise): the
    event row and one inbox row per audience key are written with it (PostgreSQL: one
    call of ``realtime_publish``; elsewhere three ORM statements) and vanish with its
    rollback. ``payload`` is what clients receive -- ids and states only; it is redacted
    like log lines (emails and phones masked, secret-looking keys dropped) as a net, not as
    permission to put PII in it.
    ``verbatim`` names top-level keys whose string values are user content the owning app
    has already vetted for every member of the stream (the chat's delivered text, after
    moderation): they are copied as they are, since the net would mangle them.
    After the commit the event is counted (``METRIC_REALTIME_EVENT_PUBLISHED``) and sent
    live to the stream's channel-layer group (batched per transaction; failures are logged
    and counted, never raised). The ordering lock is held from the call to the commit: this
    is the transaction's last write.
    """
    _publish(event, last=True)


def _publish(event: EventSpec, *, last: bool) -> int | None:
    stream, type, payload = event["stream"], event["type"], event["payload"]
    audience = event["audience"]
    country_code, verbatim = event.get("country_code", ""), event.get("verbatim", ())
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction("realtime.publish must run inside a transaction")
    parsed = parse_stream(stream)
    if parsed is None:
        raise ValueError(f"not a stream name: {stream!r}")
    if not type or len(type) > 64:
        raise ValueError("event type must be 1..64 characters")
    keys = _clean_audience(audience)
    data = redact_mapping(payload)
    for key in verbatim:
        value = payload.get(key)
        if isinstance(value, str):
            data[key] = value
    created_at = timezone.now()
    country = country_code.upper()
    if connection.vendor == "postgresql":
        params: list[Any] = [
            PUBLISH_LOCK_KEY,
            stream,
            type,
            json.dumps(data),
            country,
            created_at,
            keys,
        ]

        def published(row: tuple[Any, ...] | None) -> None:
            assert row is not None  # the function returns one row
            batch.add(
                _Published(
                    int(row[0]),
                    stream,
                    type,
                    data,
                    created_at,
                    keys,
                    parsed.group,
                    parsed.kind,
                    row[1],
                )
            )

        # In a frame that owns its transaction the call goes with the COMMIT (decision 0021):
        # the ordering lock is then held for the server's work and the WAL flush only.
        batch = _batch_for_transaction()
        if last and committail.defer(_PG_PUBLISH_SQL, params, published):
            return None
        with connection.cursor() as cursor:
            cursor.execute(_PG_PUBLISH_SQL, params)
            row = cursor.fetchone()
        published(row)
        assert row is not None
        return int(row[0])
    written = Event(
        stream=stream, type=type, payload=data, country_code=country, created_at=created_at
    )
    written.save()
    event_id = int(written.pk)
    InboxEntry.objects.bulk_create(
        [InboxEntry(audience_key=k, event_id=event_id, stream=stream) for k in keys]
    )
    prev_id = (
        Event.objects.filter(stream=stream, id__lt=event_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    # The metric line (a write to the log: a GIL hand-off under load) and the frame are made
    # after the commit (docs/decisions/0018).
    _batch_for_transaction().add(
        _Published(
            event_id, stream, type, data, created_at, keys, parsed.group, parsed.kind, prev_id
        )
    )
    return event_id


# --- live fan-out, after commit -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Published:
    """One event written by ``publish``, kept for after the commit."""

    event_id: int
    stream: str
    type: str
    data: dict[str, Any]
    created_at: datetime
    audience: list[str]
    group: str
    stream_kind: str
    #: the stream's previous event id (None: the first), see ``_PG_PUBLISH_SQL``
    prev_id: int | None = None


@dataclass(eq=False)
class _FanoutBatch:
    """The events of one transaction (at one savepoint depth); after the commit each is
    counted (``METRIC_REALTIME_EVENT_PUBLISHED``) and all are sent live together.
    Registered once with ``transaction.on_commit``: a rollback (of the transaction, or of
    the savepoint it was created in) discards it with the callback."""

    events: list[_Published] = field(default_factory=list)

    def add(self, event: _Published) -> None:
        self.events.append(event)

    def __call__(self) -> None:
        messages: list[tuple[str, dict[str, Any]]] = []
        for ev in self.events:
            emit(
                METRIC_PUBLISHED,
                labels={"eventType": ev.type, "streamKind": ev.stream_kind},
                log=False,  # one per event: counted; the event row is the record
                eventId=ev.event_id,
                inboxRows=len(ev.audience),
            )
            frame = event_frame(
                event_id=ev.event_id,
                stream=ev.stream,
                event_type=ev.type,
                data=ev.data,
                created_at=ev.created_at,
            )
            messages.append(
                (
                    ev.group,
                    {
                        "type": "rt.event",
                        "frame": frame,
                        "audience": ev.audience,
                        "prev": ev.prev_id,
                    },
                )
            )
        send_live(messages)


def _batch_for_transaction() -> _FanoutBatch:
    """This transaction's batch at the current savepoint depth (created and registered with
    ``on_commit`` on first use). A batch whose callback is no longer pending -- committed,
    or discarded by a rollback -- is replaced. Kept on this thread's connection object:
    ``django.db.connection`` is a proxy every thread shares, so its own ``__dict__`` would
    hand one thread's batches to another's transactions."""
    batches: dict[tuple[str, ...], _FanoutBatch] = transaction.get_connection().__dict__.setdefault(
        "_realtime_fanout_batches", {}
    )
    depth = tuple(connection.savepoint_ids)
    batch = batches.get(depth)
    if batch is None or not _pending(batch):
        for stale in [k for k, b in batches.items() if not _pending(b)]:
            del batches[stale]
        batch = _FanoutBatch()
        batches[depth] = batch
        transaction.on_commit(batch, robust=True)
    return batch


def _pending(batch: _FanoutBatch) -> bool:
    """Whether ``batch`` still waits in this connection's on-commit callbacks."""
    pending: list[tuple[Any, ...]] = cast(Any, connection).run_on_commit
    return any(entry[1] is batch for entry in pending)


#: The after-commit kind (aventide.core.aftercommit) of a live frame: (group, message).
LIVE_KIND = "realtime.live"


def send_live(messages: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Send ``(group, message)`` pairs over the channel layer in one event-loop hop; return
    how many went out (with ``AFTER_COMMIT_SENDER=background``: how many were queued for
    the process's background sender, which sends them in order on its own event loop).
    Never raises: a failure is logged and counted (the client catches up from the log)."""
    if not messages:
        return 0
    if _live_in_background():
        return sum(1 for pair in messages if aftercommit.submit(LIVE_KIND, pair))
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return 0
        return int(async_to_sync(_send_all)(layer, list(messages)))
    except Exception as exc:  # noqa: BLE001  # best effort by contract
        logger.warning("realtime.fanout_failed", error=type(exc).__name__, messages=len(messages))
        emit(METRIC_FANOUT_FAILED, labels={"reason": type(exc).__name__}, messages=len(messages))
        return 0


def _live_in_background() -> bool:
    """Background only for a layer that talks to Redis: the in-memory layer (embedded mode,
    tests) hands messages to queues of the consumers' own event loops, not thread-safe."""
    if not aftercommit.background_enabled():
        return False
    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
    return backend.startswith(("channels_redis.", "realtime.layers."))


def _send_live_batch(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """The background sender's handler: send the frames in order on the sender thread's own
    event loop (its channel-layer connection lives on that loop). Never raises."""
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        loop = aftercommit.process_sender().event_loop()
        loop.run_until_complete(_send_all(layer, messages))
    except Exception as exc:  # noqa: BLE001  # best effort by contract
        logger.warning("realtime.fanout_failed", error=type(exc).__name__, messages=len(messages))
        emit(METRIC_FANOUT_FAILED, labels={"reason": type(exc).__name__}, messages=len(messages))


aftercommit.register_handler(LIVE_KIND, _send_live_batch)


async def _send_all(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> int:
    sent = 0
    for group, message in messages:
        await layer.group_send(group, message)
        sent += 1
    return sent


# --- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeResult:
    events: int
    inbox_rows: int
    purged_upto: int


def retention() -> timedelta:
    return timedelta(seconds=int(settings.REALTIME_RETENTION_SECONDS))


def purge_expired(
    *, now: datetime | None = None, batch: int = 5000, max_batches: int = 200
) -> PurgeResult:
    """Delete events older than the retention (``REALTIME_RETENTION_SECONDS``, 7 days) and
    their inbox rows, oldest first, ``batch`` events per transaction (short locks; safe to
    run twice or concurrently: each batch locks the retention mark first).

    Each batch raises ``RetentionMark.purged_upto`` to the highest id it deleted, in the
    same transaction, so catchup knows which cursors lost events (``CURSOR_EXPIRED``).
    """
    cutoff = (now or timezone.now()) - retention()
    started = time.monotonic()
    events = inbox_rows = 0
    upto = 0
    for _ in range(max_batches):
        with transaction.atomic():
            mark, _ = RetentionMark.objects.select_for_update().get_or_create(pk=1)
            ids = list(
                Event.objects.filter(created_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                upto = mark.purged_upto
                break
            with connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM realtime_inboxentry WHERE event_id >= %s AND event_id <= %s "
                    "AND event_id IN (SELECT id FROM realtime_event WHERE id >= %s AND "
                    "id <= %s AND created_at < %s)",
                    [ids[0], ids[-1], ids[0], ids[-1], cutoff],
                )
                inbox_rows += cursor.rowcount
                cursor.execute(
                    "DELETE FROM realtime_event WHERE id >= %s AND id <= %s AND created_at < %s",
                    [ids[0], ids[-1], cutoff],
                )
                events += cursor.rowcount
            upto = max(mark.purged_upto, ids[-1])
            RetentionMark.objects.filter(pk=1).update(purged_upto=upto, purged_at=timezone.now())
        if len(ids) < batch:
            break
    if events:
        emit(
            METRIC_PURGED,
            events=events,
            inboxRows=inbox_rows,
            purgedUpto=upto,
            durationMs=round((time.monotonic() - started) * 1000, 1),
        )
    return PurgeResult(events=events, inbox_rows=inbox_rows, purged_upto=upto)
