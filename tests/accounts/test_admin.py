"""Staff console: staff-only login with lockout, scoped admins, audit attribution."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from audit.models import Event
from aventide.accounts.models import AnonymousIdentity, StaffCountryScope, User
from aventide.core.context import get_principal
from tests.accounts.factories import PASSWORD, issue_anon, make_staff, make_user

pytestmark = pytest.mark.django_db


def _with_group(user: User, *names: str) -> User:
    user.groups.add(*Group.objects.filter(name__in=names))
    return User.objects.get(pk=user.pk)


def _admin_login(client: Client, email: str, password: str = PASSWORD, ip: str = "192.0.2.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password},
        REMOTE_ADDR=ip,
    )


def test_admin_login_is_staff_only() -> None:
    make_user(email="party@example.test")
    staff = make_staff(level="L1", countries=("AR",))
    party_client, staff_client = Client(), Client()
    assert _admin_login(party_client, "party@example.test").status_code == 200  # form again
    assert party_client.get("/admin/").status_code == 302
    assert _admin_login(staff_client, staff.email).status_code == 302
    assert staff_client.get("/admin/").status_code == 200


def test_admin_login_shares_the_lockout() -> None:
    staff = make_staff(level="L1", countries=("AR",))
    client = Client()
    for _ in range(5):
        _admin_login(client, staff.email, "wrong-password-x")
    response = _admin_login(client, staff.email)  # right password, locked pair
    assert response.status_code == 200
    assert b"Too many failed logins" in response.content
    assert client.get("/admin/").status_code == 302
    other = Client()
    assert _admin_login(other, staff.email, ip="192.0.2.99").status_code == 302


def test_user_admin_shows_only_own_countries_and_no_password_hashes() -> None:
    ar = make_user(email="ar.person@example.test", country_code="AR")
    mx = make_user(email="mx.person@example.test", country_code="MX")
    l1 = _with_group(make_staff(level="L1", countries=("AR",)), "L1 agent")
    client = Client()
    client.force_login(l1)
    page = client.get("/admin/accounts/user/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ar.person@example.test" in html and "mx.person@example.test" not in html
    detail = client.get(f"/admin/accounts/user/{ar.pk}/change/")
    assert detail.status_code == 200
    assert ar.password not in detail.content.decode() and "md5$" not in detail.content.decode()
    hidden = client.get(f"/admin/accounts/user/{mx.pk}/change/")
    assert hidden.status_code == 302  # "does not exist" redirect, nothing of the MX user shown
    assert "mx.person" not in client.get(hidden["Location"]).content.decode()
    search = client.get("/admin/accounts/user/?q=mx.person")
    assert "mx.person@example.test" not in search.content.decode()


def test_staff_admins_are_for_ops_leads_only() -> None:
    l3 = _with_group(make_staff(level="L3", countries=("AR",)), "L3 country ops lead", "Ops lead")
    client = Client()
    client.force_login(l3)
    assert client.get("/admin/accounts/staffprofile/").status_code == 403
    assert client.get("/admin/accounts/staffcountryscope/").status_code == 403
    lead = _with_group(make_staff(level="L3", countries=("AR", "MX"), ops_lead=True), "Ops lead")
    client.force_login(lead)
    assert client.get("/admin/accounts/staffprofile/").status_code == 200


def test_ops_lead_grants_a_scope_in_the_admin_and_the_audit_names_them() -> None:
    lead = _with_group(make_staff(level="L3", countries=("AR", "MX"), ops_lead=True), "Ops lead")
    agent = make_staff(level="L1", countries=("AR",))
    br_agent = make_staff(level="L1", countries=("BR",))
    client = Client()
    client.force_login(lead)
    form = client.get("/admin/accounts/staffcountryscope/add/").content.decode()
    assert 'value="BR"' not in form and 'value="MX"' in form  # country choices are scoped
    found = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "staffcountryscope", "field_name": "staff"},
    ).json()["results"]
    ids = {item["id"] for item in found}
    assert str(agent.staff_profile.pk) in ids
    assert str(br_agent.staff_profile.pk) not in ids  # FK choices are scoped
    response = client.post(
        "/admin/accounts/staffcountryscope/add/",
        {"staff": agent.staff_profile.pk, "country_code": "MX"},
        HTTP_X_REQUEST_ID="admin-grant-1",
    )
    assert response.status_code == 302
    assert StaffCountryScope.objects.filter(staff=agent.staff_profile, country_code="MX").exists()
    event = Event.objects.get(action="staff_scope.granted", actor_id=str(lead.pk))
    assert (event.actor_type, event.actor_level) == ("staff", "L3")
    assert event.request_id == "admin-grant-1"
    tampered = client.post(
        "/admin/accounts/staffcountryscope/add/",
        {"staff": br_agent.staff_profile.pk, "country_code": "MX"},
    )
    assert tampered.status_code == 200  # form error: not a valid choice
    assert "staff" in tampered.context["adminform"].form.errors
    assert (
        not StaffCountryScope.objects.filter(staff=br_agent.staff_profile)
        .exclude(country_code="BR")
        .exists()
    )


def test_ops_lead_changes_a_level_through_the_admin() -> None:
    lead = _with_group(make_staff(level="L3", countries=("AR",), ops_lead=True), "Ops lead")
    agent = make_staff(level="L1", countries=("AR",))
    client = Client()
    client.force_login(lead)
    response = client.post(
        f"/admin/accounts/staffprofile/{agent.staff_profile.pk}/change/",
        {"level": "L2"},
    )
    assert response.status_code == 302
    agent.staff_profile.refresh_from_db()
    assert agent.staff_profile.level == "L2" and not agent.staff_profile.is_ops_lead
    assert Event.objects.filter(action="staff_profile.changed", actor_id=str(lead.pk)).exists()


def test_admin_revoke_action_calls_the_service() -> None:
    l2 = _with_group(make_staff(level="L2", countries=("AR",)), "L2 agent")
    identity = issue_anon(order_id=3, country_code="AR")
    client = Client()
    client.force_login(l2)
    listing = client.get("/admin/accounts/anonymousidentity/").content.decode()
    assert str(identity.anon_id) in listing and identity.signature not in listing
    response = client.post(
        "/admin/accounts/anonymousidentity/",
        {"action": "revoke_selected", "_selected_action": [AnonymousIdentity.objects.get().pk]},
    )
    assert response.status_code == 302
    assert AnonymousIdentity.objects.get().revoked_at is not None
    event = Event.objects.get(action="anonymous_identity.revoked")
    assert (event.actor_type, event.actor_id) == ("staff", str(l2.pk))


def test_session_actor_does_not_leak_past_the_request() -> None:
    staff = make_staff(level="L1", countries=("AR",))
    client = Client()
    client.force_login(staff)
    client.get("/admin/")
    assert get_principal() is None


def test_ops_lead_creates_a_user_in_the_admin() -> None:
    lead = _with_group(make_staff(level="L3", countries=("AR",), ops_lead=True), "Ops lead")
    client = Client()
    client.force_login(lead)
    form = client.get("/admin/accounts/user/add/").content.decode()
    assert 'value="AR"' in form and 'value="MX"' not in form
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Agent@Example.test",
            "full_name": "New Agent",
            "country_code": "AR",
            "is_staff": "on",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    created = User.objects.get(email="new.agent@example.test")
    assert created.is_staff and created.check_password(PASSWORD)
    event = Event.objects.get(action="user.created_by_staff")
    assert event.actor_id == str(lead.pk)
    assert event.data["fields"] == sorted(
        ["email", "full_name", "country_code", "is_staff", "password"]
    )
    assert "new.agent" not in str(event.data)
    other_country = client.post(
        "/admin/accounts/user/add/",
        {"email": "mx@example.test", "country_code": "MX", "password1": "x", "password2": "x"},
    )
    assert other_country.status_code == 200
    assert not User.objects.filter(email="mx@example.test").exists()


# --- review findings 1, 3 and 7 --------------------------------------------------------------


def _user_change_post(client: Client, user: User, **overrides: object):
    data: dict[str, object] = {
        "email": user.email,
        "full_name": user.full_name,
        "country_code": user.country_code,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        **overrides,
    }
    return client.post(
        f"/admin/accounts/user/{user.pk}/change/", {k: v for k, v in data.items() if v}
    )


def test_ops_lead_cannot_take_over_a_superuser_in_the_admin(api_client) -> None:
    """The reviewed attack: an ops lead rewrites a superuser's email to one they control and
    then signs in with Google as that email. The change is refused (and audited)."""
    lead = _with_group(make_staff(level="L3", countries=("AR",), ops_lead=True), "Ops lead")
    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    client = Client()
    client.force_login(lead)
    page = client.get(f"/admin/accounts/user/{root.pk}/change/")
    assert page.status_code == 200  # visible (same country), but view only
    assert 'name="_save"' not in page.content.decode()
    response = _user_change_post(client, root, email="attacker@gmail.com", is_staff="")
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.email != "attacker@gmail.com" and root.is_staff and root.is_superuser
    # the refusal's audit row survives the admin's own transaction
    event = Event.objects.get(action="user.change_refused")
    assert (event.actor_id, event.target_id) == (str(lead.pk), str(root.pk))
    assert event.data == {"reason": "superuser"}
    assert not Event.objects.filter(action="user.changed_by_staff").exists()


def test_ops_lead_still_edits_an_agent_but_cannot_hand_out_groups() -> None:
    lead = _with_group(make_staff(level="L3", countries=("AR",), ops_lead=True), "Ops lead")
    agent = make_staff(level="L1", countries=("AR",))
    ops_lead_group = Group.objects.get(name="Ops lead")
    client = Client()
    client.force_login(lead)
    form = client.get(f"/admin/accounts/user/{agent.pk}/change/").content.decode()
    assert 'name="groups"' not in form  # read-only for everyone but superusers
    response = _user_change_post(
        client, agent, full_name="Renamed Agent", groups=[ops_lead_group.pk]
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.full_name == "Renamed Agent"
    assert set(agent.groups.values_list("name", flat=True)) == {"L1 agent"}
    event = Event.objects.get(action="user.changed_by_staff")
    assert event.data == {"fields": ["full_name"]}


def test_superuser_can_still_edit_groups_in_the_admin() -> None:
    root = make_staff(level=None, countries=(), superuser=True, country_code="AR")
    agent = make_staff(level="L1", countries=("AR",))
    extra = Group.objects.create(name="Newsletter editors")
    client = Client()
    client.force_login(root)
    response = _user_change_post(
        client, agent, groups=[extra.pk, Group.objects.get(name="L1 agent").pk]
    )
    assert response.status_code == 302
    assert set(agent.groups.values_list("name", flat=True)) == {"L1 agent", "Newsletter editors"}


def test_admin_user_creation_enforces_the_password_policy() -> None:
    lead = _with_group(make_staff(level="L3", countries=("AR",), ops_lead=True), "Ops lead")
    client = Client()
    client.force_login(lead)
    for weak in ("12345678", "new.agent2", "short"):
        response = client.post(
            "/admin/accounts/user/add/",
            {
                "email": "new.agent2@example.test",
                "full_name": "New Agent",
                "country_code": "AR",
                "is_staff": "on",
                "password1": weak,
                "password2": weak,
            },
        )
        assert response.status_code == 200, weak
        assert "password1" in response.context["adminform"].form.errors, weak
    assert not User.objects.filter(email="new.agent2@example.test").exists()
    assert not Event.objects.filter(action="user.created_by_staff").exists()
