"""Field validators shared by every app's models."""

from __future__ import annotations

from django.core.validators import RegexValidator

country_code_validator = RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2 code, upper case.")
currency_validator = RegexValidator(r"^[A-Z]{3}$", "ISO 4217 code, upper case.")
