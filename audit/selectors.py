"""Scoped reads of the audit trail (admin, export, verify share these)."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import QuerySet

from audit.models import Event, Seal


def events_for_target(target_type: str, target_id: str | int) -> QuerySet[Event]:
    """Every event of one target, oldest first."""
    return Event.objects.filter(target_type=target_type, target_id=str(target_id)).order_by("id")


def events_for(
    *,
    user_scope_countries: Collection[str] | None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    request_id: str | None = None,
) -> QuerySet[Event]:
    """Events visible to a staff member scoped to ``user_scope_countries`` (None = global
    scope, e.g. a superuser; an empty collection sees nothing), newest first."""
    qs = Event.objects.all()
    if user_scope_countries is not None:
        qs = qs.filter(country_code__in=[c.upper() for c in user_scope_countries])
    if action:
        qs = qs.filter(action=action)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=str(target_id))
    if request_id:
        qs = qs.filter(request_id=request_id)
    return qs.order_by("-id")


def latest_seal() -> Seal | None:
    return Seal.objects.order_by("-last_id").first()


def seal_covering(event_id: int) -> Seal | None:
    """The seal whose id range contains ``event_id`` (None when not sealed yet)."""
    return Seal.objects.filter(first_id__lte=event_id, last_id__gte=event_id).first()
