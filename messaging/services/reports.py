"""Abuse reports: a party flags a message for support; staff resolve the flag.

- ``conversation_report``: a party (buyer, seller, recipient -- the anonymous one too) reports
  one message of their conversation with a reason from the closed list ``ReportReason``.
  Once per reporter per message: a repeat returns the first report (``created=False``) and
  writes nothing. Any state (dormant, active, frozen, closed): evidence can be flagged
  after the chat stopped. Not your own message, not a system message
  (422 ``MESSAGE_NOT_REPORTABLE``); an unknown seq is 404 ``MESSAGE_NOT_FOUND``; a
  non-member 404 ``NOT_FOUND_OR_NO_ACCESS``. Writes the ``AbuseReport`` row (support's
  queue, ``source=report``), the audit row ``conversation.reported`` (ids and codes, never
  text) and a realtime event for the country's staff queue only (the reported party never
  learns who reported).
- ``report_resolve``: staff in scope (any level) close a report of the queue; idempotent.
  Audit ``conversation.report_resolved``. Out of scope: 403 ``SCOPE_VIOLATION`` (audited).

Locks: the conversation row (reports of one conversation serialize with its sends, so
"once per reporter per message" cannot race), or the report row for a resolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils import timezone

from audit import services as audit
from aventide.accounts.contracts import use_case
from aventide.core.errors import Forbidden, ValidationFailed
from aventide.core.metrics import emit
from aventide.core.principal import Principal
from messaging import selectors
from messaging.audit_actions import ConversationAction
from messaging.errors import MessageNotFound, MessageNotReportable, ReportNotFound
from messaging.models import (
    AbuseFlagSource,
    AbuseReport,
    Conversation,
    Message,
    MessageKind,
    ReportStatus,
)
from messaging.services.conversations import lock_for
from realtime import services as realtime

EVENT_REPORTED = "conversation.reported"


class ReportReason(models.TextChoices):
    """The closed list a party picks from to report a message."""

    HARASSMENT = "harassment", "Harassment or insults"
    OFF_PLATFORM = "off_platform", "Asks to pay or talk outside Aventide"
    SPAM = "spam", "Spam"
    FRAUD = "fraud", "Fraud or scam"
    OTHER = "other", "Other"


@dataclass(frozen=True)
class ReportResult:
    report: AbuseReport
    created: bool


_PARTY_ROLES = frozenset({"buyer", "seller", "recipient"})


def conversation_report(
    *, actor: Principal, conversation_id: int, message_seq: int, reason_code: str
) -> ReportResult:
    """A party reports the message ``message_seq`` of the conversation (see the module
    docstring). 5 statements when new (lock, message, existing report, insert, audit) plus
    the staff-queue event; 3 on a repeat."""
    if reason_code not in ReportReason.values:
        raise ValidationFailed(
            details={"reasonCode": [f"One of: {', '.join(ReportReason.values)}."]}
        )
    if isinstance(message_seq, bool) or not isinstance(message_seq, int) or message_seq < 1:
        raise ValidationFailed(details={"messageSeq": ["A positive integer."]})
    reporter_key = selectors.actor_key(actor)
    with use_case(actor) as uc:
        conversation, role = lock_for(uc, actor, conversation_id)
        if role not in _PARTY_ROLES:
            raise Forbidden(
                "Staff do not file reports: freeze the conversation or work its reports."
            )
        message = Message.objects.filter(conversation_id=conversation.pk, seq=message_seq).first()
        if message is None:
            raise MessageNotFound()
        if message.kind == MessageKind.SYSTEM:
            raise MessageNotReportable("System messages cannot be reported.")
        if message.sender_key == reporter_key:
            raise MessageNotReportable("You cannot report your own message.")
        existing = AbuseReport.objects.filter(
            message_id=message.pk, reporter_key=reporter_key
        ).first()
        if existing is not None:
            return ReportResult(report=existing, created=False)
        report = AbuseReport.objects.create(
            conversation=conversation,
            country_code=conversation.country_code,
            source=AbuseFlagSource.REPORT,
            message=message,
            reporter_key=reporter_key,
            subject_key=message.sender_key,
            reason_code=reason_code,
        )
        audit.record(
            ConversationAction.REPORTED,
            conversation,
            data={
                "reportId": report.pk,
                "messageId": message.pk,
                "seq": message.seq,
                "reasonCode": reason_code,
                "senderRole": message.sender_role,
            },
            country_code=conversation.country_code,
        )
        realtime.publish_last(
            stream=conversation.stream,
            type=EVENT_REPORTED,
            payload={
                "conversationId": conversation.pk,
                "reportId": report.pk,
                "seq": message.seq,
                "reasonCode": reason_code,
            },
            audience=[f"staff:{conversation.country_code}"],
            country_code=conversation.country_code,
        )
        emit("METRIC_CHAT_REPORT", labels={"reason": reason_code})
        return ReportResult(report=report, created=True)


def report_resolve(*, actor: Principal, report_id: int) -> AbuseReport:
    """Staff in the report's country mark it resolved (any level: triage is L1 work).
    Already resolved: returned as is, nothing written. Parties get ``NOT_FOUND``."""
    with use_case(actor) as uc:
        report = uc.lock(AbuseReport.objects.filter(pk=report_id))
        if report is None or not (actor.is_staff or actor.is_system):
            raise ReportNotFound()
        uc.require_scope(report.country_code, action="conversation.report_resolve", target=report)
        uc.act_as(actor.level)
        if report.status == ReportStatus.RESOLVED:
            return report
        report.status = ReportStatus.RESOLVED
        report.resolved_at = timezone.now()
        report.save(update_fields=["status", "resolved_at"])
        audit.record(
            ConversationAction.REPORT_RESOLVED,
            (Conversation._meta.model_name or "conversation", report.conversation_id),
            data={
                "reportId": report.pk,
                "source": report.source,
                "reasonCode": report.reason_code,
                "messageId": report.message_id,
            },
            country_code=report.country_code,
        )
        return report


__all__ = [
    "MessageNotFound",
    "MessageNotReportable",
    "ReportNotFound",
    "ReportReason",
    "ReportResult",
    "conversation_report",
    "report_resolve",
]
