"""ScopeGuard's predicates at their edges: who is an ops lead, level boundaries, targets.

Complements tests/accounts/test_scope.py. The calls of the scope API live in the small
helpers below, so the move to a typed principal changes one line per helper here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from audit.models import Event
from aventide.accounts import scope
from aventide.accounts.contracts import principal_for_request
from aventide.accounts.models import User
from aventide.core.errors import DomainError
from aventide.core.principal import Principal, PrincipalKind
from aventide.markets.models import Country
from tests.accounts.factories import make_staff, make_user

pytestmark = pytest.mark.django_db


# --- the scope API (one place each) ---------------------------------------------------------


def _p(who: Any) -> Principal | None:
    """The principal authentication would resolve for ``who`` (None: nobody -- no session,
    an inactive user); principals pass through."""
    if who is None or isinstance(who, Principal):
        return who
    request = RequestFactory().get("/admin/")
    request.user = _reload(who) if isinstance(who, User) else who
    return principal_for_request(request)


def _is_ops_lead(who: Any) -> bool:
    principal = _p(who)
    return principal is not None and principal.is_staff and principal.is_ops_lead


def _countries(who: Any) -> frozenset[str]:
    principal = _p(who)
    return scope.ScopeGuard.countries(principal) if principal is not None else frozenset()


def _allows(who: Any, country: str) -> bool:
    principal = _p(who)
    return principal is not None and scope.ScopeGuard.allows(principal, country)


def _check(who: Any, country: str, target: str = "") -> None:
    principal = _p(who)
    assert principal is not None
    scope.ScopeGuard.check(principal, country, action="tests.predicate", target=target)


def _require_level(who: Any, minimum: str) -> None:
    principal = _p(who)
    assert principal is not None
    scope.ScopeGuard.require_level(principal, minimum)


def _require_ops_lead(who: Any) -> None:
    principal = _p(who)
    assert principal is not None
    scope.ScopeGuard.require_ops_lead(principal)


def _refused(call: Any, *args: Any) -> str:
    with pytest.raises(DomainError) as exc:
        call(*args)
    return exc.value.code


def _anon() -> Principal:
    return Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(uuid.uuid4()),
        order_id=1,
        role="recipient",
        country_code="AR",
    )


def _reload(user: User) -> User:
    return User.objects.get(pk=user.pk)


def _check_action(who: Any, country: str, action: str) -> None:
    principal = _p(who)
    assert principal is not None
    scope.ScopeGuard.check(principal, country, action=action)


# --- is_ops_lead ----------------------------------------------------------------------------


def test_scope_is_ops_lead_is_false_for_everyone_who_is_not_active_staff() -> None:
    assert not _is_ops_lead(make_user())
    assert not _is_ops_lead(_anon())
    assert not _is_ops_lead(AnonymousUser())
    assert not _is_ops_lead(None)
    lead = make_staff(level="L3", countries=("AR",), ops_lead=True)
    assert _is_ops_lead(lead)
    User.objects.filter(pk=lead.pk).update(is_staff=False)  # left the staff, profile kept
    assert not _is_ops_lead(_reload(lead))
    User.objects.filter(pk=lead.pk).update(is_staff=True, is_active=False)
    assert not _is_ops_lead(_reload(lead))
    # a superuser flag without is_staff is no ops lead either
    assert not _is_ops_lead(make_user(is_superuser=True))


def test_scope_is_ops_lead_needs_the_flag_or_superuser() -> None:
    assert not _is_ops_lead(make_staff(level="L3", countries=("AR",)))
    assert not _is_ops_lead(make_staff(level=None))  # staff without a profile
    assert _is_ops_lead(make_staff(level=None, superuser=True))


def test_scope_require_ops_lead_refuses_non_leads() -> None:
    _require_ops_lead(make_staff(level="L1", countries=("AR",), ops_lead=True))
    for who in (make_user(), make_staff(level="L3", countries=("AR",)), _anon()):
        assert _refused(_require_ops_lead, who) == "STAFF_LEVEL_REQUIRED"


# --- levels and countries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "allowed"),
    [("L1", {"L1"}), ("L2", {"L1", "L2"}), ("L3", {"L1", "L2", "L3"})],
)
def test_scope_require_level_admits_the_level_itself_and_below(
    level: str, allowed: set[str]
) -> None:
    staff = make_staff(level=level, countries=("AR",))
    for minimum in ("L1", "L2", "L3"):
        if minimum in allowed:
            _require_level(staff, minimum)
        else:
            assert _refused(_require_level, staff, minimum) == "STAFF_LEVEL_REQUIRED"


def test_scope_require_level_refuses_a_non_staff_superuser_flag() -> None:
    assert _refused(_require_level, make_user(is_superuser=True), "L1") == "STAFF_LEVEL_REQUIRED"
    assert _refused(_require_level, _anon(), "L1") == "STAFF_LEVEL_REQUIRED"


def test_scope_countries_of_a_superuser_are_the_active_countries_only(
    countries: list[str],
) -> None:
    root = make_staff(level=None, superuser=True)
    Country.objects.filter(code="BR").update(active=False)
    assert _countries(root) == frozenset({"AR", "MX"})
    assert _countries(make_user(is_superuser=True)) == frozenset()  # not staff: nothing


def test_scope_allows_only_a_named_country_in_scope_in_any_case() -> None:
    staff = make_staff(level="L1", countries=("AR",))
    assert _allows(staff, "AR") and _allows(staff, "ar")
    assert not _allows(staff, "MX")
    assert not _allows(staff, "")
    assert not _allows(make_user(), "AR")


# --- check: the audited refusal -------------------------------------------------------------


def test_scope_check_without_target_audits_the_country_as_target() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    _check(staff, "ar")  # in scope, any case: passes, nothing audited
    assert not Event.objects.filter(action="scope.violation").exists()
    assert _refused(_check, staff, "mx") == "SCOPE_VIOLATION"
    assert _refused(_check, staff, "") == "SCOPE_VIOLATION"
    assert _refused(_check, staff, "BR", "no-colon") == "SCOPE_VIOLATION"  # not "type:id"
    rows = list(
        Event.objects.filter(action="scope.violation")
        .order_by("id")
        .values_list("target_type", "target_id", "country_code", "actor_id")
    )
    assert rows == [
        ("country", "MX", "MX", str(staff.pk)),
        ("country", "-", "", str(staff.pk)),
        ("country", "BR", "BR", str(staff.pk)),
    ]


def test_scope_check_refuses_a_staff_member_without_scope_and_audits_it() -> None:
    staff = make_staff(level="L3", countries=())
    assert _refused(_check, staff, "AR", "order:7") == "SCOPE_VIOLATION"
    event = Event.objects.get(action="scope.violation")
    assert (event.target_type, event.target_id, event.country_code) == ("order", "7", "AR")
    assert event.data["actorCountries"] == []


def test_scope_check_labels_the_metric_with_at_most_64_chars_of_the_action(json_logs) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    action = "a" * 64 + "b" * 36
    with pytest.raises(DomainError):
        _check_action(staff, "MX", action)
    (metric,) = json_logs.events("METRIC_SCOPE_VIOLATION")
    assert metric["action"] == "a" * 64
    assert Event.objects.get(action="scope.violation").data["attempted"] == action


@pytest.mark.django_db(transaction=True)
def test_scope_check_outside_any_transaction_is_not_reported_as_misuse(json_logs) -> None:
    staff = make_staff(level="L1", countries=("AR",))
    assert _refused(_check, staff, "MX") == "SCOPE_VIOLATION"
    assert json_logs.events("METRIC_SCOPE_VIOLATION")
    assert json_logs.events("SCOPE_VIOLATION_IN_TRANSACTION") == []
    assert Event.objects.filter(action="scope.violation").count() == 1


@pytest.mark.parametrize("minimum", ["L4", "l2", "", "L0"])
def test_scope_require_level_refuses_to_check_a_level_that_does_not_exist(minimum: str) -> None:
    """A typo in a service (``require_level("L4")``) is a programming error, loud at once --
    not a check that a superuser silently passes and everyone else fails."""
    for who in (make_staff(level=None, superuser=True), make_staff(level="L3", countries=("AR",))):
        with pytest.raises(ValueError, match="unknown staff level"):
            _require_level(who, minimum)
