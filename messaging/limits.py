"""Send admission on the shared cache (Redis in full mode): rate limits and body repetition.

Every counter counts **distinct clientMessageIds**: a send first claims
``seen:<conversation>:<sender>:<clientMessageId>`` (SET NX); only a new id increments the
counters. So a client retrying one message (even 20 times at once) never uses up its
allowance, and the idempotent answer is never a 429. The claim lives two windows: a retry after
that (or after Redis lost the claim) is counted once more, and if that count is over the limit
the send path (``messaging.services.send._admit``) finds the stored message in the database and
answers it anyway -- a retry of a stored message is never refused.

- per sender per conversation: ``MESSAGING_RATE_PER_CONVERSATION`` per
  ``MESSAGING_RATE_WINDOW_SECONDS`` (fixed window);
- per sender overall: ``MESSAGING_RATE_PER_SENDER`` per window;
- repetition: how many of this sender's last ``MESSAGING_SPAM_REPEAT_HISTORY`` distinct
  messages to this conversation within ``MESSAGING_SPAM_REPEAT_WINDOW_SECONDS`` had the same
  moderation fingerprint; the send path treats the ``MESSAGING_SPAM_REPEAT_LIMIT``-th as spam.

On Redis the whole admission is ONE round trip (a Lua script: the claim and the three
counters, atomically, plus the other parties' presence the send asks for); without Redis
(embedded mode) the same counters live in Django's cache. Keys carry ids and a digest, never
text, and use the cache's key prefix. The cache is best effort: if it is down the send goes on
unlimited (the chat must not stop with Redis), and the failure is counted
(``METRIC_CHAT_LIMITS_UNAVAILABLE``).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from aventide.core.logging import get_logger
from aventide.core.metrics import emit
from messaging.errors import ChatRateLimited
from realtime.selectors import online_probe

logger = get_logger("messaging.limits")

# KEYS: seen, per-conversation counter, per-sender counter[, repeat history][, presence...]
# ARGV: seen ttl, counter ttl, repeat window, fingerprint, history length, number of presence
#       keys, now (epoch seconds)
# The presence keys (the other parties' live-socket sets, realtime.presence.online_probe) are
# counted first, whatever the admission: the send needs them for the bridge, and reading them
# here saves it a round trip. The reply is {new, c, s, r, presence counts...}.
# The repeat history is one list per sender and conversation, newest first, of
# "<redis time> <fingerprint>" entries: at most ARGV[5] of them, those older than the window
# trimmed, the key expiring a window after the last send. Memory is bounded by the active
# (conversation, sender) pairs, not by the message rate (a key per fingerprint grew with every
# distinct body for a whole window: the soak drill, docs/operations/drills.md).
_ADMIT_LUA = """
local np = tonumber(ARGV[6])
local nk = #KEYS - np
local reply = {0, 0, 0, 0}
for i = 1, np do reply[4 + i] = redis.call('ZCOUNT', KEYS[nk + i], '(' .. ARGV[7], '+inf') end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return reply end
local c = redis.call('INCR', KEYS[2])
if c == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
local s = redis.call('INCR', KEYS[3])
if s == 1 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
local r = 0
if nk >= 4 then
  local now = tonumber(redis.call('TIME')[1])
  local since = now - tonumber(ARGV[3])
  local keep = tonumber(ARGV[5])
  local entries = redis.call('LRANGE', KEYS[4], 0, keep - 2)
  local fresh = 0
  r = 1
  for i, e in ipairs(entries) do
    local sp = string.find(e, ' ', 1, true)
    if tonumber(string.sub(e, 1, sp - 1)) < since then break end
    fresh = i
    if string.sub(e, sp + 1) == ARGV[4] then r = r + 1 end
  end
  redis.call('LPUSH', KEYS[4], now .. ' ' .. ARGV[4])
  redis.call('LTRIM', KEYS[4], 0, fresh)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
