"""Staff profiles and country scopes: managed by ops leads in their countries, audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from audit.models import Event
from aventide.accounts import services
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.models import StaffCountryScope, StaffProfile
from aventide.core.errors import ValidationFailed
from tests.accounts.factories import SYSTEM, make_staff, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return make_staff(level="L3", countries=("AR", "MX"), ops_lead=True)


def test_ops_lead_creates_and_changes_a_profile_in_scope(lead) -> None:
    user = make_user(country_code="MX", is_staff=True)
    profile = services.staff_profile_set(actor=lead, user=user, level="L1")
    assert (profile.level, profile.is_ops_lead) == ("L1", False)
    services.staff_profile_set(actor=lead, user=user, level="L2")
    profile.refresh_from_db()
    assert profile.level == "L2"
    events = Event.objects.filter(action__startswith="staff_profile.", target_id=str(user.pk))
    created, changed = events.order_by("id")
    assert created.action == "staff_profile.created" and created.actor_id == str(lead.pk)
    assert changed.action == "staff_profile.changed"
    assert changed.data["before"] == {"level": "L1", "isOpsLead": False}
    assert changed.country_code == "MX"
    # idempotent
    services.staff_profile_set(actor=lead, user=user, level="L2")
    assert events.count() == 2


def test_ops_lead_cannot_manage_staff_of_other_countries(lead) -> None:
    user = make_user(country_code="BR", is_staff=True)
    with pytest.raises(ScopeViolation):
        services.staff_profile_set(actor=lead, user=user, level="L1")
    assert not StaffProfile.objects.filter(user=user).exists()
    assert Event.objects.filter(action="scope.violation").count() == 1


def test_only_superusers_grant_the_ops_lead_flag(lead) -> None:
    user = make_user(country_code="AR", is_staff=True)
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=lead, user=user, level="L3", is_ops_lead=True)
    root = make_staff(level=None, superuser=True)
    assert services.staff_profile_set(
        actor=root, user=user, level="L3", is_ops_lead=True
    ).is_ops_lead


def test_nobody_changes_their_own_profile(lead) -> None:
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=lead, user=lead, level="L3", is_ops_lead=True)


def test_non_leads_cannot_manage_staff() -> None:
    l3 = make_staff(level="L3", countries=("AR",))
    user = make_user(country_code="AR", is_staff=True)
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=l3, user=user, level="L1")


def test_profile_needs_a_staff_user_and_a_valid_level(lead) -> None:
    with pytest.raises(ValidationFailed):
        services.staff_profile_set(actor=lead, user=make_user(country_code="AR"), level="L1")
    with pytest.raises(ValidationFailed):
        services.staff_profile_set(
            actor=lead, user=make_user(country_code="AR", is_staff=True), level="L7"
        )


def test_scope_grant_and_revoke_are_audited_and_idempotent(lead) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    profile = staff.staff_profile
    services.staff_scope_grant(actor=lead, staff=profile, country_code="mx")
    services.staff_scope_grant(actor=lead, staff=profile, country_code="MX")
    assert set(profile.scopes.values_list("country_code", flat=True)) == {"AR", "MX"}
    granted = Event.objects.filter(action="staff_scope.granted", actor_id=str(lead.pk))
    assert granted.count() == 1 and granted.get().country_code == "MX"
    assert services.staff_scope_revoke(actor=lead, staff=profile, country_code="AR") is True
    assert services.staff_scope_revoke(actor=lead, staff=profile, country_code="AR") is False
    assert Event.objects.filter(action="staff_scope.revoked").count() == 1


def test_lead_cannot_grant_a_country_outside_its_scope(lead) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    with pytest.raises(ScopeViolation):
        services.staff_scope_grant(actor=lead, staff=staff.staff_profile, country_code="BR")
    assert not StaffCountryScope.objects.filter(country_code="BR").exists()


def test_unknown_country_cannot_be_granted() -> None:
    staff = make_staff(level="L1", countries=())
    with pytest.raises(ValidationFailed):
        services.staff_scope_grant(actor=SYSTEM, staff=staff.staff_profile, country_code="ZZ")


def test_staff_groups_exist_with_permissions() -> None:
    groups = {g.name: g for g in Group.objects.prefetch_related("permissions")}
    assert {"L1 agent", "L2 agent", "L3 country ops lead", "Ops lead"} <= set(groups)
    perms = {name: {p.codename for p in g.permissions.all()} for name, g in groups.items()}
    assert "view_user" in perms["L1 agent"] and "change_user" not in perms["L1 agent"]
    assert "change_anonymousidentity" in perms["L2 agent"]
    assert {"add_staffcountryscope", "change_staffprofile", "change_user"} <= perms["Ops lead"]
    assert "delete_user" not in perms["Ops lead"]


def test_user_save_by_staff_deactivation_revokes_sessions(lead) -> None:
    user = make_user(country_code="AR")
    pair = services.session_start(user=user, method="password")
    user.is_active = False
    services.user_save_by_staff(actor=lead, user=user, changed_fields=["is_active"], created=False)
    event = Event.objects.get(action="user.changed_by_staff")
    assert event.data == {"fields": ["is_active"]}
    revoked = Event.objects.get(action="auth.refresh_family.revoked")
    assert revoked.target_id == str(pair.family_id) and revoked.data["reason"] == "deactivated"


def test_user_save_by_staff_refuses_other_countries_and_flags(lead) -> None:
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=lead,
            user=make_user(country_code="BR"),
            changed_fields=["full_name"],
            created=False,
        )
    l2 = make_staff(level="L2", countries=("AR",))
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=l2, user=make_user(country_code="AR"), changed_fields=["is_staff"], created=False
        )
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=lead,
            user=make_user(country_code="AR"),
            changed_fields=["is_superuser"],
            created=False,
        )
