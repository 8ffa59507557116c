"""The audit admin: read-only, ops leads only, scoped by country, filterable and searchable."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from audit.models import Event, Seal
from audit.services import record, seal_pending
from aventide.accounts.models import StaffCountryScope, StaffProfile, User
from aventide.core import context

pytestmark = pytest.mark.django_db

EVENTS_URL = "/admin/audit/event/"
SEALS_URL = "/admin/audit/seal/"


def _staff(email: str, countries: list[str], *, ops_lead: bool, level: str = "L3") -> User:
    user = User.objects.create_user(
        email=email, password="Corr3ct-Horse-Battery", country_code=countries[0], is_staff=True
    )
    profile = StaffProfile.objects.create(user=user, level=level, is_ops_lead=ops_lead)
    for code in countries:
        StaffCountryScope.objects.create(staff=profile, country_code=code)
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def events() -> dict[str, Event]:
    ar = record("order.created", "order:1", country_code="AR")
    with_rid = record("order.paid", "order:1", country_code="AR")
    mx = record("order.created", "order:2", country_code="MX")
    seal_pending()
    return {"ar": ar, "ar2": with_rid, "mx": mx}


def _ids(response: Any) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def test_admin_ops_lead_sees_only_the_events_of_their_countries(
    events: dict[str, Event],
) -> None:
    lead = _client(_staff("lead.ar@t.test", ["AR"], ops_lead=True))
    response = lead.get(EVENTS_URL)
    assert response.status_code == 200
    assert _ids(response) == {events["ar"].pk, events["ar2"].pk}
    assert lead.get(f"{EVENTS_URL}{events['ar'].pk}/change/").status_code == 200
    # another country's event answers like a missing one (redirect with "doesn't exist")
    other = lead.get(f"{EVENTS_URL}{events['mx'].pk}/change/")
    assert other.status_code in (302, 403, 404)
    assert lead.get(SEALS_URL).status_code == 200


def test_admin_is_hidden_from_staff_who_are_not_ops_leads(events: dict[str, Event]) -> None:
    agent = _client(_staff("l3.ar@t.test", ["AR"], ops_lead=False))
    assert agent.get(EVENTS_URL).status_code == 403
    assert agent.get(f"{EVENTS_URL}{events['ar'].pk}/change/").status_code in (302, 403)
    assert agent.get(SEALS_URL).status_code == 403
    index = agent.get("/admin/")
    assert b"/admin/audit/" not in index.content


def test_admin_allows_no_add_change_or_delete(events: dict[str, Event]) -> None:
    su = User.objects.create_superuser(email="root@t.test", password="x", country_code="AR")
    client = _client(su)
    assert _ids(client.get(EVENTS_URL)) == {e.pk for e in events.values()}
    assert client.get(f"{EVENTS_URL}add/").status_code == 403
    assert client.get(f"{EVENTS_URL}{events['ar'].pk}/delete/").status_code == 403
    detail = client.post(f"{EVENTS_URL}{events['ar'].pk}/change/", {"action": "hacked"})
    assert detail.status_code == 403
    assert client.get(f"{SEALS_URL}add/").status_code == 403
    assert Event.objects.get(pk=events["ar"].pk).action == "order.created"
    for model in (Event, Seal):
        model_admin = admin.site._registry[model]
        request = client.get(EVENTS_URL).wsgi_request
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert not model_admin.get_actions(request)


def test_admin_filters_and_searches(events: dict[str, Event]) -> None:
    lead = _client(_staff("lead.armx@t.test", ["AR", "MX"], ops_lead=True))
    assert _ids(lead.get(EVENTS_URL, {"action": "order.created"})) == {
        events["ar"].pk,
        events["mx"].pk,
    }
    assert _ids(lead.get(EVENTS_URL, {"country_code": "MX"})) == {events["mx"].pk}
    assert _ids(lead.get(EVENTS_URL, {"target_type": "order"})) == {e.pk for e in events.values()}
    assert _ids(lead.get(EVENTS_URL, {"q": "2"})) == {events["mx"].pk}  # target id
    with context.bound_context(request_id="req-search-1"):
        rid = record("order.accepted", "order:1", country_code="AR")
    assert _ids(lead.get(EVENTS_URL, {"q": "req-search-1"})) == {rid.pk}
