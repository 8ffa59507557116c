"""The demo seed gives every country L1/L2/L3 staff in scope and an ops lead of AR+MX."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import Event
from aventide.accounts.models import StaffProfile, User
from tests.accounts.factories import principal

pytestmark = pytest.mark.django_db


def test_seed_creates_scoped_staff_and_is_idempotent() -> None:
    call_command("seed_demo", stdout=StringIO())
    for code in ("AR", "MX", "BR"):
        for level in ("L1", "L2", "L3"):
            user = User.objects.get(
                email=f"staff.{level.lower()}.{code.lower()}@demo.aventide.test"
            )
            assert principal(user).level == level
            assert principal(user).countries == frozenset({code})
            assert user.groups.filter(name__startswith=level).exists()
        assert User.objects.get(email=f"seller.{code.lower()}@demo.aventide.test").is_seller
    lead = User.objects.get(email="opslead@demo.aventide.test")
    assert principal(lead).is_ops_lead and principal(lead).countries == frozenset({"AR", "MX"})
    assert lead.groups.filter(name="Ops lead").exists()
    assert not User.objects.get(email="buyer.ar@demo.aventide.test").is_seller
    events, profiles = Event.objects.count(), StaffProfile.objects.count()
    passwords = dict(User.objects.values_list("email", "password"))
    call_command("seed_demo", stdout=StringIO())
    assert Event.objects.count() == events  # nothing changed, nothing audited
    assert StaffProfile.objects.count() == profiles
    assert dict(User.objects.values_list("email", "password")) == passwords
