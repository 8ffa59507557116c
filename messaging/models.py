"""The order chat: one ``Conversation`` per order, its ``Participant``s (with their receipt
watermarks), the WORM ``Message`` rows, and what abuse and the notification bridge leave behind.

- A conversation is silent by default (``dormant``); it becomes ``active`` by a party's reasoned
  activation or by the system on an exception, ``frozen`` by strikes or a dispute (staff may
  still post; parties read only), ``closed`` 30 days after the order completes.
- Participants are denormalised on the conversation (buyer, seller, recipient user or anonymous
  identity) so "is this principal a member, and as what" is a pure check on the locked row.
  ``Participant`` rows carry the per-party receipt watermarks and the bridge's coalescing state.
- ``Message`` rows are immutable (database triggers, migration 0002): ``body`` is what the
  other parties see (redacted when moderation redacted it), ``original_body`` is staff-only and
  empty unless it differs. ``seq`` is gapless per conversation (``Conversation.last_seq`` is
  bumped under the conversation's row lock in the send transaction).
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import RETURN_VALUE, FSMField, transition

from messaging.errors import MessageImmutable
from realtime.contracts import anon_key, user_key

BODY_MAX_CHARS = 2000
CLIENT_MESSAGE_ID_MAX_LENGTH = 64


class ConversationState(models.TextChoices):
    DORMANT = "dormant", "Dormant"
    ACTIVE = "active", "Active"
    FROZEN = "frozen", "Frozen"
    CLOSED = "closed", "Closed"


class ActivationReason(models.TextChoices):
    """The closed list a party picks from to open a dormant chat."""

    DELIVERY_QUESTION = "delivery_question", "Delivery question"
    ADDRESS_PROBLEM = "address_problem", "Address problem"
    DELAY = "delay", "Delay"
    ITEM_PROBLEM = "item_problem", "Item problem"
    RECIPIENT_UNREACHABLE = "recipient_unreachable", "Recipient unreachable"


class SystemActivationReason(models.TextChoices):
    """Exceptions on which the system opens the chat itself."""

    INCIDENT_OPENED = "incident_opened", "Incident opened"
    DELIVERY_OVERDUE = "delivery_overdue", "Delivery overdue"
    DELIVERY_ATTEMPT_FAILED = "delivery_attempt_failed", "Delivery attempt failed"
    STAFF = "staff", "Opened by staff"


class FreezeReason(models.TextChoices):
    ABUSE = "FROZEN_ABUSE", "Abuse strikes"
    DISPUTE = "FROZEN_DISPUTE", "Dispute open"
    STAFF = "FROZEN_STAFF", "Frozen by staff"


class ParticipantRole(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"
    RECIPIENT = "recipient", "Recipient"
    STAFF = "staff", "Staff"


class MessageKind(models.TextChoices):
    USER = "user", "User"
    SYSTEM = "system", "System"
    STAFF = "staff", "Staff"


class Conversation(models.Model):
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="conversation"
    )
    country_code = models.CharField(max_length=2, db_index=True)
    state = FSMField(
        default=ConversationState.DORMANT, choices=ConversationState.choices, protected=False
    )
    #: the parties, copied from the order at creation (membership is a pure check)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    recipient_anon_id = models.UUIDField(null=True, blank=True)
    #: the highest seq assigned (0 = no message yet); bumped under the row lock
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    activation_reason = models.CharField(max_length=40, blank=True, default="")
    activated_at = models.DateTimeField(null=True, blank=True)
    freeze_reason = models.CharField(max_length=40, blank=True, default="")
    frozen_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    TRANSITION_FIELDS = (
        "state",
        "activation_reason",
        "activated_at",
        "freeze_reason",
        "frozen_at",
        "closed_at",
        "updated_at",
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["country_code", "state", "-updated_at"], name="msg_conv_scope_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"conversation:{self.pk} order:{self.order_id} {self.state}"

    @property
    def stream(self) -> str:
        return f"conversation:{self.pk}"

    # -- transitions: guard + assign only ------------------------------------------------
    @transition(field=state, source=ConversationState.DORMANT, target=ConversationState.ACTIVE)
    def activate(self, *, reason: str, at: Any) -> None:
        self.activation_reason = reason
        self.activated_at = at

    @transition(
        field=state,
        source=[ConversationState.DORMANT, ConversationState.ACTIVE],
        target=ConversationState.FROZEN,
    )
    def freeze(self, *, reason: str, at: Any) -> None:
        self.freeze_reason = reason
        self.frozen_at = at

    @transition(
        field=state,
        source=ConversationState.FROZEN,
        target=RETURN_VALUE(ConversationState.ACTIVE, ConversationState.DORMANT),
    )
    def unfreeze(self) -> str:
        """Back to where it was: active, or dormant when nobody had opened it before (a
        dispute froze a silent chat)."""
        self.freeze_reason = ""
        self.frozen_at = None
        if self.activated_at is None:
            return ConversationState.DORMANT
        return ConversationState.ACTIVE

    @transition(
        field=state,
        source=[ConversationState.DORMANT, ConversationState.ACTIVE, ConversationState.FROZEN],
        target=ConversationState.CLOSED,
    )
    def close(self, *, at: Any) -> None:
        self.closed_at = at


class Participant(models.Model):
    """A member of the conversation and its receipt watermarks.

    Parties (buyer, seller, recipient) are created with the conversation; staff get a row the
    first time they post. Exactly one of ``user`` / ``anon_id`` is set. Watermarks only grow
    (``read_up_to_seq <= delivered_up_to_seq <= conversation.last_seq``, checked by the service
    under the participant's row lock and by a database constraint)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.PROTECT, related_name="participants"
    )
    role = models.CharField(max_length=16, choices=ParticipantRole.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    anon_id = models.UUIDField(null=True, blank=True)
    delivered_up_to_seq = models.PositiveBigIntegerField(default=0)
    read_up_to_seq = models.PositiveBigIntegerField(default=0)
    #: the notification bridge's coalescing window: the last notice sent to this party
    last_notified_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"],
                name="msg_participant_user_uniq",
                condition=Q(user__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["conversation", "anon_id"],
                name="msg_participant_anon_uniq",
                condition=Q(anon_id__isnull=False),
            ),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(anon_id__isnull=True))
                | (Q(user__isnull=True) & Q(anon_id__isnull=False)),
                name="msg_participant_one_identity",
            ),
            models.CheckConstraint(
                condition=Q(read_up_to_seq__lte=models.F("delivered_up_to_seq")),
                name="msg_participant_read_le_delivered",
            ),
        ]

    def __str__(self) -> str:
        return f"participant:{self.pk} {self.role} conversation:{self.conversation_id}"

    @property
    def audience_key(self) -> str:
        """The realtime audience key of this member (``user:<id>`` / ``anon:<uuid>``)."""
        return member_key(self.user_id, self.anon_id)


