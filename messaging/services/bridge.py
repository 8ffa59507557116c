"""The notification bridge: nobody is left blind (issue 14, Deliver 11;
docs/messaging/notifications.md).

``on_activity`` runs INSIDE the send/activation transaction (the conversation row is locked by
the caller) and decides, for each other party (buyer, seller, recipient -- never the sender,
never staff), how it learns about the message or activation at ``seq``:

- ``skipped_online``: the party has a live socket (``online``: the audience keys with presence,
  read by the caller before its transaction; ``None`` = unknown, which counts as offline);
- ``coalesced``: a notice already went to this party for this conversation less than
  ``MESSAGING_NOTIFY_COALESCE_SECONDS`` ago (``Participant.last_notified_at``);
- ``sent``: a notice was queued in the outbox, in this transaction -- Web Push when the party
  has a subscription (``realtime.services.notify``), else email (registered parties), else,
  for an anonymous recipient, the channel its invitation went by (email or SMS);
- ``no_channel``: no way to reach the party (an anonymous recipient invited by no channel and
  without push);
- ``failed``: queueing raised; recorded, logged and counted, never breaking the send (the
  enqueue runs in a savepoint of its own).

Every decision is one ``NotificationDecision`` row. A notice carries the unread count, never
message text: the push payload holds ids, a path and the count; email and SMS are rendered by
the worker at send time (``messaging.notifications``) from ids, with the unread count of that
moment.

Cost in the caller's transaction: one read of the parties, one bulk insert of the decisions,
and -- only when a notice is queued -- one update of ``last_notified_at`` plus the outbox
statements of each notice (a savepoint pair, and push: the subscriptions read and one job per
device; email/SMS: one job and its intent row).

Coalescing is race-free: every path that calls the bridge holds the conversation's row lock,
so two decisions for one conversation never interleave; the ``last_notified_at`` update takes
the participants' row locks in that same transaction.

``blind_report(order_id)`` is what support and ``manage.py messaging blind_check`` read: per
party, every decision, and the messages after which it was left blind.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aventide.accounts.contracts import UseCase
from aventide.core import committail
from aventide.core.logging import get_logger
from aventide.core.metrics import emit
from aventide.core.principal import Principal, PrincipalKind
from aventide.orders import selectors as orders
from integrations import services as outbox
from messaging.models import (
    Conversation,
    Message,
    NotificationDecision,
    NotificationOutcome,
    Participant,
    ParticipantRole,
    member_key,
)
from messaging.notifications import RENDERER
from realtime import services as realtime

logger = get_logger("messaging.bridge")

MESSAGE = "message"
ACTIVATION = "activation"
#: push notice kinds per trigger
NOTICE_KINDS = {MESSAGE: "chat.message", ACTIVATION: "chat.activated"}
PARTY_ROLES: tuple[str, ...] = (
    ParticipantRole.BUYER.value,
    ParticipantRole.SELLER.value,
    ParticipantRole.RECIPIENT.value,
)
#: outcomes that leave the party blind (logged as well as counted)
_BLIND: frozenset[str] = frozenset({NotificationOutcome.NO_CHANNEL, NotificationOutcome.FAILED})
#: outcomes after which the party knows (or was told) about the message
COVERED: frozenset[str] = frozenset(
    {
        NotificationOutcome.SENT.value,
        NotificationOutcome.COALESCED.value,
        NotificationOutcome.SKIPPED_ONLINE.value,
    }
)


@dataclass(frozen=True)
class _Verdict:
    outcome: str
    channel: str = ""
    job_key: str = ""
    detail: str = ""


def coalesce_window() -> timedelta:
    return timedelta(seconds=max(0, int(settings.MESSAGING_NOTIFY_COALESCE_SECONDS)))


def on_activity(
    *,
    uc: UseCase,
    conversation: Conversation,
    trigger: str,
    seq: int,
    sender_key: str,
    online: frozenset[str] | None = None,
    parties: list[Participant] | None = None,
) -> list[NotificationDecision]:
    """Decide and record, per other party, how it learns about ``trigger`` at ``seq``
    (see the module docstring). Returns the decisions written. ``parties``: the
    conversation's parties as ``parties_from_json`` built them from a statement the caller
    ran after taking the conversation's lock (the send's insert); else they are read here."""
    now = timezone.now()
    window = coalesce_window()
    if parties is None:
        parties = _parties_of(conversation.pk)
    decisions: list[NotificationDecision] = []
    notified: list[int] = []
    for party in parties:
        key = party.audience_key
        if key == sender_key:
            continue
        unread = max(0, seq - party.read_up_to_seq)
        if online is not None and key in online:
            verdict = _Verdict(NotificationOutcome.SKIPPED_ONLINE)
        elif party.last_notified_at is not None and now - party.last_notified_at < window:
            verdict = _Verdict(
                NotificationOutcome.COALESCED,
                detail=f"notice sent at {party.last_notified_at.isoformat()}",
            )
        else:
            verdict = _deliver(conversation, party, trigger=trigger, seq=seq, unread=unread)
            if online is None and verdict.outcome == NotificationOutcome.SENT:
                verdict = _Verdict(
                    verdict.outcome,
                    verdict.channel,
                    verdict.job_key,
                    (
                        f"presence unknown; {verdict.detail}"
                        if verdict.detail
                        else "presence unknown"
                    )[:200],
                )
            if verdict.outcome == NotificationOutcome.SENT:
                notified.append(party.pk)
        decisions.append(
            NotificationDecision(
                conversation=conversation,
                participant=party,
                trigger=trigger,
                seq=seq,
                outcome=verdict.outcome,
                channel=verdict.channel,
                unread_count=unread,
                job_key=verdict.job_key[:255],
                detail=verdict.detail[:200],
            )
        )
    if decisions:
        _insert_decisions(decisions, now)
    if notified:
        Participant.objects.filter(pk__in=notified).update(last_notified_at=now)
    for decision in decisions:
        emit(
            "METRIC_CHAT_NOTICE",
            labels={"outcome": decision.outcome, "channel": decision.channel or "none"},
            # every decision is counted and stored; a line only when a party is left blind
            log=decision.outcome in _BLIND,
        )
    return decisions


#: what the bridge reads of each party, in the model's field order (``Model.from_db``)
_PARTY_FIELDS: list[Any] = [
    f
    for f in Participant._meta.concrete_fields
    if f.attname in {"id", "role", "user_id", "anon_id", "read_up_to_seq", "last_notified_at"}
]
_PARTIES_SQL: str | None = None


def _parties_of(conversation_id: int) -> list[Participant]:
    """The conversation's parties (buyer, seller, recipient; never staff), by id: one plain
    statement built once from the model (no per-send ORM compilation on the hot path), each
    row a deferred ``Participant`` with the fields above. Other databases: the ORM (their
    drivers need its value converters, e.g. SQLite's datetimes)."""
    global _PARTIES_SQL
    if connection.vendor != "postgresql":
        return list(
            Participant.objects.filter(conversation_id=conversation_id, role__in=PARTY_ROLES)
            .only(*(f.attname for f in _PARTY_FIELDS))
            .order_by("pk")
        )
    if _PARTIES_SQL is None:
        qn = connection.ops.quote_name
        columns = ", ".join(qn(f.column) for f in _PARTY_FIELDS)
        roles = ", ".join(["%s"] * len(PARTY_ROLES))
        # Names from the model's own metadata; every value is a parameter.
        _PARTIES_SQL = (
            f"SELECT {columns} FROM {qn(Participant._meta.db_table)}"  # noqa: S608
            f" WHERE {qn('conversation_id')} = %s AND {qn('role')} IN ({roles})"
            f" ORDER BY {qn('id')}"
        )
    with connection.cursor() as cursor:
        cursor.execute(_PARTIES_SQL, [conversation_id, *PARTY_ROLES])
        rows = cursor.fetchall()
    names = [f.attname for f in _PARTY_FIELDS]
    return [Participant.from_db(connection.alias, names, list(row)) for row in rows]


def parties_json_sql(conversation_column: str) -> tuple[str, list[str]]:
    """A scalar subquery: the parties of the conversation whose id is ``conversation_column``
    (an SQL expression of the caller's statement) as one JSON array, each party an array of
    the fields ``_parties_of`` reads, ordered by id -- for a caller that reads them in a
    statement of its own (after the conversation's lock, so it sees every committed update
    of ``last_notified_at``) instead of in a round trip here. Decode with
    ``parties_from_json``. Returns the SQL and its parameters (the roles). PostgreSQL only."""
    qn = connection.ops.quote_name
    fields = ", ".join(f"p.{qn(f.column)}" for f in _PARTY_FIELDS)
    roles = ", ".join(["%s"] * len(PARTY_ROLES))
    # Names from the model's metadata and the caller's constant expression; values are
    # parameters.
    sql = (
        f"(SELECT coalesce(json_agg(json_build_array({fields}) ORDER BY p.{qn('id')}), '[]')"  # noqa: S608
        f" FROM {qn(Participant._meta.db_table)} p"
        f" WHERE p.{qn('conversation_id')} = {conversation_column}"
        f" AND p.{qn('role')} IN ({roles}))"
    )
    return sql, list(PARTY_ROLES)


def parties_from_json(rows: list[list[Any]]) -> list[Participant]:
    """The ``Participant`` instances ``_parties_of`` would build, from ``parties_json_sql``'s
    array (JSON carries uuids and timestamps as text)."""
    names = [f.attname for f in _PARTY_FIELDS]
    parties = []
    for row in rows:
        values = dict(zip(names, row, strict=True))
        if values["anon_id"] is not None:
            values["anon_id"] = uuid.UUID(values["anon_id"])
        if values["last_notified_at"] is not None:
            values["last_notified_at"] = datetime.fromisoformat(values["last_notified_at"])
        parties.append(Participant.from_db(connection.alias, names, [values[n] for n in names]))
    return parties


_DECISION_COLUMNS = (
    "conversation_id",
    "participant_id",
    "trigger",
    "seq",
    "outcome",
    "channel",
    "unread_count",
    "job_key",
    "detail",
    "created_at",
)


def _insert_decisions(decisions: list[NotificationDecision], now: datetime) -> None:
    """One INSERT for the send's decisions. PostgreSQL: a plain multi-row VALUES (the ORM's
    ``bulk_create`` builds UNNEST arrays, measurably slower for two or three rows on the hot
    path); elsewhere ``bulk_create``. The rows are not read back, so in a frame that owns its
    transaction the INSERT travels with the COMMIT."""
    for decision in decisions:
        decision.created_at = now
    if connection.vendor != "postgresql":
        NotificationDecision.objects.bulk_create(decisions)
        return
    row = "(" + ", ".join(["%s"] * len(_DECISION_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO messaging_notificationdecision ({', '.join(_DECISION_COLUMNS)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(decisions))}"
    )
    params: list[Any] = []
    for d in decisions:
        params.extend(
            [
                d.conversation_id,
                d.participant_id,
                d.trigger,
                d.seq,
                d.outcome,
                d.channel,
                d.unread_count,
                d.job_key,
                d.detail,
                d.created_at,
            ]
        )
    if committail.defer(sql, params, _no_row):
        return  # sent with the frame's COMMIT (decision 0021): one round trip fewer
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _no_row(row: tuple[Any, ...] | None) -> None:
    """The decisions' INSERT answers no row; nothing to hand back."""


def party_principal(conversation: Conversation, party: Participant) -> Principal:
    """The principal whose push subscriptions reach ``party`` (ids only, no query)."""
    if party.user_id is not None:
        return Principal(kind=PrincipalKind.USER, id=str(party.user_id))
    return Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(party.anon_id),
        order_id=conversation.order_id,
        role=ParticipantRole.RECIPIENT.value,
    )


def app_path(conversation: Conversation, party: Participant) -> str:
    """Where the notice opens in the client app: the order's chat, or, for an anonymous
    recipient, its gift page (the client holds its identity; no signature in a payload)."""
    if party.user_id is None and party.anon_id is not None:
        return f"/gift/{party.anon_id}"
    return f"/orders/{conversation.order_id}/chat"


def notice_ref(conversation: Conversation, party: Participant, seq: int) -> str:
    return f"chat:{conversation.pk}:{party.pk}:{seq}"


def _deliver(
    conversation: Conversation, party: Participant, *, trigger: str, seq: int, unread: int
) -> _Verdict:
    """Queue the notice: push when the party has a subscription, else its channel (email for
    registered parties, the invitation's for an anonymous recipient). The writes run in a
    savepoint: a failure is a ``failed`` decision, never the send's. An unreachable party
    with push switched off costs no savepoint, and no read once its order's invitation
    channel is remembered (``_invitation_channel``)."""
    try:
        if party.user_id is not None:
            channel = "email"
        else:
            channel = _invitation_channel(conversation.order_id, party.anon_id)
        push_on = push_possible()
        if not channel and not push_on:
            return _unreachable()
        with transaction.atomic():
            return _enqueue(
                conversation, party, channel, push_on, trigger=trigger, seq=seq, unread=unread
            )
    except Exception as exc:  # noqa: BLE001 -- the bridge never breaks a send
        code = str(getattr(exc, "code", "") or "")
        logger.warning(
            "messaging.notice_failed",
            conversationId=conversation.pk,
            participantId=party.pk,
            seq=seq,
            error=type(exc).__name__,
            code=code,
        )
        emit("METRIC_CHAT_NOTICE_FAILED", labels={"error": type(exc).__name__})
        detail = f"{type(exc).__name__}{': ' + code if code else ''}"
        return _Verdict(NotificationOutcome.FAILED, detail=detail)


@lru_cache(maxsize=4096)
def _invitation_channel(order_id: int, anon_id: uuid.UUID | None) -> str:
    """``orders.recipient_invitation_channel``, remembered per process: an order's recipient
    contact is set when the order is created and never changes, so the answer is fixed. Keyed
    by the recipient's anonymous id too (random per order), never by the order id alone: a
    test database's flush reuses ids."""
    return orders.recipient_invitation_channel(order_id)


def push_possible() -> bool:
    """Whether ``realtime.services.notify`` may enqueue anything (the flag on and the VAPID
    keys configured). Off, the bridge neither calls ``notify`` nor opens a savepoint for a
    party it cannot reach otherwise."""
    return bool(realtime.push_enabled())


def _unreachable() -> _Verdict:
    return _Verdict(
        NotificationOutcome.NO_CHANNEL,
        detail="anonymous recipient: no push subscription and invited by no channel",
    )


def _enqueue(
    conversation: Conversation,
    party: Participant,
    channel: str,
    push_on: bool,
    *,
    trigger: str,
    seq: int,
    unread: int,
) -> _Verdict:
    ref = notice_ref(conversation, party, seq)
    if push_on:
        # realtime.services re-exports Web Push's notify/Notice (decision 0017) without
        # ``as`` aliases, which mypy's no-implicit-reexport does not see as an export.
        jobs = realtime.notify(
            party_principal(conversation, party),
            realtime.Notice(
                ref=ref,
                kind=NOTICE_KINDS.get(trigger, NOTICE_KINDS[MESSAGE]),
                url=app_path(conversation, party),
                order_id=conversation.order_id,
                conversation_id=conversation.pk,
                unread_count=unread,
            ),
        )
        if jobs:
            # one job per device, each keyed push:<subscription>:<ref>
            ids = ",".join(str(job_id) for job_id in jobs)
            return _Verdict(NotificationOutcome.SENT, "push", f"push:*:{ref}", f"push jobs {ids}")
    if not channel:
        return _unreachable()
    key = f"chat:{conversation.pk}:notice:{party.pk}:{seq}"
    outbox.enqueue(
        kind=channel,
        operation=f"{channel}.send",
        payload={
            "render": RENDERER,
            "params": {
                "conversationId": conversation.pk,
                "participantId": party.pk,
                "trigger": trigger,
                "seq": seq,
                "channel": channel,
            },
        },
        idempotency_key=key,
        country_code=conversation.country_code,
    )
    return _Verdict(NotificationOutcome.SENT, channel, key)


# --- support: was anybody left blind? -----------------------------------------------------------


@dataclass(frozen=True)
class BlindSpot:
    """A message after which a party was neither online, nor told, nor has read it since."""

    seq: int
    why: str  # the decision's outcome, or "no_decision"


@dataclass(frozen=True)
class PartyReport:
    role: str
    key: str
    read_up_to_seq: int
    last_notified_at: datetime | None
    decisions: list[NotificationDecision] = field(default_factory=list)
    blind: list[BlindSpot] = field(default_factory=list)


@dataclass(frozen=True)
class BlindReport:
    order_id: int
    conversation_id: int
    state: str
    last_seq: int
    parties: list[PartyReport]

    @property
    def anyone_blind(self) -> bool:
        return any(party.blind for party in self.parties)


def blind_report(order_id: int) -> BlindReport | None:
    """Per party of the order's conversation: every bridge decision, and the blind spots --
    messages (any kind, not the party's own -- nor one the bridge decided on for the others
    only: the party's own activation) after which the party got no ``sent``,
    ``coalesced`` or ``skipped_online`` decision, no later ``sent`` notice (which carries the
    unread count) and has not read up to them. None when the order has no conversation.
    4 queries; reads only ``seq`` and the sender of each message, never text."""
    conversation = Conversation.objects.filter(order_id=order_id).first()
    if conversation is None:
        return None
    parties = list(
        Participant.objects.filter(conversation_id=conversation.pk, role__in=PARTY_ROLES).order_by(
            "pk"
        )
    )
    by_party: dict[int, list[NotificationDecision]] = defaultdict(list)
    for decision in NotificationDecision.objects.filter(conversation_id=conversation.pk).order_by(
        "created_at", "pk"
    ):
        by_party[decision.participant_id].append(decision)
    messages = list(
        Message.objects.filter(conversation_id=conversation.pk)
        .order_by("seq")
        .values_list("seq", "sender_user_id", "sender_anon_id")
    )
    # a seq the bridge decided on for someone but not for this party: the party triggered it
    # (a system message of its own activation carries no sender)
    decided = {d.seq for rows in by_party.values() for d in rows if d.seq is not None}
    reports = []
    for party in parties:
        decisions = by_party.get(party.pk, [])
        outcome_at = {d.seq: d.outcome for d in decisions if d.seq is not None}
        sent_seqs = [
            d.seq for d in decisions if d.seq is not None and d.outcome == NotificationOutcome.SENT
        ]
        blind: list[BlindSpot] = []
        for seq, user_id, anon_id in messages:
            if member_key(user_id, anon_id) == party.audience_key:
                continue
            outcome = outcome_at.get(seq)
            if outcome is None and seq in decided:
                continue
            if outcome in COVERED or seq <= party.read_up_to_seq:
                continue
            if any(later > seq for later in sent_seqs):
                continue
            blind.append(BlindSpot(seq=seq, why=outcome or "no_decision"))
        reports.append(
            PartyReport(
                role=party.role,
                key=party.audience_key,
                read_up_to_seq=party.read_up_to_seq,
                last_notified_at=party.last_notified_at,
                decisions=decisions,
                blind=blind,
            )
        )
    return BlindReport(
        order_id=order_id,
        conversation_id=conversation.pk,
        state=conversation.state,
        last_seq=conversation.last_seq,
        parties=reports,
    )
