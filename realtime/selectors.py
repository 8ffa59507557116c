"""Reads of the realtime event log: a principal's events after a cursor (REST catchup and
WebSocket resume share ``events_for``) and the log's current cursor.

Who sees what is decided at write time (one inbox row per audience key); a read only asks
for the rows of ``audience_keys(principal)``: its own key and, for staff, the queues of the
countries in its scope (ScopeGuard's input). An event published before the principal was
in its audience is not in its inbox, so it is never returned.

Cursor rules (docs/operations/realtime.md):
- ``since`` must be an integer >= 0 and <= the log's head, else ``INVALID_CURSOR`` (400);
- ``since`` < ``RetentionMark.purged_upto`` (the highest id the retention purge deleted)
  means events after the cursor may be gone: ``CURSOR_EXPIRED`` (410), never a partial list;
- the page is the principal's next ``limit`` events after ``since``, ascending; ``has_more``
  says another page follows; ``next_cursor`` is the last event's id while ``has_more``, and
  the log's head once the principal is caught up (so an idle client's cursor keeps up with
  the log and does not expire while it missed nothing).

The head check, the mark check and the page are read in one statement (one snapshot): a purge
running meanwhile cannot slip between them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from aventide.core.metrics import emit
from aventide.core.principal import Principal
from realtime.contracts import audience_keys, event_frame, parse_stream
from realtime.errors import CursorExpired, InvalidCursor
from realtime.models import Event, InboxEntry, RetentionMark

# public: presence across processes (realtime/presence.py), for the notification bridge
from realtime.presence import connection_count as connection_count
from realtime.presence import is_online as is_online
from realtime.presence import online_keys as online_keys
from realtime.presence import online_probe as online_probe

METRIC_CATCHUP = "METRIC_REALTIME_CATCHUP"
METRIC_CATCHUP_REFUSED = "METRIC_REALTIME_CATCHUP_REFUSED"

#: The largest cursor a client may send (a bigserial).
MAX_CURSOR = 2**63 - 1


@dataclass(frozen=True)
class EventPage:
    """One page of a principal's events. ``events``: the wire frames, ascending (parsed on
    first use); ``events_json``: the same frames as a JSON array, as the database built
    them (REST catchup writes it into the response as is)."""

    events_json: str
    next_cursor: int
    has_more: bool

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = json.loads(self.events_json)
        return frames


def clamp_limit(limit: int | None) -> int:
    """``limit`` within 1..``REALTIME_CATCHUP_MAX_LIMIT`` (default when None)."""
    maximum = int(settings.REALTIME_CATCHUP_MAX_LIMIT)
    if limit is None:
        return min(int(settings.REALTIME_CATCHUP_DEFAULT_LIMIT), maximum)
    return max(1, min(int(limit), maximum))


def parse_cursor(value: object) -> int:
    """A client's cursor (a decimal string or an int) as an int; ``INVALID_CURSOR`` if it
    is not a non-negative integer."""
    if isinstance(value, bool):
        raise InvalidCursor()
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise InvalidCursor()
    if number < 0 or number > MAX_CURSOR:
        raise InvalidCursor()
    return number


def current_cursor() -> int:
    """The log's head: the newest event id (or how far the purge went, if it is higher)."""
    return max(current_cursor_parts())


# The frames are built by PostgreSQL (json_build_object, in the key order of
# ``contracts.event_frame``; ``createdAt`` formatted like ``datetime.isoformat`` with ``Z``)
# and aggregated into one JSON array: no per-event work in Python.
_FRAME = """json_build_object(
        'type', 'event', 'id', e.id, 'stream', e.stream, 'event', e.type, 'data', e.payload,
        'createdAt', to_char(e.created_at AT TIME ZONE 'UTC',
            CASE WHEN date_part('microseconds', e.created_at)::bigint %% 1000000 = 0
                 THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                 ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END))"""

_PG_META = """
meta AS (
    SELECT COALESCE((SELECT max(id) FROM realtime_event), 0) AS head,
           COALESCE((SELECT purged_upto FROM realtime_retentionmark WHERE id = 1), 0) AS mark
)"""

_PG_RESULT = """
SELECT meta.head, meta.mark, (SELECT count(*) FROM page),
       (SELECT max(id) FROM page WHERE rn <= %(limit)s),
       (SELECT COALESCE(json_agg(frame ORDER BY id), '[]'::json)::text
          FROM page WHERE rn <= %(limit)s)
FROM meta
"""

# Built from the constant fragments above; every value is a bound parameter.
_PG_PAGE_SQL = f"""
WITH {_PG_META},
ids AS (
    SELECT DISTINCT i.event_id
    FROM unnest(%(keys)s::varchar[]) AS k(key)
    CROSS JOIN LATERAL (
        SELECT event_id FROM realtime_inboxentry
        WHERE audience_key = k.key AND event_id > %(since)s
        ORDER BY event_id LIMIT %(take)s
    ) AS i
),
page AS (
    SELECT e.id, row_number() OVER (ORDER BY e.id) AS rn, {_FRAME} AS frame
    FROM realtime_event e
    WHERE e.id IN (SELECT event_id FROM ids)
    ORDER BY e.id LIMIT %(take)s
)
{_PG_RESULT}"""  # noqa: S608

_PG_STREAM_PAGE_SQL = f"""
WITH {_PG_META},
page AS (
    SELECT e.id, row_number() OVER (ORDER BY e.id) AS rn, {_FRAME} AS frame
    FROM realtime_event e
    WHERE e.stream = %(stream)s AND e.id > %(since)s
      AND EXISTS (
          SELECT 1 FROM realtime_inboxentry i
          WHERE i.audience_key = ANY(%(keys)s::varchar[]) AND i.event_id = e.id
      )
    ORDER BY e.id LIMIT %(take)s
)
{_PG_RESULT}"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class _Read:
    head: int
    mark: int
    found: int  # rows read: up to limit + 1
    last_id: int | None  # the last id of the page (its first ``limit`` rows)
    frames_json: str  # the page's frames, a JSON array


def _read_postgres(keys: list[str], since: int, limit: int, stream: str | None) -> _Read:
    params: dict[str, Any] = {
        "keys": keys,
        "since": since,
        "limit": limit,
        "take": limit + 1,
        "stream": stream,
    }
    with connection.cursor() as cursor:
        cursor.execute(_PG_PAGE_SQL if stream is None else _PG_STREAM_PAGE_SQL, params)
        row = cursor.fetchone()
    assert row is not None  # one row: meta
    return _Read(
        head=int(row[0]),
        mark=int(row[1]),
        found=int(row[2]),
        last_id=None if row[3] is None else int(row[3]),
        frames_json=str(row[4]),
    )


def _read_portable(keys: list[str], since: int, limit: int, stream: str | None) -> _Read:
    """The same read through the ORM (SQLite, embedded mode; one transaction = one
    snapshot there)."""
    head, mark = current_cursor_parts()
    inbox = InboxEntry.objects.filter(audience_key__in=keys, event_id__gt=since)
    events = Event.objects.filter(id__gt=since, id__in=inbox.values("event_id"))
    if stream is not None:
        events = events.filter(stream=stream)
    rows = list(
        events.order_by("id").values_list("id", "stream", "type", "payload", "created_at")[
            : limit + 1
        ]
    )
    frames = [
        event_frame(event_id=r[0], stream=r[1], event_type=r[2], data=r[3], created_at=r[4])
        for r in rows[:limit]
    ]
    return _Read(
        head=head,
        mark=mark,
        found=len(rows),
        last_id=frames[-1]["id"] if frames else None,
        frames_json=json.dumps(frames, separators=(",", ":")),
    )


def current_cursor_parts() -> tuple[int, int]:
    """(newest event id, highest purged id); 0 for none."""
    head = Event.objects.aggregate(head=Max("id"))["head"] or 0
    mark = RetentionMark.objects.filter(pk=1).values_list("purged_upto", flat=True).first() or 0
    return int(head), int(mark)


def events_for(
    *,
    principal: Principal,
    since: int | str,
    limit: int,
    stream: str | None = None,
    via: str = "rest",
) -> EventPage:
    """``principal``'s events after cursor ``since`` (at most ``limit``, clamped to
    1..``REALTIME_CATCHUP_MAX_LIMIT``), ascending, as wire frames (``since`` may be the
    decimal text a client sent); only those of ``stream``
    when given (WebSocket resume). Raises ``InvalidCursor`` / ``CursorExpired`` (see the
    module docstring). Emits ``METRIC_REALTIME_CATCHUP{durationMs, eventCount}`` (``via``:
    ``rest`` or ``ws``). One query."""
    started = time.monotonic()
    try:
        cursor = parse_cursor(since)
    except InvalidCursor:
        _refused(InvalidCursor.code, via)
        raise
    if stream is not None and parse_stream(stream) is None:
        raise ValueError(f"not a stream name: {stream!r}")
    take = clamp_limit(limit)
    keys = audience_keys(principal)
    if not keys:  # the system reads no inbox; still validate the cursor
        keys = ["-"]  # matches no row
    read = _read_postgres if connection.vendor == "postgresql" else _read_portable
    result = read(keys, cursor, take, stream)
    head = max(result.head, result.mark)
    if cursor > head:
        _refused(InvalidCursor.code, via)
        raise InvalidCursor()
    if cursor < result.mark:
        _refused(CursorExpired.code, via)
        raise CursorExpired()
    has_more = result.found > take
    page = EventPage(
        events_json=result.frames_json,
        next_cursor=int(result.last_id or cursor) if has_more else max(head, cursor),
        has_more=has_more,
    )
    emit(
        METRIC_CATCHUP,
        labels={"via": via},
        durationMs=round((time.monotonic() - started) * 1000, 2),
        eventCount=min(result.found, take),
        hasMore=has_more,
    )
    return page


def catchup(*, principal: Principal, since: str | None, limit: int | None) -> EventPage:
    """REST catchup: ``since`` as the client sent it (None: a fresh client gets the current
    cursor and no events), ``limit`` None for the default. Malformed -> ``INVALID_CURSOR``."""
    if since is None:
        started = time.monotonic()
        head = current_cursor()
        emit(
            METRIC_CATCHUP,
            labels={"via": "rest"},
            durationMs=round((time.monotonic() - started) * 1000, 2),
            eventCount=0,
            hasMore=False,
        )
        return EventPage(events_json="[]", next_cursor=head, has_more=False)
    return events_for(principal=principal, since=since, limit=clamp_limit(limit))


def _refused(code: str, via: str) -> None:
    emit(METRIC_CATCHUP_REFUSED, labels={"code": code, "via": via})


# --- operations ---------------------------------------------------------------------------------

StatsExtra = Callable[[], dict[str, Any]]
_STATS_EXTRAS: list[StatsExtra] = []


def register_stats_extra(provider: StatsExtra) -> None:
    """Add figures to ``manage.py realtime stats`` (e.g. the presence module's live
    connections: ``lambda: {"connections": n}``)."""
    if provider not in _STATS_EXTRAS:
        _STATS_EXTRAS.append(provider)


@dataclass(frozen=True)
class LogStats:
    events: int
    inbox_rows: int
    oldest_cursor: int  # the oldest retained event id (0: empty log)
    head: int
    purged_upto: int
    purge_backlog: int  # events older than the retention, still waiting for the purge
    oldest_event_at: datetime | None
    extras: dict[str, Any]


def log_stats(*, now: datetime | None = None) -> LogStats:
    """The log's size and retention state for ops (exact counts: a few queries, seconds on
    a large log -- not for a hot path)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=int(settings.REALTIME_RETENTION_SECONDS))
    agg = Event.objects.aggregate(n=Count("id"), lo=Min("id"), hi=Max("id"), at=Min("created_at"))
    _, mark = current_cursor_parts()
    extras: dict[str, Any] = {}
    for provider in _STATS_EXTRAS:
        extras.update(provider())
    return LogStats(
        events=int(agg["n"] or 0),
        inbox_rows=InboxEntry.objects.count(),
        oldest_cursor=int(agg["lo"] or 0),
        head=max(int(agg["hi"] or 0), mark),
        purged_upto=mark,
        purge_backlog=Event.objects.filter(created_at__lt=cutoff).count(),
        oldest_event_at=agg["at"],
        extras=extras,
    )