reply[1], reply[2], reply[3], reply[4] = 1, c, s, r
return reply
"""

_client_lock = threading.Lock()
_script: Any = None


def _admit_script() -> Any:
    """The registered Lua script on one shared client (None without Redis)."""
    global _script
    if not settings.REDIS_URL:
        return None
    with _client_lock:
        if _script is None:
            import redis

            _script = redis.Redis.from_url(settings.REDIS_URL).register_script(_ADMIT_LUA)
        return _script


@dataclass(frozen=True)
class Admission:
    #: False when this clientMessageId was seen before (a retry): nothing was counted
    new: bool
    #: distinct messages with this fingerprint in the repeat window, this one included
    repeats: int = 0
    #: which of the ``presence`` keys given to ``admit`` have a live socket, read in the same
    #: round trip; None when not read (no Redis, the cache failed, a refusal)
    online: frozenset[str] | None = None


def _count(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


def _repeats_cache(key: str, fingerprint: str, window: int, keep: int) -> int:
    """The Lua script's repeat history on Django's cache (embedded mode: one process)."""
    now = int(time.time())
    history = [(at, fp) for at, fp in (cache.get(key) or [])[: keep - 1] if at >= now - window]
    repeats = 1 + sum(1 for _, fp in history if fp == fingerprint)
    cache.set(key, [(now, fingerprint), *history], window)
    return repeats


def _admit_cache(
    keys: list[str], ttls: tuple[int, int, int], fingerprint: str, keep: int
) -> tuple[bool, int, int, int]:
    if not cache.add(keys[0], 1, ttls[0]):
        return False, 0, 0, 0
    c = _count(keys[1], ttls[1])
    s = _count(keys[2], ttls[1])
    r = _repeats_cache(keys[3], fingerprint, ttls[2], keep) if len(keys) > 3 else 0
    return True, c, s, r


def claim_name(*, sender_key: str, conversation_id: int, client_message_id: str) -> str:
    """The cache name of a clientMessageId's claim (``seen``; ids and a digest, no text). It
    lives two windows: a retry after that -- or after Redis lost it -- is counted again."""
    seen = hashlib.sha256(
        f"{conversation_id}:{sender_key}:{client_message_id}".encode()
    ).hexdigest()[:32]
    return f"chat:seen:{seen}"


def admit(
    *,
    sender_key: str,
    conversation_id: int,
    client_message_id: str,
    fingerprint: str = "",
    presence: Sequence[str] = (),
) -> Admission:
    """Count this send against the sender's limits, or raise 429 ``RATE_LIMITED`` with
    ``Retry-After``. A clientMessageId already seen passes without counting. ``presence``:
    audience keys whose liveness the script reads in the same round trip
    (``Admission.online``; on Redis only)."""
    window = max(1, int(settings.MESSAGING_RATE_WINDOW_SECONDS))
    repeat_window = max(1, int(settings.MESSAGING_SPAM_REPEAT_WINDOW_SECONDS))
    now = time.time()
    slot = int(now // window)
    names = [
        claim_name(
            sender_key=sender_key,
            conversation_id=conversation_id,
            client_message_id=client_message_id,
        ),
        f"chat:rl:c:{conversation_id}:{sender_key}:{slot}",
        f"chat:rl:s:{sender_key}:{slot}",
    ]
    if fingerprint:
        names.append(f"chat:rep:{conversation_id}:{sender_key}")
    keys = [cache.make_key(name) for name in names]
    ttls = (window * 2, window + 1, repeat_window)
    keep = max(1, int(settings.MESSAGING_SPAM_REPEAT_HISTORY))
    online: frozenset[str] | None = None
    try:
        script = _admit_script()
        probe = online_probe(presence) if script is not None and presence else None
        if script is not None:
            wanted, presence_keys, now_seen = probe or ([], [], now)
            raw_reply = script(
                [*keys, *presence_keys], [*ttls, fingerprint, keep, len(wanted), now_seen]
            )
            new, in_conversation, overall, repeats = (int(v) for v in raw_reply[:4])
            if probe is not None:
                counts = raw_reply[4:]
                online = frozenset(k for k, n in zip(wanted, counts, strict=True) if int(n) > 0)
        else:
            raw = _admit_cache(names, ttls, fingerprint, keep)
            new, in_conversation, overall, repeats = (int(v) for v in raw)
    except Exception as exc:  # noqa: BLE001 -- the cache must never stop the chat
        emit("METRIC_CHAT_LIMITS_UNAVAILABLE", labels={"error": type(exc).__name__})
        return Admission(new=True)
    if not new:
        return Admission(new=False, online=online)
    per_conversation = settings.MESSAGING_RATE_PER_CONVERSATION
    if in_conversation > per_conversation or overall > settings.MESSAGING_RATE_PER_SENDER:
        # The refused send must be retryable later: forget that this id was seen.
        with contextlib.suppress(Exception):
            cache.delete(names[0])
        retry_after = max(1, math.ceil((slot + 1) * window - now))
        scope = "conversation" if in_conversation > per_conversation else "sender"
        emit("METRIC_CHAT_RATE_LIMITED", labels={"scope": scope})
        raise ChatRateLimited(retry_after=retry_after)
    return Admission(new=True, repeats=repeats, online=online)
