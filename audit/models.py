"""Audit events and their Merkle seals: append-only (WORM).

Immutability is enforced twice: here (``save()`` of an existing row, ``delete()``, queryset
``update()``/``delete()``/``bulk_update()`` raise ``AuditImmutable``) and in the database
(migration ``0002_worm_triggers``: triggers reject UPDATE, DELETE and TRUNCATE), so neither a
bug nor raw SQL can rewrite history. Write events only through ``audit.services.record``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, NoReturn

from django.db import models

from audit import canonical
from audit.errors import AuditImmutable

GENESIS_DIGEST = ""  # prev_seal_digest of the first seal


def _refuse(what: str) -> NoReturn:
    raise AuditImmutable(f"Audit records are append-only (WORM): {what} is not allowed.")


class AppendOnlyQuerySet(models.QuerySet[Any]):
    """A queryset that can read and insert, never change or remove rows."""

    def update(self, **kwargs: Any) -> int:
        _refuse("update()")

    def delete(self) -> tuple[int, dict[str, int]]:
        _refuse("delete()")

    def bulk_update(
        self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        _refuse("bulk_update()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("update_or_create()")

    def _raw_delete(self, using: Any) -> int:
        _refuse("delete()")

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        for obj in objs:
            obj.prepare_for_insert()
        return super().bulk_create(objs, *args, **kwargs)


class AppendOnlyModel(models.Model):
    """Base of the audit models: insert once, then read only."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            _refuse("changing a saved row")
        self.prepare_for_insert()
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse("delete()")

    def prepare_for_insert(self) -> None:
        """Fill derived fields (the digest) right before the row is inserted."""


class EventManager(models.Manager["Event"]):
    def get_queryset(self) -> AppendOnlyQuerySet:
        return AppendOnlyQuerySet(self.model, using=self._db)


class Event(AppendOnlyModel):
    """One attributable audit event. ``digest`` = SHA-256 of the canonical JSON of every field
    except ``id`` (see ``audit.canonical.event_payload``)."""

    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    actor_level = models.CharField(max_length=16, blank=True, default="")
    country_code = models.CharField(max_length=2, blank=True, default="", db_index=True)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    data = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64, editable=False)

    objects: ClassVar[EventManager] = EventManager()

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.target_type}:{self.target_id}"

    def digest_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in canonical.EVENT_DIGEST_FIELDS}

    def compute_digest(self) -> str:
        return canonical.event_digest(**self.digest_fields())

    def prepare_for_insert(self) -> None:
        self.data = canonical.normalize_json(self.data if self.data is not None else {})
        self.digest = self.compute_digest()


class SealManager(models.Manager["Seal"]):
    def get_queryset(self) -> AppendOnlyQuerySet:
        return AppendOnlyQuerySet(self.model, using=self._db)


class Seal(AppendOnlyModel):
    """A Merkle seal over the events with ``first_id <= id <= last_id`` (ids listed in ``gaps``
    did not exist when sealing: rolled-back inserts). Seals form a hash chain through
    ``prev_seal_digest``; ``digest`` = SHA-256 of the canonical JSON of every field except id."""

    first_id = models.BigIntegerField(unique=True)
    last_id = models.BigIntegerField(unique=True)
    count = models.PositiveIntegerField()
    merkle_root = models.CharField(max_length=64)
    prev_seal_digest = models.CharField(max_length=64, unique=True, blank=True)
    gaps = models.JSONField(default=list, blank=True)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField()

    objects: ClassVar[SealManager] = SealManager()

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(first_id__lte=models.F("last_id")),
                name="audit_seal_range_ordered",
            ),
            models.CheckConstraint(condition=models.Q(count__gt=0), name="audit_seal_not_empty"),
        ]

    def __str__(self) -> str:
        return f"seal #{self.pk} events {self.first_id}..{self.last_id}"

    def compute_digest(self) -> str:
        return canonical.seal_digest(
            first_id=self.first_id,
            last_id=self.last_id,
            count=self.count,
            merkle_root=self.merkle_root,
            prev_seal_digest=self.prev_seal_digest,
            gaps=self.gaps,
            created_at=self.created_at,
        )

    def prepare_for_insert(self) -> None:
        self.digest = self.compute_digest()
