"""Scoped admin writes: an in-scope change is saved; an out-of-scope one never reaches the DB.

``ScopedAdminMixin.save_model`` is the last line of defence behind the scoped querysets and
the form choices: a tampered POST that got past both must still be refused. The country
admin repeats the guard before calling its audited service (``country_policy_set``); the
mixin's own ``save_model`` is tested on a plain scoped admin. A staff member is given
``change_country`` here (no staff group has it today) so the write path runs end to end.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory

from aventide.accounts.models import User
from aventide.markets.models import Country
from tests.accounts.factories import make_staff

pytestmark = pytest.mark.django_db


def _country_editor(countries: tuple[str, ...] = ("AR",)) -> User:
    staff = make_staff(level="L3", countries=countries)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="markets", codename="change_country")
    )
    return User.objects.get(pk=staff.pk)


def _form(country: Country, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": country.code,
        "name": country.name,
        "currency": country.currency,
        "dispute_window_hours": country.dispute_window_hours,
        "platform_fee_bps": country.platform_fee_bps,
        "active": "on" if country.active else "",
        "_save": "Save",
    }
    data.update(changes)
    return data


def _post_change(client: Client, code: str, data: dict[str, Any]) -> Any:
    return client.post(f"/admin/markets/country/{code}/change/", data)


def _state(code: str) -> tuple[Any, ...]:
    return tuple(
        Country.objects.filter(code=code).values_list(
            "name", "currency", "dispute_window_hours", "platform_fee_bps", "active"
        )
    )


def test_scoped_admin_save_model_saves_an_in_scope_change(countries: list[str]) -> None:
    client = Client()
    client.force_login(_country_editor(("AR",)))
    ar = Country.objects.get(code="AR")
    response = _post_change(client, "AR", _form(ar, dispute_window_hours=96))
    assert response.status_code == 302, response.content[:500]
    assert Country.objects.get(code="AR").dispute_window_hours == 96


def test_scoped_admin_refuses_a_post_for_an_out_of_scope_row(countries: list[str]) -> None:
    client = Client()
    client.force_login(_country_editor(("AR",)))
    mx = Country.objects.get(code="MX")
    before = _state("MX")
    response = _post_change(client, "MX", _form(mx, dispute_window_hours=1, name="Hacked"))
    assert response.status_code == 302  # "does not exist" for another country's row
    assert response["Location"] == "/admin/"
    assert _state("MX") == before


def test_scoped_admin_refuses_a_tampered_country_field(countries: list[str]) -> None:
    client = Client()
    client.force_login(_country_editor(("AR",)))
    ar = Country.objects.get(code="AR")
    before = {code: _state(code) for code in ("AR", "MX")}
    response = _post_change(client, "AR", _form(ar, code="MX", name="Moved"))
    assert response.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert {code: _state(code) for code in ("AR", "MX")} == before


def _assert_save_model_is_scoped(model_admin: Any, new_name: str) -> None:
    """An AR editor's save of MX is a 403 and writes nothing; of AR, it is saved."""
    request = RequestFactory().post("/admin/markets/country/MX/change/")
    request.user = _country_editor(("AR",))
    mx = Country.objects.get(code="MX")
    before = _state("MX")
    mx.name = "Tampered"
    with pytest.raises(PermissionDenied):
        model_admin.save_model(request, mx, form=None, change=True)
    assert _state("MX") == before
    ar = Country.objects.get(code="AR")
    ar.name = new_name
    model_admin.save_model(request, ar, form=None, change=True)  # in scope: saved
    assert Country.objects.get(code="AR").name == new_name


def test_scoped_admin_save_model_refuses_an_out_of_scope_object(countries: list[str]) -> None:
    """A POST that got past the querysets and the form choices still ends in a 403."""
    model_admin = admin.site._registry[Country]
    _assert_save_model_is_scoped(model_admin, "Argentina (edited)")


def test_scoped_admin_index_hides_country_modules_from_staff_without_a_country(
    countries: list[str],
) -> None:
    """Group permissions open a module; a country scope is needed as well."""
    client = Client()
    client.force_login(make_staff(level="L2", countries=("AR",)))
    assert "/admin/orders/order/" in client.get("/admin/").content.decode()
    client.force_login(make_staff(level="L2", countries=()))  # same groups, no country
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "/admin/orders/order/" not in index.content.decode()
    assert client.get("/admin/orders/").status_code == 404  # no visible model in the app


def test_scoped_admin_mixin_save_model_guards_every_admin_that_inherits_it(
    countries: list[str],
) -> None:
    """The mixin's own ``save_model`` (the one a new scoped admin inherits when it does not
    call a service): out of scope is a 403 and nothing is written; in scope is saved."""
    from aventide.accounts.admin_scope import ScopedAdminMixin

    class PlainScopedCountryAdmin(ScopedAdminMixin, admin.ModelAdmin[Country]):
        scope_field = "code"

    model_admin = PlainScopedCountryAdmin(Country, admin.site)
    _assert_save_model_is_scoped(model_admin, "Argentina (plain admin)")


def test_scoped_admin_country_field_is_restricted_for_staff_and_free_for_superusers(
    countries: list[str],
) -> None:
    from django import forms

    model_admin = admin.site._registry[Country]
    field = Country._meta.get_field("code")
    request = RequestFactory().get("/admin/markets/country/add/")
    request.user = _country_editor(("AR",))
    staff_field = model_admin.formfield_for_dbfield(field, request)
    assert isinstance(staff_field, forms.ChoiceField)
    choices: Any = staff_field.choices
    assert [c for c, _ in choices] == ["", "AR"]
    request = RequestFactory().get("/admin/markets/country/add/")  # its own principal
    request.user = make_staff(level=None, superuser=True)
    root_field = model_admin.formfield_for_dbfield(field, request)
    assert not isinstance(root_field, forms.ChoiceField)  # any code: a new country
