"""Web Push gauges: ``aventide_push_enabled`` (1 while push is on in this process).

Counters are metric events (``aventide_events_total{name=...}``): ``METRIC_PUSH_ENQUEUED
{kind}``, ``METRIC_PUSH_SKIPPED{reason}``, ``METRIC_PUSH_SENT{country}``,
``METRIC_PUSH_FAILED{class,code}`` (class: gone, too_large, refused, auth, unavailable,
expired, disabled) and ``METRIC_PUSH_SUBSCRIPTION_REMOVED{reason}``.
"""

from __future__ import annotations

from prometheus_client import Gauge

from aventide.core.metrics import REGISTRY

ENABLED = Gauge(
    "aventide_push_enabled",
    "1 while Web Push is switched on (ENABLE_PUSH_NOTIFICATIONS and VAPID keys), else 0.",
    registry=REGISTRY,
    multiprocess_mode="livemin",
)


def report_flag_state() -> None:
    from realtime.push.services import push_enabled

    ENABLED.set(1 if push_enabled() else 0)
