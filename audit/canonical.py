"""Canonical JSON and digests of audit rows: pure functions, no database.

The canonical form of a value is ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=True, allow_nan=False)``. It must give the same bytes before the row is written
and after it is read back from PostgreSQL (jsonb reorders keys and rewrites numbers) or SQLite
(JSON text). So the ``data`` of an event is normalized once, before it is stored:

- mapping keys become strings; tuples/sets become lists;
- ``float`` and ``Decimal`` become strings (``repr``/``str``): jsonb prints ``1e20`` back as
  ``100000000000000000000``, which Python reads as an int -- exact text is safer for evidence
  (money is integer minor units anyway); non-finite floats become ``"nan"``/``"inf"`` strings;
- ``datetime``/``date`` become ISO strings, anything else ``str(value)``;
- NUL characters (which jsonb rejects) become U+FFFD.

Datetimes of the row itself are written in UTC with microseconds
(``2026-02-21T10:00:00.123456Z``); both backends keep microseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_MAX_DEPTH = 32


def _normalize_str(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def normalize_json(value: Any, *, _depth: int = 0) -> Any:
    """Return ``value`` as plain JSON (dict/list/str/int/bool/None) stable across DB round trips."""
    if _depth > _MAX_DEPTH:
        return "[TRUNCATED]"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return _normalize_str(value)
    if isinstance(value, Mapping):
        return {
            _normalize_str(str(k)): normalize_json(v, _depth=_depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [normalize_json(v, _depth=_depth + 1) for v in items]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return _normalize_str(str(value))


def canonical_json(value: Any) -> str:
    """The canonical JSON text of an already normalized value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def format_datetime(value: dt.datetime) -> str:
    """UTC, always with microseconds: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("audit datetimes must be aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


EVENT_DIGEST_FIELDS = (
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_level",
    "country_code",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "data",
)


def event_payload(
    *,
    occurred_at: dt.datetime,
    actor_type: str,
    actor_id: str,
    actor_level: str,
    country_code: str,
    action: str,
    target_type: str,
    target_id: str,
    request_id: str,
    data: Any,
) -> dict[str, Any]:
    """The dict whose canonical JSON is hashed into an event's digest (every field but id)."""
    return {
        "occurred_at": format_datetime(occurred_at),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "actor_level": actor_level,
        "country_code": country_code,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "request_id": request_id,
        "data": data,
    }


def event_digest(**fields: Any) -> str:
    return sha256_hex(canonical_json(event_payload(**fields)))


def seal_payload(
    *,
    first_id: int,
    last_id: int,
    count: int,
    merkle_root: str,
    prev_seal_digest: str,
    gaps: list[list[int]],
    created_at: dt.datetime,
) -> dict[str, Any]:
    """The dict whose canonical JSON is hashed into a seal's digest (every field but id)."""
    return {
        "first_id": int(first_id),
        "last_id": int(last_id),
        "count": int(count),
        "merkle_root": merkle_root,
        "prev_seal_digest": prev_seal_digest,
        "gaps": [[int(a), int(b)] for a, b in gaps],
        "created_at": format_datetime(created_at),
    }


def seal_digest(**fields: Any) -> str:
    return sha256_hex(canonical_json(seal_payload(**fields)))
