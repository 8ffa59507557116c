"""Marketplace policy per country: what orders, ledger and accounts read.

Plain reads, no cache: policy is read once per money step (capture freezes the fee into the
order's snapshot) or per batch job, never per request on a hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from aventide.markets.errors import CountryNotFound
from aventide.markets.models import Country


@dataclass(frozen=True, slots=True)
class CountryPolicy:
    code: str
    currency: str
    platform_fee_bps: int
    dispute_window_hours: int


def country_policy(code: str) -> CountryPolicy:
    """The policy of an active country; ``COUNTRY_NOT_FOUND`` (404) otherwise."""
    country = Country.objects.filter(code=(code or "").upper(), active=True).first()
    if country is None:
        raise CountryNotFound()
    return CountryPolicy(
        code=country.code,
        currency=country.currency,
        platform_fee_bps=country.platform_fee_bps,
        dispute_window_hours=country.dispute_window_hours,
    )


def is_active_country(code: str) -> bool:
    return Country.objects.filter(code=(code or "").upper(), active=True).exists()


def active_country_codes() -> frozenset[str]:
    return frozenset(Country.objects.filter(active=True).values_list("code", flat=True))


def all_country_codes() -> frozenset[str]:
    return frozenset(Country.objects.values_list("code", flat=True))
