"""Users and countries.

`User` logs in with its email (stored lower-cased, unique) and belongs to a country; staff
levels and country scopes are added by the accounts/auth issue.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

country_code_validator = RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2 code, upper case.")
currency_validator = RegexValidator(r"^[A-Z]{3}$", "ISO 4217 code, upper case.")


class Country(models.Model):
    """A country Aventide operates in, with its per-country settings."""

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


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=(username or "").strip())


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    country_code = models.CharField(
        max_length=2, validators=[country_code_validator], db_index=True
    )
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["country_code"]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return f"user:{self.pk}"

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()