def member_key(user_id: int | None, anon_id: uuid.UUID | str | None) -> str:
    """The realtime audience key of a member (``user:<id>`` / ``anon:<uuid>``), ``system``
    for neither (system messages). The one rule for participants, senders and reporters."""
    if user_id is not None:
        return user_key(user_id)
    if anon_id is not None:
        return anon_key(anon_id)
    return "system"


def _refuse(what: str) -> NoReturn:
    raise MessageImmutable(f"Messages are evidence and immutable: {what} is not allowed.")


class MessageQuerySet(models.QuerySet["Message"]):
    def update(self, **kwargs: Any) -> int:
        _refuse("update()")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        _refuse("bulk_update()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("update_or_create()")

    def delete(self) -> tuple[int, dict[str, int]]:
        _refuse("delete()")


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.PROTECT, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    sender_role = models.CharField(max_length=16)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sender_anon_id = models.UUIDField(null=True, blank=True)
    #: client-chosen idempotency id (system messages get a server-made one)
    client_message_id = models.CharField(max_length=CLIENT_MESSAGE_ID_MAX_LENGTH)
    #: SHA-256 of the body the client sent: a retry with another body is IDEMPOTENCY_KEY_REUSED
    request_digest = models.CharField(max_length=64)
    #: what the other parties see (redacted when moderation redacted)
    body = models.TextField()
    #: staff-only: the text as sent, kept only when it differs from ``body``
    original_body = models.TextField(blank=True, default="")
    verdict = models.CharField(max_length=8, default="allow")
    reasons = models.JSONField(default=list, blank=True)
    #: moderation's normalised fingerprint (spam repetition)
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_message_id"], name="msg_message_client_id_uniq"
            ),
            models.UniqueConstraint(fields=["conversation", "seq"], name="msg_message_seq_uniq"),
            models.CheckConstraint(condition=Q(seq__gt=0), name="msg_message_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"message:{self.pk} conversation:{self.conversation_id} seq:{self.seq}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            _refuse("changing a saved message")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("delete()")

    @property
    def sender_key(self) -> str:
        """Who sent it, as an audience key (``system`` for system messages)."""
        return member_key(self.sender_user_id, self.sender_anon_id)


class Strike(models.Model):
    """One moderation refusal (redact or block) counted against a sender.

    Unique per (conversation, sender, client message id): a client retrying a blocked send
    does not collect a second strike. ``reasons`` are moderation's codes; the text itself is
    never stored here (the redacted message keeps its original staff-only; a blocked one is
    kept only as its fingerprint)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="strikes")
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sender_anon_id = models.UUIDField(null=True, blank=True)
    sender_key = models.CharField(max_length=64)
    client_message_id = models.CharField(max_length=CLIENT_MESSAGE_ID_MAX_LENGTH)
    verdict = models.CharField(max_length=8)
    reasons = models.JSONField(default=list)
    fingerprint = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sender_key", "client_message_id"],
                name="msg_strike_once_per_send",
            )
        ]
        indexes = [models.Index(fields=["sender_key", "created_at"], name="msg_strike_sender_idx")]

    def __str__(self) -> str:
        return f"strike:{self.pk} {self.sender_key} {self.verdict}"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class AbuseFlagSource(models.TextChoices):
    REPORT = "report", "Reported by a party"
    STRIKES = "strikes", "Strikes froze the chat"


class AbuseReport(models.Model):
    """Support's queue: a party's report of a message, or the flag strikes raise."""

    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="reports")
    country_code = models.CharField(max_length=2)
    source = models.CharField(max_length=16, choices=AbuseFlagSource.choices)
    message = models.ForeignKey(
        Message, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    #: who reported (``user:<id>`` / ``anon:<uuid>``); ``system`` for the strikes flag
    reporter_key = models.CharField(max_length=64, blank=True, default="")
    #: whom the flag is about: the reported message's sender, or the sender the strikes froze
    subject_key = models.CharField(max_length=64, blank=True, default="")
    reason_code = models.CharField(max_length=40)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["country_code", "status", "-created_at"], name="msg_report_queue_idx"
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "reporter_key"],
                name="msg_report_once_per_reporter",
                condition=Q(message__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"report:{self.pk} {self.reason_code} {self.status}"


class NotificationOutcome(models.TextChoices):
    SENT = "sent", "Notice queued"
    SKIPPED_ONLINE = "skipped_online", "Online: no notice"
    COALESCED = "coalesced", "Coalesced into a recent notice"
    NO_CHANNEL = "no_channel", "No channel to reach the party"
    FAILED = "failed", "Failed"


class NotificationDecision(models.Model):
    """What the bridge decided for one party on one message or activation (support shows
    these per order: nobody was left blind)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.PROTECT, related_name="notification_decisions"
    )
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+")
    trigger = models.CharField(max_length=16)  # "message" | "activation"
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=NotificationOutcome.choices)
    channel = models.CharField(max_length=16, blank=True, default="")
    unread_count = models.PositiveIntegerField(default=0)
    job_key = models.CharField(max_length=255, blank=True, default="")
    detail = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="msg_notice_conv_idx")]

    def __str__(self) -> str:
        return f"notice:{self.pk} {self.outcome}"


def new_system_message_id() -> str:
    return f"sys-{uuid.uuid4()}"
