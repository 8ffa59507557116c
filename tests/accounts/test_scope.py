"""ScopeGuard: levels, countries, check (audited refusal), require_level, filter."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from audit.models import Event
from aventide.accounts.contracts import AnonymousActor, actor_for
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.models import AnonymousIdentity, User
from aventide.accounts.scope import ScopeGuard, countries_of, is_ops_lead, staff_level
from aventide.core.context import Actor
from tests.accounts.factories import issue_anon, make_staff, make_user

pytestmark = pytest.mark.django_db


def test_levels_and_countries_of_each_kind_of_user() -> None:
    l1 = make_staff(level="L1", countries=("AR",))
    lead = make_staff(level="L3", countries=("AR", "MX"), ops_lead=True)
    unscoped = make_staff(level="L2", countries=())
    no_profile = make_staff(level=None)
    party = make_user()
    root = make_staff(level=None, superuser=True)
    assert (staff_level(l1), countries_of(l1), is_ops_lead(l1)) == ("L1", frozenset({"AR"}), False)
    assert (staff_level(lead), countries_of(lead), is_ops_lead(lead)) == (
        "L3",
        frozenset({"AR", "MX"}),
        True,
    )
    assert countries_of(unscoped) == frozenset() and staff_level(unscoped) == "L2"
    assert staff_level(no_profile) is None and countries_of(no_profile) == frozenset()
    assert staff_level(party) is None and countries_of(party) == frozenset()
    assert countries_of(root) == frozenset({"AR", "MX", "BR"}) and is_ops_lead(root)
    anon = AnonymousActor(anon_id=uuid.uuid4(), order_id=1, role="recipient", country_code="AR")
    assert staff_level(anon) is None and countries_of(anon) == frozenset()


def test_inactive_or_demoted_staff_have_no_scope() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    User.objects.filter(pk=staff.pk).update(is_staff=False)
    assert countries_of(User.objects.get(pk=staff.pk)) == frozenset()
    User.objects.filter(pk=staff.pk).update(is_staff=True, is_active=False)
    assert countries_of(User.objects.get(pk=staff.pk)) == frozenset()


def test_check_passes_in_scope_and_refuses_outside_with_an_audit_event() -> None:
    l1 = make_staff(level="L1", countries=("AR",))
    ScopeGuard.check(l1, "ar", action="order.view")
    assert not Event.objects.filter(action="scope.violation").exists()
    with pytest.raises(ScopeViolation) as err:
        ScopeGuard.check(l1, "MX", action="order.view", target="order:12")
    assert err.value.status == 403 and err.value.code == "SCOPE_VIOLATION"
    event = Event.objects.get(action="scope.violation")
    assert (event.actor_type, event.actor_id, event.actor_level) == ("staff", str(l1.pk), "L1")
    assert (event.target_type, event.target_id) == ("order", "12")
    assert event.country_code == "MX"
    assert event.data == {"attempted": "order.view", "countryCode": "MX", "actorCountries": ["AR"]}


def test_no_scope_and_non_staff_are_refused_everywhere() -> None:
    for user in (make_staff(level="L3", countries=()), make_user()):
        for country in ("AR", "MX", ""):
            with pytest.raises(ScopeViolation):
                ScopeGuard.check(user, country, action="incident.work")


def test_violation_inside_a_callers_transaction_is_logged(json_logs) -> None:
    l1 = make_staff(level="L1", countries=("AR",))
    with pytest.raises(ScopeViolation), transaction.atomic():
        ScopeGuard.check(l1, "MX", action="misuse.inside_transaction")
    assert json_logs.events("SCOPE_VIOLATION_IN_TRANSACTION")
    assert json_logs.events("METRIC_SCOPE_VIOLATION")[0]["action"] == "misuse.inside_transaction"


def test_require_level() -> None:
    l1 = make_staff(level="L1", countries=("AR",))
    l3 = make_staff(level="L3", countries=("AR",))
    root = make_staff(level=None, superuser=True)
    ScopeGuard.require_level(l3, "L2")
    ScopeGuard.require_level(root, "L3")
    for user, minimum in ((l1, "L2"), (make_user(), "L1"), (make_staff(level=None), "L1")):
        with pytest.raises(StaffLevelRequired) as err:
            ScopeGuard.require_level(user, minimum)
        assert err.value.code == "STAFF_LEVEL_REQUIRED" and err.value.status == 403
    with pytest.raises(ValueError, match="unknown"):
        ScopeGuard.require_level(l3, "L9")


def test_filter_limits_rows_to_the_users_countries() -> None:
    for country in ("AR", "MX", "BR"):
        issue_anon(order_id=1, country_code=country)
    qs = AnonymousIdentity.objects.all()
    l1 = make_staff(level="L1", countries=("AR",))
    lead = make_staff(level="L3", countries=("AR", "MX"), ops_lead=True)
    root = make_staff(level=None, superuser=True)
    assert {i.country_code for i in ScopeGuard.filter(l1, qs)} == {"AR"}
    assert {i.country_code for i in ScopeGuard.filter(lead, qs)} == {"AR", "MX"}
    assert ScopeGuard.filter(make_staff(level="L1", countries=()), qs).count() == 0
    assert ScopeGuard.filter(make_user(), qs).count() == 0
    assert ScopeGuard.filter(root, qs).count() == 3


def test_actor_for_users_and_staff() -> None:
    party = make_user(country_code="MX")
    staff = make_staff(level="L2", countries=("AR",))
    assert actor_for(party) == Actor(type="user", id=str(party.pk), country_code="MX")
    assert actor_for(staff) == Actor(type="staff", id=str(staff.pk), level="L2", country_code="AR")
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(TypeError):
        actor_for(AnonymousUser())


@pytest.mark.django_db(transaction=True)
def test_violation_audit_row_survives_the_refused_request(api_client) -> None:
    """Real commit semantics (no test transaction): the 403 leaves its audit row behind."""
    from tests.accounts.factories import login_headers

    l1 = make_staff(level="L1", countries=("AR",))
    identity = issue_anon(order_id=5, country_code="MX")
    response = api_client.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": "MX", "anonId": str(identity.anon_id)},
        format="json",
        **login_headers(l1),
    )
    assert response.status_code == 403 and response.json()["code"] == "SCOPE_VIOLATION"
    event = Event.objects.get(action="scope.violation")
    assert event.request_id == response["X-Request-ID"]
    assert event.actor_id == str(l1.pk)
    assert AnonymousIdentity.objects.get(anon_id=identity.anon_id).revoked_at is None


@pytest.mark.django_db(transaction=True)
def test_service_checks_scope_before_its_transaction() -> None:
    """The service refuses before opening its transaction, so the violation is committed."""
    from aventide.accounts import services

    l2 = make_staff(level="L2", countries=("AR",))
    identity = issue_anon(order_id=5, country_code="MX")
    with pytest.raises(ScopeViolation):
        services.anonymous_identity_revoke(actor=l2, anon_id=identity.anon_id)
    assert Event.objects.filter(action="scope.violation", actor_id=str(l2.pk)).count() == 1
