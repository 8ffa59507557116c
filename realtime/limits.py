"""Per-connection limits the WebSocket consumer enforces itself, whatever server runs it.

- frame size: ``REALTIME_WS_MAX_FRAME_BYTES`` (16 KiB: a chat ``send`` of
  2,000 characters fits) -> error ``FRAME_TOO_LARGE``, close 1009;
- client frames per second: ``REALTIME_WS_MAX_FRAMES_PER_SECOND`` (10/s on average, bursts of
  ``REALTIME_WS_FRAME_BURST`` = 40) -> error ``RATE_LIMITED``, close 4429;
- open subscriptions: ``REALTIME_WS_MAX_SUBSCRIPTIONS`` (50) -> error
  ``TOO_MANY_SUBSCRIPTIONS`` (the socket stays open);
- time to authenticate: ``REALTIME_WS_AUTH_TIMEOUT_SECONDS`` (10 s) -> error
  ``AUTH_REQUIRED``, close 4401;
- silence: ``REALTIME_WS_IDLE_TIMEOUT_SECONDS`` (90 s without a client frame) -> close 4408.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(slots=True)
class FrameBucket:
    """A token bucket: ``rate`` frames per second on average, ``burst`` at once."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    @classmethod
    def from_settings(cls) -> FrameBucket:
        return cls(
            rate=float(settings.REALTIME_WS_MAX_FRAMES_PER_SECOND),
            burst=float(settings.REALTIME_WS_FRAME_BURST),
        )

    def take(self, now: float | None = None) -> bool:
        """Spend one token; False when the bucket is empty (the frame is over the limit)."""
        current = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (current - self.stamp) * self.rate)
        self.stamp = current
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def frame_too_large(text: str) -> bool:
    """More than ``REALTIME_WS_MAX_FRAME_BYTES`` of UTF-8 (cheap for the usual short frame)."""
    limit = int(settings.REALTIME_WS_MAX_FRAME_BYTES)
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit
