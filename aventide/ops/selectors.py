"""Reads of ops alerts (the ``ops alerts`` command; the admin reads the same rows).

Alerts are global -- they describe the platform, carry no personal data and no order -- so
these reads take no country scope; who may see them is decided at the entry point (the admin
shows them to ops leads, L3 and superusers; the command runs as the system).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, Q, QuerySet, Value, When

from aventide.ops.alerts import AlertRule, registered_alert_rules
from aventide.ops.models import OPEN_STATES, Alert, AlertState


def alerts_open_or_recent(*, resolved_since: datetime, limit: int = 200) -> QuerySet[Alert]:
    """Open alerts (pending, firing) and those resolved since ``resolved_since``, firing first,
    then newest first."""
    return (
        Alert.objects.filter(Q(state__in=OPEN_STATES) | Q(resolved_at__gte=resolved_since))
        .annotate(
            _rank=Case(
                When(state=AlertState.FIRING, then=Value(0)),
                When(state=AlertState.PENDING, then=Value(1)),
                default=Value(2),
            )
        )
        .order_by("_rank", "-started_at", "-id")[:limit]
    )


def alert_rules() -> list[AlertRule]:
    """The registered rules, by name."""
    return [rule for _, rule in sorted(registered_alert_rules().items())]
