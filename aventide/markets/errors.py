"""Domain errors of markets."""

from __future__ import annotations

from aventide.core.errors import NotFound


class CountryNotFound(NotFound):
    code = "COUNTRY_NOT_FOUND"
    default_message = "This country is not served."


__all__ = ["CountryNotFound"]
