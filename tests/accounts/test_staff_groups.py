"""Staff group membership follows the level; the groups and grants survive a flush."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from aventide.accounts import services, staff_groups
from aventide.accounts.models import User
from aventide.core.principal import SYSTEM


def _staff(email: str = "agent@t.test") -> User:
    return User.objects.create_user(email=email, password=None, country_code="AR", is_staff=True)


def _groups(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.mark.django_db
def test_staff_profile_set_puts_the_member_in_its_level_group() -> None:
    user = _staff()
    services.staff_profile_set(actor=SYSTEM, user=user, level="L1")
    assert _groups(user) == {"L1 agent"}
    services.staff_profile_set(actor=SYSTEM, user=user, level="L3", is_ops_lead=True)
    assert _groups(user) == {"L3 country ops lead", "Ops lead"}
    services.staff_profile_set(actor=SYSTEM, user=user, level="L2")
    assert _groups(user) == {"L2 agent"}


@pytest.mark.django_db
def test_staff_profile_set_keeps_groups_that_are_not_staff_levels() -> None:
    user = _staff()
    user.groups.add(Group.objects.create(name="Newsletter editors"))
    services.staff_profile_set(actor=SYSTEM, user=user, level="L1")
    assert _groups(user) == {"L1 agent", "Newsletter editors"}


@pytest.mark.django_db
def test_level_groups_hold_each_apps_grants() -> None:
    perms = set(Group.objects.get(name="L1 agent").permissions.values_list("codename", flat=True))
    assert {"view_user", "view_order", "view_listing"} <= perms
    assert "view_transaction" not in perms  # the ledger starts at L2
    l2 = set(Group.objects.get(name="L2 agent").permissions.values_list("codename", flat=True))
    assert "view_transaction" in l2


def test_register_grants_refuses_an_unknown_group() -> None:
    with pytest.raises(ValueError, match="unknown staff groups"):
        staff_groups.register_grants("orders", {"Interns": ("view_order",)})


@pytest.mark.django_db(transaction=True)
def test_ensure_staff_groups_rebuilds_groups_after_a_flush() -> None:
    Group.objects.all().delete()
    for config in apps.get_app_configs():
        staff_groups.ensure_staff_groups(sender=config)
    assert set(Group.objects.values_list("name", flat=True)) >= set(staff_groups.STAFF_GROUPS)
    # Every grant every app registered is back (accounts, orders, ledger, ...).
    checked = 0
    for app_label, grants in staff_groups._GRANTS.items():
        for group_name, codenames in grants.items():
            held = set(
                Group.objects.get(name=group_name)
                .permissions.filter(content_type__app_label=app_label)
                .values_list("codename", flat=True)
            )
            assert set(codenames) <= held, (app_label, group_name, set(codenames) - held)
            checked += len(codenames)
    assert {"accounts", "orders"} <= set(staff_groups._GRANTS) and checked > 10
    l3 = Group.objects.get(name="L3 country ops lead")
    assert l3.permissions.filter(codename="view_order").exists()
