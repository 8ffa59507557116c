"""The realtime event log: one ``Event`` per published change, one ``InboxEntry`` per
(audience key, event) -- fan-out on write, so a principal's catchup is one index range scan.

- ``Event.id`` (bigserial) is the cursor, for WebSocket resume and REST catchup alike.
- Rows are immutable: the models refuse updates and so does the database (a trigger rejects
  UPDATE on both tables, migration 0002). Rows are deleted only by the retention purge
  (``realtime.services.purge_expired``), which records how far it went in ``RetentionMark``
  so a cursor into the purged range answers ``CURSOR_EXPIRED`` instead of a partial list.
- Payloads are what clients see: ids and states, never PII (``publish`` redacts them like
  log lines as a safety net).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

from realtime.contracts import STREAM_MAX_LENGTH
from realtime.errors import EventImmutable

#: ``user:<19 digits>`` / ``anon:<uuid>`` / ``staff:CC``: an audience key fits a stream name.
AUDIENCE_KEY_MAX_LENGTH = STREAM_MAX_LENGTH
EVENT_TYPE_MAX_LENGTH = 64


def _refuse(what: str) -> NoReturn:
    raise EventImmutable(f"Realtime events are immutable: {what} is not allowed.")


class InsertOnlyQuerySet(models.QuerySet[Any]):
    """Read and insert; no update through the ORM (deletes are the purge's, by raw SQL)."""

    def update(self, **kwargs: Any) -> int:
        _refuse("update()")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        _refuse("bulk_update()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("update_or_create()")


class InsertOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            _refuse("changing a saved row")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)


class Event(InsertOnlyModel):
    id = models.BigAutoField(primary_key=True)
    stream = models.CharField(max_length=STREAM_MAX_LENGTH)
    type = models.CharField(max_length=EVENT_TYPE_MAX_LENGTH)
    payload = models.JSONField(default=dict)
    country_code = models.CharField(max_length=2, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        # WebSocket resume of one stream: (stream, id > since), then the inbox PK says
        # whether the principal is in the audience.
        indexes = [models.Index(fields=["stream", "id"], name="realtime_event_stream_id")]

    def __str__(self) -> str:
        return f"{self.stream} #{self.pk} {self.type}"


class InboxEntry(InsertOnlyModel):
    """The event ``event`` is addressed to ``audience_key``. The composite primary key
    ``(audience_key, event_id)`` is the catchup index: a principal's events after a cursor
    are one range scan per key. ``stream`` is denormalized for filtering without a join."""

    pk = models.CompositePrimaryKey("audience_key", "event")
    audience_key = models.CharField(max_length=AUDIENCE_KEY_MAX_LENGTH)
    event = models.ForeignKey(Event, on_delete=models.DO_NOTHING, related_name="inbox")
    stream = models.CharField(max_length=STREAM_MAX_LENGTH)

    objects = InsertOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "inbox entries"

    def __str__(self) -> str:
        return f"{self.audience_key} <- #{self.event_id}"


class RetentionMark(models.Model):
    """One row: the highest event id the retention purge has deleted (0: none yet). A
    cursor below it may have lost events to the purge -> ``CURSOR_EXPIRED``."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    purged_upto = models.BigIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"purged up to #{self.purged_upto}"


from realtime.push.models import PushSubscription  # noqa: E402,F401 -- Web Push (realtime/push)
