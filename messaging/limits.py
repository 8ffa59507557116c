"""Send admission on the shared cache (Redis in full mode): rate limits and body repetition.

Every counter counts **distinct clientMessageIds**: a send first claims
``seen:<conversation>:<sender>:<clientMessageId>`` with ``cache.add`` (SET NX); only a new id
increments the counters. So a client retrying one message (even 20 times at once) never uses
up its allowance, and the idempotent answer is never a 429.

- per sender per conversation: ``MESSAGING_RATE_PER_CONVERSATION`` per
  ``MESSAGING_RATE_WINDOW_SECONDS`` (fixed window);
- per sender overall: ``MESSAGING_RATE_PER_SENDER`` per window;
- repetition: how many distinct messages with the same moderation fingerprint this sender
  sent to this conversation within ``MESSAGING_SPAM_REPEAT_WINDOW_SECONDS``; the send path
  treats the ``MESSAGING_SPAM_REPEAT_LIMIT``-th as spam.

Keys carry ids and a digest, never text. The cache is best effort: if it is down the send
goes on unlimited (the chat must not stop with Redis), and the failure is counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from aventide.core.logging import get_logger
from aventide.core.metrics import emit
from messaging.errors import ChatRateLimited

logger = get_logger("messaging.limits")


@dataclass(frozen=True)
class Admission:
    #: False when this clientMessageId was seen before (a retry): nothing was counted
    new: bool


def _count(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


def admit(*, sender_key: str, conversation_id: int, client_message_id: str) -> Admission:
    """Count this send against the sender's limits, or raise 429 ``RATE_LIMITED`` with
    ``Retry-After``. A clientMessageId already seen passes without counting."""
    window = max(1, int(settings.MESSAGING_RATE_WINDOW_SECONDS))
    now = time.time()
    slot = int(now // window)
    seen = hashlib.sha256(
        f"{conversation_id}:{sender_key}:{client_message_id}".encode()
    ).hexdigest()[:32]
    try:
        if not cache.add(f"chat:seen:{seen}", 1, window * 2):
            return Admission(new=False)
        ttl = window + 1
        in_conversation = _count(f"chat:rl:c:{conversation_id}:{sender_key}:{slot}", ttl)
        overall = _count(f"chat:rl:s:{sender_key}:{slot}", ttl)
    except Exception as exc:  # noqa: BLE001 -- the cache must never stop the chat
        emit("METRIC_CHAT_LIMITS_UNAVAILABLE", labels={"error": type(exc).__name__})
        return Admission(new=True)
    if (
        in_conversation > settings.MESSAGING_RATE_PER_CONVERSATION
        or overall > settings.MESSAGING_RATE_PER_SENDER
    ):
        # The refused send must be retryable later: forget that this id was seen.
        with contextlib.suppress(Exception):
            cache.delete(f"chat:seen:{seen}")
        retry_after = max(1, math.ceil((slot + 1) * window - now))
        scope = (
            "conversation"
            if in_conversation > settings.MESSAGING_RATE_PER_CONVERSATION
            else "sender"
        )
        emit("METRIC_CHAT_RATE_LIMITED", labels={"scope": scope})
        raise ChatRateLimited(retry_after=retry_after)
    return Admission(new=True)


def repeats(*, sender_key: str, conversation_id: int, fingerprint: str) -> int:
    """Count one more distinct message with this moderation fingerprint from this sender in
    this conversation; return how many there were in the window (this one included). Call it
    only for a new clientMessageId (`Admission.new`). 0 when the cache is down."""
    window = max(1, int(settings.MESSAGING_SPAM_REPEAT_WINDOW_SECONDS))
    try:
        return _count(f"chat:rep:{conversation_id}:{sender_key}:{fingerprint}", window)
    except Exception as exc:  # noqa: BLE001 -- the cache must never stop the chat
        emit("METRIC_CHAT_LIMITS_UNAVAILABLE", labels={"error": type(exc).__name__})
        return 0
