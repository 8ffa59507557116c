"""Staff groups: the Django model permissions that open admin pages, per staff level.

Groups only say which kinds of object a level may view/change in the admin; which ROWS is
ScopeGuard's call, and which operations is each service's. Every app declares its grants
with ``register_grants`` at ``AppConfig.ready()``; ``ensure_staff_groups`` (post_migrate,
after Django created that app's permissions) creates the groups and adds the grants, so a new
permission reaches the groups on the next ``migrate`` and a flushed database gets them back.
``sync_membership`` keeps a staff member's groups equal to their level (+ ops lead flag).
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.models import Group, Permission

from aventide.accounts.models import User

L1_GROUP = "L1 agent"
L2_GROUP = "L2 agent"
L3_GROUP = "L3 country ops lead"
OPS_LEAD_GROUP = "Ops lead"


class StaffGroup:
    """The staff group names, for other apps' ``register_grants`` calls."""

    L1 = L1_GROUP
    L2 = L2_GROUP
    L3 = L3_GROUP
    OPS_LEAD = OPS_LEAD_GROUP


GROUP_BY_LEVEL = {"L1": L1_GROUP, "L2": L2_GROUP, "L3": L3_GROUP}
STAFF_GROUPS = (L1_GROUP, L2_GROUP, L3_GROUP, OPS_LEAD_GROUP)

_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {}


def register_grants(app_label: str, grants: dict[str, tuple[str, ...] | list[str]]) -> None:
    """Declare, for one app, the permission codenames each staff group gets."""
    unknown = set(grants) - set(STAFF_GROUPS)
    if unknown:
        raise ValueError(f"unknown staff groups: {sorted(unknown)}")
    _GRANTS[app_label] = {group: tuple(codenames) for group, codenames in grants.items()}


def ensure_staff_groups(sender: AppConfig, using: str = "default", **_: Any) -> None:
    """post_migrate receiver: the staff groups exist and hold ``sender``'s grants."""
    groups = {name: Group.objects.using(using).get_or_create(name=name)[0] for name in STAFF_GROUPS}
    for group_name, codenames in _GRANTS.get(sender.label, {}).items():
        perms = Permission.objects.using(using).filter(
            content_type__app_label=sender.label, codename__in=codenames
        )
        groups[group_name].permissions.add(*perms)


def sync_membership(user: User, *, level: str | None, is_ops_lead: bool) -> None:
    """Make the user's staff groups match the level and ops-lead flag (other groups kept)."""
    wanted = set()
    if level in GROUP_BY_LEVEL:
        wanted.add(GROUP_BY_LEVEL[level])
        if is_ops_lead:
            wanted.add(OPS_LEAD_GROUP)
    current = set(user.groups.filter(name__in=STAFF_GROUPS).values_list("name", flat=True))
    if current == wanted:
        return
    user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in wanted - current])
