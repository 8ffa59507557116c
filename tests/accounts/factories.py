"""Accounts test helpers: users, staff (through the services), tokens, anonymous identities."""

from __future__ import annotations

import itertools
from typing import Any

from aventide.accounts import selectors, services
from aventide.accounts.contracts import principal_for_user
from aventide.accounts.demo import COUNTRIES
from aventide.accounts.models import User
from aventide.core.principal import SYSTEM, Principal
from aventide.markets.models import Country

PASSWORD = "Correct-Horse-Battery-9"
_seq = itertools.count(1)


def ensure_countries() -> None:
    for code, name, currency, window, fee in COUNTRIES:
        Country.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "currency": currency,
                "dispute_window_hours": window,
                "platform_fee_bps": fee,
            },
        )


def make_user(
    *, email: str | None = None, country_code: str = "AR", password: str = PASSWORD, **extra: Any
) -> User:
    ensure_countries()
    email = email or f"user{next(_seq)}@example.test"
    return User.objects.create_user(
        email=email, password=password, country_code=country_code, **extra
    )


def make_staff(
    *,
    level: str | None = "L1",
    countries: tuple[str, ...] = ("AR",),
    ops_lead: bool = False,
    superuser: bool = False,
    country_code: str | None = None,
    email: str | None = None,
) -> User:
    """A staff user; profile and scopes granted through the services (system actor)."""
    home = country_code or (countries[0] if countries else "AR")
    user = make_user(
        email=email or f"staff{next(_seq)}@example.test",
        country_code=home,
        is_staff=True,
        is_superuser=superuser,
    )
    if level is not None:
        profile = services.staff_profile_set(
            actor=SYSTEM, user=user, level=level, is_ops_lead=ops_lead
        )
        for code in countries:
            services.staff_scope_grant(actor=SYSTEM, staff=profile, country_code=code)
    return User.objects.get(pk=user.pk)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def login_headers(user: User) -> dict[str, str]:
    return bearer(services.session_start(user=user, method="password").access)


def anon_headers(anon_id: Any, signature: str) -> dict[str, str]:
    return {"HTTP_X_ANONYMOUS_ID": str(anon_id), "HTTP_X_ANONYMOUS_SIGNATURE": signature}


def issue_anon(*, order_id: int = 1, country_code: str = "AR", **kwargs: Any) -> Any:
    return services.anonymous_identity_issue(order_id=order_id, country_code=country_code, **kwargs)


def principal(user: User) -> Principal:
    """The principal of ``user`` as authentication would resolve it (fresh from the DB)."""
    return principal_for_user(User.objects.select_related("staff_profile").get(pk=user.pk))


def anonymous_principal(anon_id: Any) -> Principal:
    """The principal of a usable anonymous identity."""
    resolved = selectors.anonymous_principal_get(anon_id=anon_id)
    assert resolved is not None, "the identity is revoked, expired or unknown"
    return resolved
