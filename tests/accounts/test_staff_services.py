"""Staff profiles and country scopes: managed by ops leads in their countries, audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from audit.models import Event
from aventide.accounts import services
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.models import StaffCountryScope, StaffProfile
from aventide.core.errors import ValidationFailed
from aventide.core.principal import SYSTEM
from tests.accounts.factories import make_staff, make_user, principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return make_staff(level="L3", countries=("AR", "MX"), ops_lead=True)


def test_ops_lead_creates_and_changes_a_profile_in_scope(lead) -> None:
    user = make_user(country_code="MX", is_staff=True)
    profile = services.staff_profile_set(actor=principal(lead), user=user, level="L1")
    assert (profile.level, profile.is_ops_lead) == ("L1", False)
    services.staff_profile_set(actor=principal(lead), user=user, level="L2")
    profile.refresh_from_db()
    assert profile.level == "L2"
    events = Event.objects.filter(action__startswith="staff_profile.", target_id=str(user.pk))
    created, changed = events.order_by("id")
    assert created.action == "staff_profile.created" and created.actor_id == str(lead.pk)
    assert changed.action == "staff_profile.changed"
    assert changed.data["before"] == {"level": "L1", "isOpsLead": False}
    assert changed.country_code == "MX"
    # idempotent
    services.staff_profile_set(actor=principal(lead), user=user, level="L2")
    assert events.count() == 2


def test_ops_lead_cannot_manage_staff_of_other_countries(lead) -> None:
    user = make_user(country_code="BR", is_staff=True)
    with pytest.raises(ScopeViolation):
        services.staff_profile_set(actor=principal(lead), user=user, level="L1")
    assert not StaffProfile.objects.filter(user=user).exists()
    assert Event.objects.filter(action="scope.violation").count() == 1


def test_only_superusers_grant_the_ops_lead_flag(lead) -> None:
    user = make_user(country_code="AR", is_staff=True)
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=principal(lead), user=user, level="L3", is_ops_lead=True)
    root = make_staff(level=None, superuser=True)
    assert services.staff_profile_set(
        actor=principal(root), user=user, level="L3", is_ops_lead=True
    ).is_ops_lead


def test_nobody_changes_their_own_profile(lead) -> None:
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=principal(lead), user=lead, level="L3", is_ops_lead=True)


def test_non_leads_cannot_manage_staff() -> None:
    l3 = make_staff(level="L3", countries=("AR",))
    user = make_user(country_code="AR", is_staff=True)
    with pytest.raises(StaffLevelRequired):
        services.staff_profile_set(actor=principal(l3), user=user, level="L1")


def test_profile_needs_a_staff_user_and_a_valid_level(lead) -> None:
    with pytest.raises(ValidationFailed):
        services.staff_profile_set(
            actor=principal(lead), user=make_user(country_code="AR"), level="L1"
        )
    with pytest.raises(ValidationFailed):
        services.staff_profile_set(
            actor=principal(lead), user=make_user(country_code="AR", is_staff=True), level="L7"
        )


def test_scope_grant_and_revoke_are_audited_and_idempotent(lead) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    profile = staff.staff_profile
    services.staff_scope_grant(actor=principal(lead), staff=profile, country_code="mx")
    services.staff_scope_grant(actor=principal(lead), staff=profile, country_code="MX")
    assert set(profile.scopes.values_list("country_code", flat=True)) == {"AR", "MX"}
    granted = Event.objects.filter(action="staff_scope.granted", actor_id=str(lead.pk))
    assert granted.count() == 1 and granted.get().country_code == "MX"
    assert (
        services.staff_scope_revoke(actor=principal(lead), staff=profile, country_code="AR") is True
    )
    assert (
        services.staff_scope_revoke(actor=principal(lead), staff=profile, country_code="AR")
        is False
    )
    assert Event.objects.filter(action="staff_scope.revoked").count() == 1


def test_lead_cannot_grant_a_country_outside_its_scope(lead) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    with pytest.raises(ScopeViolation):
        services.staff_scope_grant(
            actor=principal(lead), staff=staff.staff_profile, country_code="BR"
        )
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
    services.user_save_by_staff(
        actor=principal(lead), user=user, changed_fields=["is_active"], created=False
    )
    event = Event.objects.get(action="user.changed_by_staff")
    assert event.data == {"fields": ["is_active"]}
    revoked = Event.objects.get(action="auth.refresh_family.revoked")
    assert revoked.target_id == str(pair.family_id) and revoked.data["reason"] == "deactivated"


def test_user_save_by_staff_refuses_other_countries_and_flags(lead) -> None:
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=principal(lead),
            user=make_user(country_code="BR"),
            changed_fields=["full_name"],
            created=False,
        )
    l2 = make_staff(level="L2", countries=("AR",))
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=principal(l2),
            user=make_user(country_code="AR"),
            changed_fields=["is_staff"],
            created=False,
        )
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=principal(lead),
            user=make_user(country_code="AR"),
            changed_fields=["is_superuser"],
            created=False,
        )


# --- protected accounts (review finding 1), groups (finding 3) -------------------------------


def _change_email(actor, user, email: str = "taken.over@example.test"):
    user.email = email
    return services.user_save_by_staff(
        actor=principal(actor), user=user, changed_fields=["email"], created=False
    )


@pytest.mark.parametrize(
    ("target_kind", "reason"),
    [
        ("superuser", "superuser"),
        ("ops_lead", "ops_lead"),
        ("l3_peer", "staff_level"),
        ("self", "ops_lead"),
    ],
)
def test_ops_lead_cannot_change_protected_accounts(lead, target_kind, reason) -> None:
    from aventide.accounts.errors import ProtectedAccount
    from aventide.accounts.models import User

    target = {
        "superuser": lambda: make_staff(
            level=None, countries=(), superuser=True, country_code="AR"
        ),
        "ops_lead": lambda: make_staff(level="L3", countries=("AR",), ops_lead=True),
        "l3_peer": lambda: make_staff(level="L3", countries=("AR",)),
        "self": lambda: lead,
    }[target_kind]()
    before = User.objects.get(pk=target.pk).email
    with pytest.raises(ProtectedAccount) as err:
        _change_email(lead, User.objects.get(pk=target.pk))
    assert err.value.code == "PROTECTED_ACCOUNT" and err.value.status == 403
    assert User.objects.get(pk=target.pk).email == before
    event = Event.objects.get(action="user.change_refused")
    assert (event.target_id, event.actor_id) == (str(target.pk), str(lead.pk))
    assert event.data == {"reason": reason}
    assert not Event.objects.filter(action="user.changed_by_staff").exists()


def test_protection_follows_the_stored_account_not_the_edited_copy(lead) -> None:
    """Clearing is_staff/is_superuser on the in-memory copy does not lift the protection."""
    from aventide.accounts.errors import ProtectedAccount

    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    root.is_superuser = False
    root.is_staff = False
    with pytest.raises(ProtectedAccount):
        services.user_save_by_staff(
            actor=principal(lead), user=root, changed_fields=["is_staff"], created=False
        )
    root.refresh_from_db()
    assert root.is_superuser and root.is_staff


def test_a_lower_level_staff_member_cannot_change_a_peer() -> None:
    from aventide.accounts.errors import ProtectedAccount

    l2 = make_staff(level="L2", countries=("AR",))
    peer = make_staff(level="L2", countries=("AR",))
    l3 = make_staff(level="L3", countries=("AR",))
    for target in (peer, l3, l2):  # a peer, a superior, themselves
        with pytest.raises(ProtectedAccount):
            _change_email(l2, target)
    reasons = Event.objects.filter(action="user.change_refused").values_list("data", flat=True)
    assert list(reasons) == [{"reason": "staff_level"}] * 3


def test_ops_lead_changes_lower_staff_and_superuser_changes_anyone(lead) -> None:
    agent = make_staff(level="L2", countries=("AR",))
    _change_email(lead, agent, "agent.renamed@example.test")
    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    other_lead = make_staff(level="L3", countries=("AR",), ops_lead=True)
    _change_email(root, other_lead, "lead.renamed@example.test")
    assert {agent.email, other_lead.email} == {
        "agent.renamed@example.test",
        "lead.renamed@example.test",
    }
    assert not Event.objects.filter(action="user.change_refused").exists()


def test_email_change_unlinks_google_and_revokes_every_session(lead, api_client) -> None:
    from aventide.accounts.models import User

    user = make_user(country_code="AR")
    User.objects.filter(pk=user.pk).update(google_sub="google-sub-1")
    pair = services.session_start(user=user, method="google")
    user = User.objects.get(pk=user.pk)
    _change_email(lead, user, "New.Address@Example.test")
    user.refresh_from_db()
    assert user.email == "new.address@example.test" and user.google_sub is None
    revoked = Event.objects.get(action="auth.refresh_family.revoked")
    assert revoked.target_id == str(pair.family_id) and revoked.data["reason"] == "email_changed"
    changed = Event.objects.get(action="user.changed_by_staff")
    assert changed.data == {"fields": ["email"], "googleUnlinked": True}
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    assert me.status_code == 401 and me.json()["code"] == "TOKEN_INVALID"


def test_email_change_to_a_taken_email_is_refused(lead) -> None:
    from aventide.accounts.errors import EmailTaken

    make_user(email="owner@example.test", country_code="AR")
    user = make_user(country_code="AR")
    with pytest.raises(EmailTaken):
        _change_email(lead, user, "OWNER@example.test")


def test_moving_a_user_in_from_another_country_is_refused(lead) -> None:
    user = make_user(country_code="BR")
    user.country_code = "AR"
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=principal(lead), user=user, changed_fields=["country_code"], created=False
        )
    user.refresh_from_db()
    assert user.country_code == "BR"


@pytest.mark.parametrize("field", ["groups", "user_permissions"])
def test_only_superusers_change_groups_and_permissions(lead, field) -> None:
    agent = make_staff(level="L1", countries=("AR",))
    with pytest.raises(StaffLevelRequired):
        services.user_save_by_staff(
            actor=principal(lead), user=agent, changed_fields=[field], created=False
        )
    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    services.user_save_by_staff(
        actor=principal(root), user=agent, changed_fields=[field], created=False
    )
