"""The engine's public value types: ``Action``, ``Reason``, ``Span``, ``Verdict``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What the send path does with a message; ordered by strictness (allow < redact < block)."""

    ALLOW = "allow"
    REDACT = "redact"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Action.ALLOW: 0, Action.REDACT: 1, Action.BLOCK: 2}


class Reason(StrEnum):
    """Why a span was flagged; stable codes stored on the message and shown to staff."""

    CONTACT_PHONE = "CONTACT_PHONE"
    CONTACT_EMAIL = "CONTACT_EMAIL"
    CONTACT_URL = "CONTACT_URL"
    CONTACT_HANDLE = "CONTACT_HANDLE"
    PAYMENT_BYPASS = "PAYMENT_BYPASS"
    HARASSMENT = "HARASSMENT"
    SPAM = "SPAM"


#: the order of ``Verdict.reasons`` (stable: the declaration order of ``Reason``)
REASON_ORDER: dict[str, int] = {reason.value: index for index, reason in enumerate(Reason)}

#: what replaces a flagged span in ``Verdict.redacted_text``
PLACEHOLDERS: dict[str, str] = {
    Reason.CONTACT_PHONE: "[contact removed]",
    Reason.CONTACT_EMAIL: "[contact removed]",
    Reason.CONTACT_URL: "[contact removed]",
    Reason.CONTACT_HANDLE: "[contact removed]",
    Reason.PAYMENT_BYPASS: "[payment details removed]",
    Reason.HARASSMENT: "[removed]",
    Reason.SPAM: "[removed]",
}


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A flagged range ``[start, end)`` of the ORIGINAL text and the reason code."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of ``moderate``: action, reasons, spans over the original, redacted text."""

    action: Action
    reasons: tuple[str, ...]
    spans: tuple[Span, ...]
    redacted_text: str
    normalized: str
    fingerprint: str

    @property
    def verdict(self) -> Action:
        """The same as ``action`` (the issue's name for it)."""
        return self.action
