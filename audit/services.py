"""Audit write use cases: ``record`` (every service calls it) and ``seal_pending``.

``record`` is a plain INSERT inside the caller's transaction: no lock, no read of another
row, so concurrent writers never serialize on the audit trail. Tamper evidence comes from
each event's own digest plus the periodic Merkle seals (see ``seal_pending`` and
docs/decisions/0004-audit-worm-merkle.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from audit import merkle
from audit.actions import require_registered
from audit.errors import AuditTargetInvalid
from audit.models import GENESIS_DIGEST, Event, Seal
from aventide.core import committail, context
from aventide.core.logging import redact_mapping
from aventide.core.metrics import emit
from aventide.core.principal import SYSTEM, Principal

Target = models.Model | tuple[str, str | int] | str


def parse_target(value: str) -> tuple[str, str]:
    """``"order:42"`` -> ``("order", "42")``; raises AuditTargetInvalid otherwise."""
    target_type, sep, target_id = value.partition(":")
    if not sep or not target_type or not target_id:
        raise AuditTargetInvalid("An audit target string looks like 'order:42'.")
    return target_type, target_id


def _target_key(target: Target) -> tuple[str, str]:
    if isinstance(target, models.Model):
        if target.pk is None:
            raise AuditTargetInvalid("The audit target must be saved before it is audited.")
        return target._meta.model_name or type(target).__name__.lower(), str(target.pk)
    if isinstance(target, tuple):
        if len(target) != 2:
            raise AuditTargetInvalid("An audit target tuple is (target_type, target_id).")
        target_type, target_id = target
        return str(target_type), str(target_id)
    if isinstance(target, str):
        return parse_target(target)
    raise AuditTargetInvalid("Unsupported audit target.")


def record(
    action: str,
    target: Target,
    *,
    data: Mapping[str, Any] | None = None,
    actor: Principal | None = None,
    country_code: str | None = None,
    actor_level: str | None = None,
) -> Event:
    """Append one audit event and return it.

    Call it INSIDE the transaction of the change it describes (the service's use-case frame):
    it does not commit on its own, so the event exists if and only if the change commits. It
    takes no lock and reads no other audit row (writers never serialize).

    - ``action``: a registered action (``audit.actions``), e.g. ``OrderAction.ACCEPTED``;
      an unregistered one raises ``AuditActionUnknown``.
    - ``target``: a saved model instance (``model_name``, pk), a ``(type, id)`` tuple or
      ``"type:id"``.
    - who: ``actor`` when given; else the attribution bound by the enclosing use-case frame
      (so nested writes record the same actor and level as the step that caused them); else
      the request's principal; else the one system principal ``SYSTEM`` (level L0).
    - ``actor_level``: overrides the level (else the frame's level, else the principal's).
    - ``country_code``: defaults to ``target.country_code``, else the actor's, else "".
    - ``data``: redacted exactly like log lines (secrets dropped, emails/phones masked), then
      normalized to stable JSON (floats/decimals stored as strings, see ``audit.canonical``).
    - ``request_id`` comes from the context ("" for system jobs without one).
    """
    event = build(
        action,
        target,
        data=data,
        actor=actor,
        country_code=country_code,
        actor_level=actor_level,
    )
    _insert(event)
    return event


def record_at_commit(
    action: str,
    target: Target,
    *,
    data: Mapping[str, Any] | None = None,
    actor: Principal | None = None,
    country_code: str | None = None,
    actor_level: str | None = None,
) -> Event:
    """``record``, with the INSERT sent together with the transaction's COMMIT when the caller
    runs in a use-case frame that owns its transaction (``aventide.core.committail``, decision
    0021): one round trip fewer on a hot path. Everywhere else it is ``record``. The event is
    built (actor, level, request id, time, digest) now, so it says exactly what ``record``
    would; it commits or rolls back with the change it describes. The returned event's ``pk``
    is set once the frame commits (``None`` before): use ``record`` when the caller needs the
    id inside the transaction."""
    event = build(
        action,
        target,
        data=data,
        actor=actor,
        country_code=country_code,
        actor_level=actor_level,
    )

    def stored(row: tuple[Any, ...] | None) -> None:
        assert row is not None  # INSERT ... RETURNING always answers its row
        inserted(event, row[0])

    if not committail.defer(_insert_sql(), _values(event), stored):
        _insert(event)
    return event


def build(
    action: str,
    target: Target,
    *,
    data: Mapping[str, Any] | None = None,
    actor: Principal | None = None,
    country_code: str | None = None,
    actor_level: str | None = None,
) -> Event:
    """The audit event ``record`` would append, built and sealed for insertion (its digest
    computed) but not written: for a caller that writes it inside a statement of its own
    (``insert_spec``). ``record`` is the usual way; see it for the arguments.
    """
    value = require_registered(action)
    level: str
    if actor is not None:
        who = actor
        level = actor.level
    else:
        attribution = context.get_attribution()
        if attribution is not None:
            who, level = attribution.principal, attribution.level
        else:
            who = context.get_principal() or SYSTEM
            level = who.level
    if actor_level is not None:
        level = actor_level
    target_type, target_id = _target_key(target)
    if country_code is None:
        country_code = str(getattr(target, "country_code", "") or who.country_code or "")
    event = Event(
        occurred_at=timezone.now(),
        actor_type=str(who.kind),
        actor_id=who.id,
        actor_level=level,
        country_code=country_code.upper(),
        action=value,
        target_type=target_type,
        target_id=target_id,
        request_id=context.get_request_id() or "",
        data=redact_mapping(data or {}),
    )
    event.prepare_for_insert()
    return event


def _insert_sql() -> str:
    global _INSERT_SQL
    if _INSERT_SQL is None:
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in _INSERT_FIELDS)
        marks = ", ".join(["%s"] * len(_INSERT_FIELDS))
        pk = Event._meta.pk
        assert pk is not None
        # Built once from the model's own table and column names (no input reaches it).
        _INSERT_SQL = (
            f"INSERT INTO {qn(Event._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
            f" RETURNING {qn(pk.column)}"
        )
    return _INSERT_SQL


#: Every column but the id, in model order (what ``Event.save()`` inserts).
_INSERT_FIELDS = [f for f in Event._meta.concrete_fields if not f.primary_key]
_INSERT_SQL: str | None = None


def _insert(event: Event) -> None:
    """``event.save()`` without the ORM's per-call statement compilation (the audit row is
    on every write path; decision 0016): ``build`` derived the fields (``prepare_for_insert``:
    normalized data, digest), each value prepared by its field exactly as the ORM does, one
    ``INSERT ... RETURNING id`` (PostgreSQL; SQLite >= 3.35). Event has no save signals."""
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), _values(event))
        row = cursor.fetchone()
    assert row is not None
    inserted(event, row[0])


#: the audit row type, for callers that build one (``build``) without importing audit.models
AuditEvent = Event


@dataclass(frozen=True)
class InsertSpec:
    """How to insert one built event (``build``) inside a caller's own statement, e.g. an
    ``INSERT INTO {table} ({columns}) SELECT {%s::type, ...} FROM <cte>``: the quoted table
    and columns, each column's database type (for casts), the values prepared by their
    fields exactly as the ORM does. Then ``inserted(event, id)``."""

    table: str
    columns: list[str]
    types: list[str]
    values: list[Any]


def _values(event: Event) -> list[Any]:
    return [f.get_db_prep_save(f.pre_save(event, True), connection) for f in _INSERT_FIELDS]


_SPEC_SHAPE: tuple[str, list[str], list[str]] | None = None


def insert_spec(event: Event) -> InsertSpec:
    global _SPEC_SHAPE
    if _SPEC_SHAPE is None:
        qn = connection.ops.quote_name
        _SPEC_SHAPE = (
            qn(Event._meta.db_table),
            [qn(f.column) for f in _INSERT_FIELDS],
            [str(f.db_type(connection)) for f in _INSERT_FIELDS],
        )
    table, columns, types = _SPEC_SHAPE
    return InsertSpec(table=table, columns=columns, types=types, values=_values(event))


def inserted(event: Event, pk: int) -> None:
    """Mark ``event`` as the stored row ``pk`` (after a caller's own insert of it)."""
    event.pk = pk
    event._state.adding = False
    event._state.db = connection.alias


# --- Sealing -----------------------------------------------------------------------------

# pg_advisory_xact_lock key of the sealer ("audits" in ASCII); one sealer at a time.
SEALER_LOCK_KEY = 0x617564697473

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_MAX_SEALS_PER_RUN = 100
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_MAX_GAP_WAIT_SECONDS = 600.0


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _gap_horizon(vendor: str) -> datetime | None:
    """Events recorded before the horizon can no longer be preceded by an uncommitted id.

    A hole in the id sequence (id g missing, id b > g committed) is either a rolled-back
    insert (permanent) or a transaction that is still open and may commit g later. That
    transaction started before it drew g, so before b was recorded. PostgreSQL: the horizon is
    the start of the oldest open client transaction in this database (or now, when none),
    minus a safety margin for clock skew between app and database; ids drawn before it belong
    to finished transactions, whose rows the next (fresh) snapshot sees. SQLite has a single
    writer: a transaction holding id g blocks every other insert until it ends, so holes are
    always settled (None = no limit).
    """
    if vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT clock_timestamp(), ("
            " SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' AND xact_start IS NOT NULL)"
        )
        row = cursor.fetchone()
    assert row is not None
    now, oldest = row
    horizon: datetime = min(now, oldest) if oldest is not None else now
    margin = _setting("AUDIT_SEAL_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS)
    return horizon - timedelta(seconds=margin)


def _seal_next_batch(batch_size: int) -> Seal | None:
    vendor = connection.vendor
    with transaction.atomic():
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEALER_LOCK_KEY])
        prev = Seal.objects.order_by("-last_id").first()
        prev_last = prev.last_id if prev else 0
        # The horizon is read BEFORE the events (see _gap_horizon), each in its own snapshot.
        horizon = _gap_horizon(vendor)
        force_before = timezone.now() - timedelta(
            seconds=_setting("AUDIT_SEAL_MAX_GAP_WAIT_SECONDS", DEFAULT_MAX_GAP_WAIT_SECONDS)
        )
        rows = list(
            Event.objects.filter(id__gt=prev_last)
            .order_by("id")
            .values_list("id", "digest", "occurred_at")[:batch_size]
        )
        expected = prev_last + 1
        digests: list[str] = []
        gaps: list[list[int]] = []
        forced: list[list[int]] = []
        last_id = prev_last
        for event_id, digest, occurred_at in rows:
            if event_id != expected:
                settled = horizon is None or occurred_at < horizon
                if not settled and occurred_at >= force_before:
                    emit(
                        "METRIC_AUDIT_SEAL_WAITING_GAP",
                        gapFirstId=expected,
                        gapLastId=event_id - 1,
                    )
                    break
                gaps.append([expected, event_id - 1])
                if not settled:
                    forced.append([expected, event_id - 1])
            digests.append(digest)
            last_id = event_id
            expected = event_id + 1
        if not digests:
            return None
        seal = Seal(
            first_id=prev_last + 1,
            last_id=last_id,
            count=len(digests),
            merkle_root=merkle.merkle_root(digests),
            prev_seal_digest=prev.digest if prev else GENESIS_DIGEST,
            gaps=gaps,
            created_at=timezone.now(),
        )
        seal.save()
    for first, last in forced:
        emit("METRIC_AUDIT_SEAL_GAP_FORCED", sealId=seal.pk, gapFirstId=first, gapLastId=last)
    emit("METRIC_AUDIT_SEALED", sealId=seal.pk, eventCount=seal.count, lastEventId=seal.last_id)
    return seal


