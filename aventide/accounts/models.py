"""Users, staff levels and scopes, anonymous identities, refresh-token families.

- `User` logs in with its email (stored lower-cased, unique) or Google, and belongs to a country.
- `StaffProfile` gives a staff user a level (L1 < L2 < L3) and the ops-lead flag;
  `StaffCountryScope` rows are the countries the staff member may operate in (none = nothing
  operational). Who may see what is decided only by `aventide.accounts.scope` (ScopeGuard).
- `AnonymousIdentity` is a gift recipient without an account: bound to one order (by id --
  accounts never imports orders) and one role, expiring, revocable.
- `RefreshFamily`/`RefreshToken`: rotating refresh tokens. Each refresh token is single-use;
  presenting a used one revokes its whole family (and with it the access tokens of that login).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from aventide.core.validators import country_code_validator


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
    is_seller = models.BooleanField(default=False)
    google_sub = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="Google account id (`sub`) linked by Google login.",
    )
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


class StaffLevel(models.TextChoices):
    L1 = "L1", "L1 agent"
    L2 = "L2", "L2 agent"
    L3 = "L3", "L3 country ops lead"


class StaffProfile(models.Model):
    """A staff member's level and ops-lead flag. Countries come from `StaffCountryScope`."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="staff_profile")
    level = models.CharField(max_length=2, choices=StaffLevel.choices, default=StaffLevel.L1)
    is_ops_lead = models.BooleanField(
        default=False, help_text="Ops leads manage staff and scopes of their countries."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__in=["L1", "L2", "L3"]), name="staff_profile_level_valid"
            )
        ]

    def __str__(self) -> str:
        return f"staff:{self.user_id} {self.level}{' ops-lead' if self.is_ops_lead else ''}"


class StaffCountryScope(models.Model):
    """One country a staff member may operate in."""

    staff = models.ForeignKey(StaffProfile, on_delete=models.CASCADE, related_name="scopes")
    country_code = models.CharField(max_length=2, validators=[country_code_validator])
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["staff", "country_code"], name="staff_country_scope_unique"
            )
        ]
        indexes = [models.Index(fields=["country_code"], name="staff_scope_country_idx")]

    def __str__(self) -> str:
        return f"scope:{self.staff_id}:{self.country_code}"


ANONYMOUS_ROLES: frozenset[str] = frozenset({"recipient"})


class AnonymousIdentity(models.Model):
    """A signed identity for a party without an account, bound to one order and role.

    The client holds ``anon_id`` and its signature (HMAC over the id, see
    `aventide.accounts.tokens`); the signature itself is never stored.
    """

    anon_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    order_id = models.BigIntegerField(db_index=True)
    country_code = models.CharField(max_length=2, validators=[country_code_validator])
    role = models.CharField(max_length=20, default="recipient")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "anonymous identities"
        indexes = [models.Index(fields=["country_code", "order_id"], name="anon_country_order_idx")]

    def __str__(self) -> str:
        return f"anon:{self.anon_id}"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class RefreshFamily(models.Model):
    """One login session: the chain of refresh tokens rotated from one login."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_families")
    method = models.CharField(max_length=20)  # password | google | register
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="refresh_family_user_idx")]

    def __str__(self) -> str:
        return f"refresh-family:{self.pk}"


class RefreshToken(models.Model):
    """One issued refresh token (by its ``jti``); ``used_at`` set when it was rotated."""

    jti = models.UUIDField(primary_key=True, editable=False)
    family = models.ForeignKey(RefreshFamily, on_delete=models.CASCADE, related_name="tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh:{self.pk}"
