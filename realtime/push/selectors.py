"""Reads of Web Push subscriptions (API, ``manage.py push check``)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from aventide.core.principal import Principal
from realtime.push.models import PushSubscription
from realtime.push.services import principal_key


def subscriptions_of(actor: Principal) -> QuerySet[PushSubscription]:
    """``actor``'s own subscriptions, newest first."""
    return PushSubscription.objects.filter(principal_key=principal_key(actor)).order_by(
        "-created_at", "-pk"
    )


def subscription_counts_by_country() -> dict[str, int]:
    """Subscriptions per country ("--" for none recorded)."""
    rows = PushSubscription.objects.values("country_code").annotate(n=Count("pk"))
    return {row["country_code"] or "--": int(row["n"]) for row in rows.order_by("country_code")}
