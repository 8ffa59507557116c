"""Per-country settings (currency, platform fee, dispute window) for the apps above accounts."""

from __future__ import annotations

from dataclasses import dataclass

from aventide.accounts.models import Country
from aventide.core.errors import NotFound


class CountryNotFound(NotFound):
    code = "COUNTRY_NOT_FOUND"
    default_message = "This country is not served."


@dataclass(frozen=True)
class CountrySettings:
    code: str
    currency: str
    platform_fee_bps: int
    dispute_window_hours: int


def country_settings(code: str) -> CountrySettings:
    """Settings of an active country; CountryNotFound (404) otherwise."""
    country = Country.objects.filter(code=(code or "").upper(), active=True).first()
    if country is None:
        raise CountryNotFound()
    return CountrySettings(
        code=country.code,
        currency=country.currency,
        platform_fee_bps=country.platform_fee_bps,
        dispute_window_hours=country.dispute_window_hours,
    )


def active_country_codes() -> list[str]:
    return list(Country.objects.filter(active=True).values_list("code", flat=True))
