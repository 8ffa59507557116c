"""ScopeGuard: levels, countries, check (audited refusal), require_level, filter."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import RequestFactory

from audit.models import Event
from aventide.accounts.contracts import principal_for_request
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.models import AnonymousIdentity, User
from aventide.accounts.refusals import record_refusals
from aventide.accounts.scope import ScopeGuard
from aventide.core.principal import Principal, PrincipalKind
from tests.accounts.factories import (
    anonymous_principal,
    issue_anon,
    make_staff,
    make_user,
    principal,
)

pytestmark = pytest.mark.django_db


def test_levels_and_countries_of_each_kind_of_user() -> None:
    l1 = principal(make_staff(level="L1", countries=("AR",)))
    lead = principal(make_staff(level="L3", countries=("AR", "MX"), ops_lead=True))
    unscoped = principal(make_staff(level="L2", countries=()))
    no_profile = principal(make_staff(level=None))
    party = principal(make_user())
    root = principal(make_staff(level=None, superuser=True))
    assert (l1.level, l1.countries, l1.is_ops_lead) == ("L1", frozenset({"AR"}), False)
    assert (lead.level, lead.countries, lead.is_ops_lead) == ("L3", frozenset({"AR", "MX"}), True)
    assert unscoped.countries == frozenset() and unscoped.level == "L2"
    assert no_profile.level == "" and no_profile.countries == frozenset()
    assert party.kind == PrincipalKind.USER and party.level == "" and party.countries == frozenset()
    assert root.countries == frozenset({"AR", "MX", "BR"}) and root.is_ops_lead
    anon = anonymous_principal(issue_anon(order_id=1, country_code="AR").anon_id)
    assert anon.level == "" and ScopeGuard.countries(anon) == frozenset()
    assert not ScopeGuard.allows(anon, "AR") and not ScopeGuard.allows(party, "AR")


def test_inactive_or_demoted_staff_have_no_scope() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    User.objects.filter(pk=staff.pk).update(is_staff=False)
    demoted = principal(User.objects.get(pk=staff.pk))
    assert not demoted.is_staff and ScopeGuard.countries(demoted) == frozenset()
    User.objects.filter(pk=staff.pk).update(is_staff=True, is_active=False)
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=staff.pk)
    assert principal_for_request(request) is None  # an inactive user is nobody


def test_check_passes_in_scope_and_refuses_outside_with_an_audit_event() -> None:
    l1 = make_staff(level="L1", countries=("AR",))
    ScopeGuard.check(principal(l1), "ar", action="order.view")
    assert not Event.objects.filter(action="scope.violation").exists()
    with pytest.raises(ScopeViolation) as err:
        ScopeGuard.check(principal(l1), "MX", action="order.view", target="order:12")
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
                ScopeGuard.check(principal(user), country, action="incident.work")


def test_violation_inside_a_callers_transaction_is_audited_after_it(json_logs) -> None:
    """A refusal inside a transaction someone else opened (the admin's change view) is
    counted at once and audited once that transaction is gone, though it rolled back."""
    l1 = make_staff(level="L1", countries=("AR",))
    with pytest.raises(ScopeViolation), transaction.atomic():
        ScopeGuard.check(principal(l1), "MX", action="misuse.inside_transaction")
    assert json_logs.events("METRIC_SCOPE_VIOLATION")[0]["action"] == "misuse.inside_transaction"
    assert record_refusals() == 1  # what the request middleware does at the end
    event = Event.objects.get(action="scope.violation")
    assert event.data["attempted"] == "misuse.inside_transaction"
    assert record_refusals() == 0  # written once


def test_require_level() -> None:
    l1 = principal(make_staff(level="L1", countries=("AR",)))
    l3 = principal(make_staff(level="L3", countries=("AR",)))
    root = principal(make_staff(level=None, superuser=True))
    ScopeGuard.require_level(l3, "L2")
    ScopeGuard.require_level(root, "L3")
    others = ((l1, "L2"), (principal(make_user()), "L1"), (principal(make_staff(level=None)), "L1"))
    for user, minimum in others:
        with pytest.raises(StaffLevelRequired) as err:
            ScopeGuard.require_level(user, minimum)
        assert err.value.code == "STAFF_LEVEL_REQUIRED" and err.value.status == 403
    with pytest.raises(ValueError, match="unknown"):
        ScopeGuard.require_level(l3, "L9")


def test_filter_limits_rows_to_the_users_countries() -> None:
    for country in ("AR", "MX", "BR"):
        issue_anon(order_id=1, country_code=country)
    qs = AnonymousIdentity.objects.all()
    l1 = principal(make_staff(level="L1", countries=("AR",)))
    lead = principal(make_staff(level="L3", countries=("AR", "MX"), ops_lead=True))
    root = principal(make_staff(level=None, superuser=True))
    assert {i.country_code for i in ScopeGuard.filter(l1, qs)} == {"AR"}
    assert {i.country_code for i in ScopeGuard.filter(lead, qs)} == {"AR", "MX"}
    assert ScopeGuard.filter(principal(make_staff(level="L1", countries=())), qs).count() == 0
    assert ScopeGuard.filter(principal(make_user()), qs).count() == 0
    assert ScopeGuard.filter(root, qs).count() == 3


def test_principal_for_users_and_staff() -> None:
    party = make_user(country_code="MX")
    staff = make_staff(level="L2", countries=("AR",))
    assert principal(party) == Principal(
        kind=PrincipalKind.USER, id=str(party.pk), country_code="MX"
    )
    assert principal(staff) == Principal(
        kind=PrincipalKind.STAFF,
        id=str(staff.pk),
        level="L2",
        country_code="AR",
        countries=frozenset({"AR"}),
    )


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
def test_service_refusal_is_committed_although_the_service_rolled_back() -> None:
    """The service's frame rolls back and then writes the violation: it is committed."""
    from aventide.accounts import services

    l2 = make_staff(level="L2", countries=("AR",))
    identity = issue_anon(order_id=5, country_code="MX")
    with pytest.raises(ScopeViolation):
        services.anonymous_identity_revoke(actor=principal(l2), anon_id=identity.anon_id)
    assert Event.objects.filter(action="scope.violation", actor_id=str(l2.pk)).count() == 1
