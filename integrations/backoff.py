"""Retry policy: capped exponential backoff with full jitter, per kind, from settings.

For attempt ``n`` (1 = the first call that failed) the delay is drawn uniformly from
``[0, min(cap, base * 2 ** (n - 1))]`` ("full jitter": concurrent retries spread out instead
of hammering a recovering provider together). A 429's ``Retry-After`` is honoured: the delay
is never shorter than it (bounded by ``INTEGRATIONS_RETRY_AFTER_MAX_SECONDS``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.conf import settings

_rng = random.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    base: float
    cap: float
    max_attempts: int

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay after failed attempt ``attempt`` (>= 1)."""
        exponent = min(max(attempt, 1) - 1, 62)  # 2**62 already exceeds any cap
        return float(min(self.cap, self.base * (2**exponent)))


def policy_for(kind: str) -> RetryPolicy:
    """The kind's policy (``INTEGRATIONS_RETRY_POLICY[kind]`` over its ``default``)."""
    table: dict[str, dict[str, float]] = settings.INTEGRATIONS_RETRY_POLICY
    merged = {**table.get("default", {}), **table.get(kind, {})}
    return RetryPolicy(
        base=float(merged.get("base", 2.0)),
        cap=float(merged.get("cap", 300.0)),
        max_attempts=int(merged.get("max_attempts", 8)),
    )


def delay_for(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the attempt after ``attempt`` (full jitter, Retry-After)."""
    delay = (rng or _rng).uniform(0.0, policy.ceiling(attempt))
    if retry_after is not None and retry_after > 0:
        limit = float(settings.INTEGRATIONS_RETRY_AFTER_MAX_SECONDS)
        delay = max(delay, min(float(retry_after), limit))
    return delay
