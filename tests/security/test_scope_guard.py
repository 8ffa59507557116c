"""ScopeGuard, table-driven over EVERY scoped admin changelist and staff-facing endpoint.

The tables are built at collection time from ``admin.site._registry`` (every ModelAdmin using
``ScopedAdminMixin``) and from the URL resolver (every view with ``staff_facing = True``), so
admins and endpoints added later by other apps are covered automatically -- the registry
tests below fail until they have a row factory / endpoint case in ``scope_cases.py``.

Expectations (issue 3): L1 of AR gets 403 or sees zero rows for MX objects; an ops lead of
AR+MX sees both; a staff member with no scope sees nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import Event
from aventide.accounts.admin_scope import ScopedAdminMixin, scope_field_for_model
from aventide.accounts.models import User
from tests.accounts.factories import ensure_countries, login_headers, make_staff
from tests.security.scope_cases import ENDPOINT_CASES, PARTY_REFUSALS, ROW_FACTORIES


def scoped_admins() -> list[tuple[type[models.Model], Any]]:
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if isinstance(model_admin, ScopedAdminMixin)
        ),
        key=lambda pair: pair[0]._meta.label_lower,
    )


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace or namespace
            if pattern.namespace and namespace:
                ns = f"{namespace}:{pattern.namespace}"
            found += _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None) or getattr(
                pattern.callback, "cls", None
            )
            if view is not None and getattr(view, "staff_facing", False):
                name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
                found.append((name, view))
    return found


def staff_endpoints() -> list[str]:
    return sorted({name for name, _ in _walk(get_resolver().url_patterns)})


ADMINS = scoped_admins()
ENDPOINTS = staff_endpoints()


def test_the_tables_are_not_empty() -> None:
    labels = {model._meta.label_lower for model, _ in ADMINS}
    assert {"accounts.user", "accounts.staffprofile", "accounts.anonymousidentity"} <= labels
    assert "auth:staff-anonymous-identities" in ENDPOINTS


def test_every_scoped_admin_has_a_row_factory() -> None:
    missing = [m._meta.label_lower for m, _ in ADMINS if m._meta.label_lower not in ROW_FACTORIES]
    assert not missing, f"add a row factory to tests/security/scope_cases.py for {missing}"


def test_every_staff_endpoint_has_a_case() -> None:
    missing = [name for name in ENDPOINTS if name not in ENDPOINT_CASES]
    assert not missing, f"add an endpoint case to tests/security/scope_cases.py for {missing}"


def test_every_admin_of_a_country_scoped_model_uses_the_mixin() -> None:
    unscoped = [
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, ScopedAdminMixin)
        and any(f.name == "country_code" for f in model._meta.get_fields())
    ]
    assert not unscoped, f"these admins show country rows without ScopeGuard: {unscoped}"


# --- the actors ------------------------------------------------------------------------------


def _grant_model_perms(user: User, model: type[models.Model]) -> User:
    """All model permissions, so only ScopeGuard (not Django perms) decides visibility."""
    perms = Permission.objects.filter(
        content_type__app_label=model._meta.app_label, content_type__model=model._meta.model_name
    )
    user.user_permissions.add(*perms)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def actors(db: None) -> dict[str, User]:
    ensure_countries()
    return {
        "l1_ar": make_staff(level="L1", countries=("AR",), email="l1.ar@scope.test"),
        "lead_ar_mx": make_staff(
            level="L3", countries=("AR", "MX"), ops_lead=True, email="lead@scope.test"
        ),
        "no_scope": make_staff(level="L3", countries=(), email="noscope@scope.test"),
    }


def _rows_of(response: Any) -> set[Any] | None:
    if response.status_code != 200:
        return None
    return {obj.pk for obj in response.context["cl"].result_list}


def _changelist(model: type[models.Model]) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "model_admin"), ADMINS, ids=[m._meta.label_lower for m, _ in ADMINS]
)
def test_admin_changelist_is_scoped(model, model_admin, actors) -> None:
    factory = ROW_FACTORIES[model._meta.label_lower]
    row_ar, row_mx = factory("AR"), factory("MX")
    client = Client()

    # L1 of AR: 403, or sees AR rows and zero MX rows; MX objects are unreachable.
    client.force_login(_grant_model_perms(actors["l1_ar"], model))
    response = client.get(_changelist(model), {"all": ""})
    rows = _rows_of(response)
    if rows is None:
        assert response.status_code in (302, 403)
    else:
        assert row_mx.pk not in rows
        if not model_admin.ops_lead_only:
            assert row_ar.pk in rows
        mx_rows = model_admin.get_queryset(_request_for(actors["l1_ar"])).filter(pk=row_mx.pk)
        assert not mx_rows.exists()
    detail = client.get(f"{_changelist(model)}{row_mx.pk}/change/")
    assert detail.status_code in (302, 403, 404)
    search = client.get(_changelist(model), {"q": str(row_mx.pk)})
    search_rows = _rows_of(search)
    assert search_rows is None or row_mx.pk not in search_rows

    # Ops lead of AR+MX: sees both.
    client.force_login(_grant_model_perms(actors["lead_ar_mx"], model))
    rows = _rows_of(client.get(_changelist(model), {"all": ""}))
    assert rows is not None and {row_ar.pk, row_mx.pk} <= rows
    assert client.get(f"{_changelist(model)}{row_mx.pk}/change/").status_code == 200

    # No scope: sees nothing.
    client.force_login(_grant_model_perms(actors["no_scope"], model))
    response = client.get(_changelist(model), {"all": ""})
    rows = _rows_of(response)
    assert rows is None or not rows
    assert client.get(f"{_changelist(model)}{row_ar.pk}/change/").status_code in (302, 403, 404)


def _request_for(user: User) -> Any:
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


AUTOCOMPLETES = [
    (source_model, field, model_admin)
    for source_model, model_admin in admin.site._registry.items()
    for field in getattr(model_admin, "autocomplete_fields", ()) or ()
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source_model", "field", "source_admin"),
    AUTOCOMPLETES,
    ids=[f"{m._meta.label_lower}.{f}" for m, f, _ in AUTOCOMPLETES],
)
def test_admin_autocomplete_is_scoped(source_model, field, source_admin, actors) -> None:
    related = source_model._meta.get_field(field).remote_field.model
    assert scope_field_for_model(related) is not None, "autocomplete over an unscoped model"
    factory = ROW_FACTORIES[related._meta.label_lower]
    row_mx, row_br = factory("MX"), factory("BR")
    params = {
        "app_label": source_model._meta.app_label,
        "model_name": source_model._meta.model_name,
        "field_name": field,
        "term": "",
    }
    client = Client()
    for actor, hidden, shown in (("l1_ar", row_mx, None), ("lead_ar_mx", row_br, row_mx)):
        user = _grant_model_perms(_grant_model_perms(actors[actor], source_model), related)
        client.force_login(user)
        response = client.get("/admin/autocomplete/", params)
        if response.status_code == 403:
            assert shown is None, f"{actor} should reach this autocomplete"
            continue
        ids = {item["id"] for item in response.json()["results"]}
        assert str(hidden.pk) not in ids
        if shown is not None:
            assert str(shown.pk) in ids


# --- staff-facing endpoints ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ENDPOINTS)
def test_staff_endpoint_is_scoped(name, actors, api_client) -> None:
    case = ENDPOINT_CASES[name]

    violations = Event.objects.filter(action="scope.violation").count()
    response, visible, own = case(api_client, login_headers(actors["l1_ar"]), "MX")
    if response.status_code == 200:
        assert visible is not None and not (visible & (own or set())), "L1 AR saw MX rows"
    else:
        assert response.status_code == 403 and response.json()["code"] == "SCOPE_VIOLATION"
        assert Event.objects.filter(action="scope.violation").count() == violations + 1

    response, visible, own = case(api_client, login_headers(actors["lead_ar_mx"]), "MX")
    assert response.status_code in (200, 201, 204), response.json()
    if visible is not None:
        assert own is not None and own <= visible
    response, visible, own = case(api_client, login_headers(actors["lead_ar_mx"]), "AR")
    assert response.status_code in (200, 201, 204)

    for country in ("AR", "MX"):
        response, visible, own = case(api_client, login_headers(actors["no_scope"]), country)
        assert response.status_code == 403 or (visible is not None and not visible)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ENDPOINTS)
def test_staff_endpoint_refuses_parties(name, actors, api_client) -> None:
    from tests.accounts.factories import make_user

    response, _, _ = ENDPOINT_CASES[name](api_client, login_headers(make_user()), "AR")
    status, code = PARTY_REFUSALS.get(name, (403, ""))
    assert response.status_code == status
    if code:
        assert response.json()["code"] == code


@pytest.mark.django_db
def test_order_cancel_by_staff_is_scoped(actors, api_client) -> None:
    """The table's order-cancel case, spelled out (review gap B): L1 of AR on an MX paid order
    403 SCOPE_VIOLATION (audited); an ops lead of AR+MX cancels it; no scope: 403."""
    from aventide.orders.models import Order
    from tests.security.scope_cases import paid_order

    order = paid_order("MX")
    url = f"/api/orders/{order.pk}/cancel"
    for actor in ("l1_ar", "no_scope"):
        before = Event.objects.filter(action="scope.violation").count()
        response = api_client.post(url, {}, format="json", **login_headers(actors[actor]))
        assert response.status_code == 403 and response.json()["code"] == "SCOPE_VIOLATION"
        assert Event.objects.filter(action="scope.violation").count() == before + 1
        assert Order.objects.get(pk=order.pk).status == "paid"
    response = api_client.post(
        url, {"reason": "ops"}, format="json", **login_headers(actors["lead_ar_mx"])
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert Order.objects.get(pk=order.pk).status == "cancelled"
