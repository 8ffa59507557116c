"""Writes of the realtime event log: ``publish`` (inside the caller's transaction) and the
retention purge.

``publish`` is how every app tells clients that something changed. It is part of the
caller's commit -- the event exists if and only if the change does -- and, after that commit,
it is pushed live over the channel layer (best effort; the log + catchup is the guarantee).

Ordering. The cursor is ``Event.id`` (bigserial), and a client that saw event N must never
miss an event < N that commits later. So on PostgreSQL every publishing transaction takes one
transaction-level advisory lock before its first event id is drawn: publishing transactions
commit in id order and a committed id N means every id < N is committed (or rolled back).
The lock is held until commit, so call ``publish`` as the LAST write of a transaction
(docs/decisions/0014-realtime-event-log.md: why this and not a gap-detecting reader).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aventide.core import aftercommit
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

_PG_PUBLISH_SQL = """
WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s) AS ok),
ev AS (
    INSERT INTO realtime_event (stream, type, payload, country_code, created_at)
    SELECT %s, %s, %s::jsonb, %s, %s FROM lock
    RETURNING id
),
inbox AS (
    INSERT INTO realtime_inboxentry (audience_key, event_id, stream)
    SELECT k, ev.id, %s FROM ev, unnest(%s::varchar[]) AS k
)
SELECT id FROM ev
"""
#: The stream's event before this one (run after ``_PG_PUBLISH_SQL``, in a statement of its
#: own: a new snapshot taken while this transaction holds the publish lock, so every earlier
#: event of the stream is committed and visible). Live messages carry it as ``prev``: a
#: socket that has not sent ``prev`` yet knows an earlier event is still on its way (the
#: processes' fan-outs can overtake each other) and reads the log instead of skipping it.
_PG_PREV_SQL = "SELECT max(id) FROM realtime_event WHERE stream = %s AND id < %s"


def _clean_audience(audience: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for key in audience:
        stream = parse_stream(key)
        if stream is None or not key.startswith(_AUDIENCE_PREFIXES):
            raise ValueError(f"not an audience key: {key!r}")
        if key not in keys:
            keys.append(key)
    return keys


def publish(
    *,
    stream: str,
    type: str,
    payload: dict[str, Any],
    audience: Iterable[str],
    country_code: str = "",
    verbatim: Iterable[str] = (),
) -> int:
    """Append one event to ``stream`` for ``audience`` (audience keys: ``user:<id>``,
    ``anon:<uuid>``, ``staff:<CC>``) and return its id, the cursor.

    Must run inside the caller's transaction (``PublishOutsideTransaction`` otherwise): the
    event row and one inbox row per audience key are written with it (PostgreSQL: one
    statement; elsewhere two) and vanish with its rollback. ``payload`` is what clients
    receive -- ids and states only; it is redacted like log lines (emails and phones
    masked, secret-looking keys dropped) as a net, not as permission to put PII in it.
    ``verbatim`` names top-level keys whose string values are user content the owning app
    has already vetted for every member of the stream (the chat's delivered text, after
    moderation): they are copied as they are, since the net would mangle them.
    After the commit the event is counted (``METRIC_REALTIME_EVENT_PUBLISHED``) and sent
    live to the stream's channel-layer group (batched per transaction; failures are logged
    and counted, never raised). Nothing else runs between its statement and the commit:
    the publish lock is held until then.
    """
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
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_PUBLISH_SQL,
                [
                    PUBLISH_LOCK_KEY,
                    stream,
                    type,
                    json.dumps(data),
                    country,
                    created_at,
                    stream,
                    keys,
                ],
            )
            row = cursor.fetchone()
            assert row is not None  # INSERT ... RETURNING one row
            event_id = int(row[0])
            cursor.execute(_PG_PREV_SQL, [stream, event_id])
            prev_row = cursor.fetchone()
            prev_id = prev_row[0] if prev_row is not None else None
    else:
        event = Event(
            stream=stream, type=type, payload=data, country_code=country, created_at=created_at
        )
        event.save()
        event_id = int(event.pk)
        InboxEntry.objects.bulk_create(
            [InboxEntry(audience_key=k, event_id=event_id, stream=stream) for k in keys]
        )
        prev_id = (
            Event.objects.filter(stream=stream, id__lt=event_id)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
    # From here to the COMMIT this transaction holds the publish lock: nothing but a list
    # append. The metric line (a write to the log: a GIL hand-off under load) and the frame
    # are made after the commit (docs/decisions/0018).
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
    #: the stream's previous event id (None: the first), see ``_PG_PREV_SQL``
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
    or discarded by a rollback -- is replaced."""
    batches: dict[tuple[str, ...], _FanoutBatch] = connection.__dict__.setdefault(
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
