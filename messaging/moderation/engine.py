"""``moderate``: normalise, run the detectors, apply the policy, redact. Pure and deterministic."""

from __future__ import annotations

import hashlib
import logging
import re
import traceback

from . import detectors, policy
from .normalize import ALL_STEPS, keyword_view, normalize, squeezed_view
from .types import PLACEHOLDERS, REASON_ORDER, Action, Reason, Span, Verdict

logger = logging.getLogger(__name__)

#: placeholder precedence where flagged spans of different reasons overlap
_PLACEHOLDER_ORDER = (
    Reason.PAYMENT_BYPASS,
    Reason.CONTACT_PHONE,
    Reason.CONTACT_EMAIL,
    Reason.CONTACT_URL,
    Reason.CONTACT_HANDLE,
    Reason.HARASSMENT,
    Reason.SPAM,
)
_FINGERPRINT_DROP = re.compile(r"[^a-z0-9]+")
_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
_REPEATS = re.compile(r"([a-z0])\1+")


def moderate(text: str, *, country_code: str) -> Verdict:
    """The verdict on one chat message written in an order of ``country_code`` (AR, MX, BR).

    No database, cache or network access; the same input and settings always give the same
    verdict; never raises: an internal error is logged with its class and line only (never the
    text) and the message is held back (``block`` with no reasons), so a crafted input cannot
    slip through a bug.
    """
    try:
        return analyze(text, country_code=country_code)
    except Exception as exc:  # noqa: BLE001 - the send path must never fail on a message body
        # no message, no traceback text: either could quote the message (PII)
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
        logger.error(
            "moderation.engine_error",
            extra={
                "error": type(exc).__name__,
                "where": where,
                "length": len(text) if isinstance(text, str) else -1,
            },
        )
        safe = text if isinstance(text, str) else ""
        return Verdict(Action.BLOCK, (), (), safe, "", "")


def analyze(text: str, *, country_code: str, steps: frozenset[str] = ALL_STEPS) -> Verdict:
    """``moderate`` without the safety net, with normalisation steps selectable (tests)."""
    if not isinstance(text, str):
        text = str(text)
    country = (country_code or "").strip().upper()[:2]
    norm = normalize(text, steps)
    keywords = keyword_view(norm, steps)
    ctx = detectors.Context(
        original=text,
        norm=norm,
        keywords=keywords,
        squeezed=squeezed_view(keywords),
        country=country,
        steps=steps,
        allowed_domains=policy.allowed_domains(),
    )
    detectors.payment(ctx)
    detectors.email(ctx)
    detectors.url(ctx)
    detectors.handle(ctx)
    detectors.phone(ctx)
    detectors.solicitation(ctx)
    detectors.harassment(ctx)
    detectors.spam(ctx)

    spans = tuple(sorted(set(ctx.spans)))
    reasons = tuple(sorted({str(s.reason) for s in spans}, key=REASON_ORDER.__getitem__))
    action = Action.ALLOW
    for reason in reasons:
        candidate = policy.action_for(reason, country)
        if candidate.rank > action.rank:
            action = candidate
    return Verdict(
        action=action,
        reasons=reasons,
        spans=spans,
        redacted_text=redact(text, spans),
        normalized=norm.text,
        fingerprint=fingerprint(norm.text),
    )


def redact(text: str, spans: tuple[Span, ...]) -> str:
    """Each maximal run of overlapping flagged spans replaced by one placeholder."""
    if not spans:
        return text
    merged: list[tuple[int, int, set[str]]] = []
    for span in sorted(spans):
        if merged and span.start < merged[-1][1]:
            start, end, reasons = merged[-1]
            merged[-1] = (start, max(end, span.end), reasons | {span.reason})
        else:
            merged.append((span.start, span.end, {span.reason}))
    parts: list[str] = []
    pos = 0
    for start, end, reasons in merged:
        reason = next(r for r in _PLACEHOLDER_ORDER if r in reasons)
        parts.append(text[pos:start])
        parts.append(PLACEHOLDERS[reason])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def fingerprint(normalized: str) -> str:
    """A short digest of the message's normalised words (digits folded to ``0``), equal for
    messages that differ only in case, accents, spacing, punctuation, repeated letters or the
    numbers in them: the caller compares it across messages to spot repetition."""
    # digits become "0" and every run of a letter or of "0"s one character: the same as folding
    # each digit run to "0" and then repeated letters, in one pass fewer
    folded = _FINGERPRINT_DROP.sub(" ", normalized).translate(_DIGITS_TO_ZERO).strip()
    folded = _REPEATS.sub(r"\1", folded)
    return hashlib.blake2b(folded.encode("utf-8", "replace"), digest_size=8).hexdigest()