def seal_pending(*, batch_size: int | None = None, max_seals: int | None = None) -> list[Seal]:
    """Seal every unsealed event into Merkle seals chained by digest; return the new seals.

    Each seal covers the next id range after the previous seal, up to ``batch_size`` events
    (``AUDIT_SEAL_BATCH_SIZE``, default 10 000), and is created in its own short transaction
    holding the sealer lock (PostgreSQL ``pg_advisory_xact_lock``; SQLite has one writer), so
    two sealers never produce overlapping seals (also guarded by UNIQUE first_id, last_id and
    prev_seal_digest). Idempotent: with nothing new to seal it creates nothing.

    In-flight transactions: a hole in the ids is only sealed over once it is settled (see
    ``_gap_horizon``); an unsettled hole stops the seal just before it, and the rest waits for
    the next run. A hole older than ``AUDIT_SEAL_MAX_GAP_WAIT_SECONDS`` (default 600) is sealed
    over anyway (METRIC_AUDIT_SEAL_GAP_FORCED) so one stuck transaction cannot stop sealing; if
    its event commits later, ``audit verify`` names it as recorded into a sealed gap. Holes are
    stored in ``Seal.gaps``.
    """
    size = int(batch_size or _setting("AUDIT_SEAL_BATCH_SIZE", DEFAULT_BATCH_SIZE))
    limit = int(max_seals or _setting("AUDIT_SEAL_MAX_SEALS_PER_RUN", DEFAULT_MAX_SEALS_PER_RUN))
    seals: list[Seal] = []
    while len(seals) < limit:
        seal = _seal_next_batch(size)
        if seal is None:
            break
        seals.append(seal)
    return seals
