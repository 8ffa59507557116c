"""audit.services.record: attribution from the context, redaction, stable digests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from audit.errors import AuditTargetInvalid
from audit.models import Event
from audit.selectors import events_for, events_for_target
from audit.services import record
from aventide.core import context
from aventide.core.principal import SYSTEM, Principal, PrincipalKind

pytestmark = pytest.mark.django_db


def test_record_takes_request_id_and_actor_from_the_context() -> None:
    actor = Principal(kind=PrincipalKind.USER, id="7", level="buyer", country_code="AR")
    with context.bound_context(request_id="req-abc.123", principal=actor), transaction.atomic():
        event = record("order.created", "order:42", data={"amountMinor": 1500})
    stored = Event.objects.get(pk=event.pk)
    assert (stored.actor_type, stored.actor_id, stored.actor_level) == ("user", "7", "buyer")
    assert stored.request_id == "req-abc.123"
    assert stored.country_code == "AR"
    assert (stored.target_type, stored.target_id) == ("order", "42")
    assert stored.action == "order.created"
    assert stored.data == {"amountMinor": 1500}
    assert stored.occurred_at.tzinfo is not None


def test_record_redacts_data_like_the_logs() -> None:
    with transaction.atomic():
        event = record(
            "recipient.invited",
            "order:1",
            data={
                "recipient": {"name": "Ana", "email": "ana.perez@example.com"},
                "note": "call me at +54 11 5555-1234 or mail ana@example.com",
                "accessToken": "secret-value",
                "password": "hunter2",
            },
        )
    stored = Event.objects.get(pk=event.pk).data
    assert stored["recipient"] == {"name": "Ana", "email": "[email]"}
    assert "ana@example.com" not in stored["note"] and "[email]" in stored["note"]
    assert "5555" not in stored["note"]
    assert stored["accessToken"] == "[REDACTED]"
    assert stored["password"] == "[REDACTED]"


def test_record_without_context_uses_the_system_actor_and_empty_request_id() -> None:
    event = record("job.ran", ("job", 3))
    assert (event.actor_type, event.actor_id, event.actor_level) == ("system", "system", "L0")
    assert event.request_id == ""
    assert event.country_code == ""


def test_record_explicit_actor_and_level_override_the_context() -> None:
    staff = Principal(kind=PrincipalKind.STAFF, id="5", level="L2", country_code="MX")
    l0 = SYSTEM
    with context.bound_context(principal=staff):
        as_role = record("order.accepted", "order:9", actor_level="seller", country_code="ar")
        as_l0 = record("order.completed", "order:9", actor=l0, country_code="AR")
    assert (as_role.actor_id, as_role.actor_level, as_role.country_code) == ("5", "seller", "AR")
    assert (as_l0.actor_type, as_l0.actor_id, as_l0.actor_level) == ("system", "system", "L0")


def test_record_country_defaults_to_the_actor_when_the_target_has_none() -> None:
    with context.bound_context(
        principal=Principal(kind=PrincipalKind.USER, id="1", country_code="UY")
    ):
        event = record("x.y", ("thing", "1"))
    assert event.country_code == "UY"


def test_record_model_target_uses_model_name_pk_and_its_country() -> None:
    ct = ContentType.objects.get_for_model(Event)
    ct.country_code = "PE"  # type: ignore[attr-defined]  # a model instance with a country
    event = record("contenttype.looked_at", ct)
    assert (event.target_type, event.target_id) == ("contenttype", str(ct.pk))
    assert event.country_code == "PE"


@pytest.mark.parametrize("bad", ["order", "order:", ":42", ("order",), ("a", "b", "c")])
def test_record_refuses_malformed_targets(bad: object) -> None:
    with pytest.raises(AuditTargetInvalid) as exc:
        record("x.y", bad)  # type: ignore[arg-type]
    assert exc.value.code == "AUDIT_TARGET_INVALID"


@pytest.mark.parametrize("bad", ["unsaved model", 42, None, ["order", "1"]])
def test_record_refuses_unsaved_models_and_other_target_types(bad: object) -> None:
    target = ContentType(app_label="x", model="y") if bad == "unsaved model" else bad
    with pytest.raises(AuditTargetInvalid) as exc:
        record("x.y", target)  # type: ignore[arg-type]
    assert exc.value.code == "AUDIT_TARGET_INVALID"
    assert not Event.objects.filter(action="x.y").exists()


def test_record_digest_survives_the_database_round_trip() -> None:
    data = {
        "z": 1,
        "a": [1, 2.5, True, None, {"y": "ñandú \u2603", "x": 10**20}],
        "price": Decimal("10.50"),
        "when": datetime(2026, 2, 21, 10, 0, tzinfo=UTC),
        "big": 1e20,
        "nan": float("nan"),
        "nul": "a\x00b",
    }
    event = record("round.trip", "order:1", data=data)
    stored = Event.objects.get(pk=event.pk)
    assert stored.digest == event.digest
    assert stored.compute_digest() == stored.digest
    assert stored.data["price"] == "10.50"
    assert stored.data["big"] == "1e+20"
    assert stored.data["a"][1] == "2.5"


def test_record_digest_covers_every_field() -> None:
    event = record("order.created", "order:1", data={"k": "v"})
    base = event.compute_digest()
    for field, value in [
        ("action", "order.cancelled"),
        ("target_id", "2"),
        ("actor_id", "other"),
        ("country_code", "MX"),
        ("request_id", "r"),
        ("data", {"k": "w"}),
        ("occurred_at", datetime(2020, 1, 1, tzinfo=UTC)),
    ]:
        original = getattr(event, field)
        setattr(event, field, value)
        assert event.compute_digest() != base, field
        setattr(event, field, original)
    assert event.compute_digest() == base


def test_selectors_filter_by_target_and_country_scope() -> None:
    a = record("order.created", "order:1", country_code="AR")
    b = record("order.paid", "order:1", country_code="AR")
    m = record("order.created", "order:2", country_code="MX")
    assert list(events_for_target("order", 1)) == [a, b]
    assert list(events_for(user_scope_countries={"ar"})) == [b, a]
    assert list(events_for(user_scope_countries=set())) == []
    assert set(events_for(user_scope_countries=None)) >= {a, b, m}
    assert list(events_for(user_scope_countries=["MX", "AR"], action="order.created")) == [m, a]
    assert list(events_for(user_scope_countries=None, request_id="nope")) == []


def test_record_stores_the_row_the_orm_would_store() -> None:
    """record() inserts with one hand-written statement; the row equals an Event.save() of
    the same values (every column, the data's JSON and the digest)."""
    data = {"amountMinor": Decimal("12.50"), "n": 3, "nested": {"a": [1, "x", None, True]}}
    with transaction.atomic():
        fast = record("order.created", "order:9", data=data, actor=SYSTEM, country_code="ar")
        orm = Event(
            occurred_at=fast.occurred_at,
            actor_type=fast.actor_type,
            actor_id=fast.actor_id,
            actor_level=fast.actor_level,
            country_code=fast.country_code,
            action=fast.action,
            target_type=fast.target_type,
            target_id=fast.target_id,
            request_id=fast.request_id,
            data=data,
        )
        orm.save()
    assert fast.pk is not None and not fast._state.adding
    columns = [f.attname for f in Event._meta.concrete_fields if not f.primary_key]
    fast_row = Event.objects.filter(pk=fast.pk).values(*columns).get()
    orm_row = Event.objects.filter(pk=orm.pk).values(*columns).get()
    assert fast_row == orm_row
    assert fast_row["digest"] == fast.digest == Event.objects.get(pk=fast.pk).compute_digest()
    assert fast_row["country_code"] == "AR"
