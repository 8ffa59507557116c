"""The countries Aventide operates in, with their marketplace policy."""

from __future__ import annotations

from django.db import models

from aventide.core.validators import country_code_validator, currency_validator


class Country(models.Model):
    """A country Aventide operates in, with its per-country policy."""

    code = models.CharField(primary_key=True, max_length=2, validators=[country_code_validator])
    name = models.CharField(max_length=80)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    dispute_window_hours = models.PositiveIntegerField(default=72)
    platform_fee_bps = models.PositiveIntegerField(default=1000)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "countries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform_fee_bps__lte=10000), name="country_fee_bps_lte_10000"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"
