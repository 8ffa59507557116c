"""The ops alerts admin: read-only and global; ops leads, L3 and superusers see every alert
(whatever their countries), L1/L2 agents and non-staff see none of it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from aventide.accounts.models import StaffCountryScope, StaffProfile, User
from aventide.ops.models import Alert, AlertState

pytestmark = pytest.mark.django_db

URL = "/admin/ops/alert/"


def _staff(email: str, *, level: str, ops_lead: bool = False, country: str = "AR") -> User:
    user = User.objects.create_user(
        email=email, password="Corr3ct-Horse-Battery", country_code=country, is_staff=True
    )
    profile = StaffProfile.objects.create(user=user, level=level, is_ops_lead=ops_lead)
    StaffCountryScope.objects.create(staff=profile, country_code=country)
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alerts() -> list[Alert]:
    now = timezone.now()
    common = {"severity": "SEV2", "started_at": now, "last_evaluated_at": now}
    return [
        Alert.objects.create(
            rule="ALERT_INTEGRATION_CIRCUIT_OPEN", labels={"provider": "payments"},
            labels_key="provider=payments", state=AlertState.FIRING, fired_at=now,
            last_value=320, **common,
        ),
        Alert.objects.create(
            rule="ALERT_INTEGRATION_BACKLOG", state=AlertState.RESOLVED, resolved_at=now,
            last_value=12, **common,
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("level", "ops_lead", "country"),
    [("L3", False, "AR"), ("L2", True, "MX"), ("L1", True, "BR"), ("L3", False, "MX")],
)
def test_alert_admin_ops_leads_and_l3_see_every_alert(
    alerts: list[Alert], level: str, ops_lead: bool, country: str
) -> None:
    client = _client(
        _staff(f"{level}.{country}@t.test", level=level, ops_lead=ops_lead, country=country)
    )
    response = client.get(URL)
    assert response.status_code == 200
    assert {a.pk for a in response.context["cl"].result_list} == {a.pk for a in alerts}
    detail = client.get(f"{URL}{alerts[0].pk}/change/")
    assert detail.status_code == 200
    assert b"docs/operations/alerts.md#alert_integration_circuit_open" in detail.content
    assert b"/admin/ops/" in client.get("/admin/").content


@pytest.mark.parametrize("level", ["L1", "L2"])
def test_alert_admin_is_hidden_from_l1_and_l2_agents(alerts: list[Alert], level: str) -> None:
    client = _client(_staff(f"{level}@t.test", level=level))
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{alerts[0].pk}/change/").status_code in (302, 403)
    assert b"/admin/ops/" not in client.get("/admin/").content


def test_alert_admin_refuses_non_staff(alerts: list[Alert]) -> None:
    user = User.objects.create_user(
        email="buyer@t.test", password="Corr3ct-Horse-Battery", country_code="AR"
    )
    assert _client(user).get(URL).status_code == 302  # to the admin login


def test_alert_admin_allows_no_add_change_or_delete(alerts: list[Alert]) -> None:
    root = User.objects.create_superuser(email="root@t.test", password="x", country_code="AR")
    client = _client(root)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}add/").status_code == 403
    assert client.get(f"{URL}{alerts[0].pk}/delete/").status_code == 403
    client.post(f"{URL}{alerts[0].pk}/change/", {"state": "resolved"})
    alerts[0].refresh_from_db()
    assert alerts[0].state == "firing"
