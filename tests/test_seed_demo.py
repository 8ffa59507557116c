"""`manage.py seed_demo` is idempotent and seeds AR, MX, BR with parties and staff."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from aventide.accounts.models import User
from aventide.markets.models import Country


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_dev_passwords() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    users = User.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert User.objects.count() == users
    assert set(Country.objects.values_list("code", flat=True)) == {"AR", "MX", "BR"}
    for code in ("AR", "MX", "BR"):
        assert User.objects.filter(country_code=code, is_staff=True).exists()
    text = out.getvalue()
    assert "buyer.ar@demo.aventide.test" in text and "aventide-demo-2026" in text
    from aventide.orders.models import Order

    for code in ("AR", "MX", "BR"):
        states = set(Order.objects.filter(country_code=code).values_list("status", flat=True))
        assert {"pending_payment", "paid", "in_transit", "completed", "cancelled"} <= states
    orders = Order.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert Order.objects.count() == orders
    buyer = User.objects.get(email="buyer.ar@demo.aventide.test")
    assert buyer.check_password("aventide-demo-2026")
    assert not buyer.is_staff


@pytest.mark.django_db
def test_seed_demo_is_refused_in_production(settings) -> None:
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=StringIO())
