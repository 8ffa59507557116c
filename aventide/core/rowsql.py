"""Hot-path row statements built once per shape, run without the ORM's per-call compilation.

The ORM compiles a queryset to SQL on every evaluation: for a ``select_for_update`` with a
``select_related`` join that is ~1.5 ms of CPU per call, the single largest cost of an order
transition and of a chat send (py-spy, bench/README.md). The shapes used on the hot paths are
few and fixed, so the SQL is built once per (model, joins, lookups) and cached for the
process; only the values change per call (always parameters).

- `lock_row(model, related=..., **equals)`: the row matching column equalities, locked
  ``FOR UPDATE OF`` that row only (joined rows are read, not locked), with forward
  foreign keys in ``related`` loaded like ``select_related`` -- the same instances the ORM
  would build (``Model.from_db``, the fields' converters applied).
- `read_row(model, related=..., **equals)`: the same statement without the lock.
- `update_row(obj, fields, expect=...)`: ``UPDATE ... SET <fields> WHERE pk = %s [AND col
  = %s ...]``, each value prepared by its field exactly as ``save(update_fields=...)`` does
  (``pre_save``: ``auto_now`` included); returns whether the row matched. For a
  state-machine model the ``expect`` columns are the optimistic check
  ``ConcurrentTransitionMixin.save`` would add.

Both only do what the ORM does for plain models: no save signals are sent (callers use them
on models without receivers), no deferred fields, no multi-table inheritance.
docs/decisions/0020-row-statements.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class _Part:
    """One model's columns in the select list."""

    model: type[models.Model]
    attnames: list[str]
    start: int
    converters: list[tuple[int, list[Converter]]]
    field: Any  # the forward relation that joined it (None for the locked row)


@dataclass(frozen=True)
class _LockShape:
    sql: str
    parts: list[_Part]
    lookups: list[Any]  # the fields of the WHERE equalities, in order


_LOCK_SHAPES: dict[tuple[Any, ...], _LockShape] = {}
_UPDATE_SHAPES: dict[tuple[Any, ...], tuple[str, list[Any], list[Any]]] = {}


def _field(model: type[models.Model], name: str) -> Any:
    """A concrete field of ``model`` by name (``pk`` too), typed loosely: the stubs' union of
    field, reverse relation and generic key has none of the column attributes used here."""
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def _converters(
    model: type[models.Model], alias: str, fields: Sequence[Any]
) -> list[tuple[int, list[Converter]]]:
    out: list[tuple[int, list[Converter]]] = []
    for i, f in enumerate(fields):
        col = f.get_col(alias)
        found = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if found:
            out.append((i, found))
    return out


def _lock_shape(
    model: type[models.Model], related: tuple[str, ...], keys: tuple[str, ...], lock: bool = True
) -> _LockShape:
    qn = connection.ops.quote_name
    opts = model._meta
    fields = list(opts.concrete_fields)
    select = [f"t0.{qn(f.column)}" for f in fields]
    parts = [_Part(model, [f.attname for f in fields], 0, _converters(model, "t0", fields), None)]
    joins: list[str] = []
    for n, name in enumerate(related, start=1):
        rel = _field(model, name)
        if not (rel.many_to_one or rel.one_to_one) or not rel.concrete:
            raise ValueError(f"{opts.label}.{name} is not a forward foreign key")
        target: type[models.Model] = rel.related_model
        rfields = list(target._meta.concrete_fields)
        alias = f"t{n}"
        parts.append(
            _Part(
                target,
                [f.attname for f in rfields],
                len(select),
                _converters(target, alias, rfields),
                rel,
            )
        )
        select += [f"{alias}.{qn(f.column)}" for f in rfields]
        kind = "LEFT OUTER JOIN" if rel.null else "INNER JOIN"
        to_column = rel.target_field.column
        joins.append(
            f"{kind} {qn(target._meta.db_table)} {alias}"
            f" ON {alias}.{qn(to_column)} = t0.{qn(rel.column)}"
        )
    lookups = [_field(model, key) for key in keys]
    where = " AND ".join(f"t0.{qn(f.column)} = %s" for f in lookups)
    # Identifiers come from the models' own metadata, quoted; every value is a parameter.
    sql = f"SELECT {', '.join(select)} FROM {qn(opts.db_table)} t0"  # noqa: S608
    if joins:
        sql += " " + " ".join(joins)
    sql += f" WHERE {where}"
    if lock and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF t0"
    elif lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return _LockShape(sql=sql, parts=parts, lookups=lookups)


def _prep_lookup(field: Any, value: Any) -> Any:
    if isinstance(value, models.Model):
        value = value.pk
    if field.is_relation:
        field = field.target_field
    return field.get_db_prep_value(value, connection, prepared=False)


def _in_range(field: Any, value: Any) -> bool:
    """Whether ``value`` fits the column of an integer ``field`` (other fields: always). An id
    from a URL can be any size; PostgreSQL would refuse one past bigint with an error."""
    target = field.target_field if field.is_relation else field
    bounds = connection.ops.integer_field_ranges.get(target.get_internal_type())
    if bounds is None or not isinstance(value, int):
        return True
    low, high = bounds
    return bool(low <= value <= high)


def _build(part: _Part, row: Sequence[Any]) -> models.Model | None:
    values = list(row[part.start : part.start + len(part.attnames)])
    for i, converters in part.converters:
        value = values[i]
        for convert in converters:
            value = convert(value, None, connection)
        values[i] = value
    if part.field is not None and values[0] is None:  # LEFT JOIN without a row
        return None
    return part.model.from_db(connection.alias, part.attnames, values)


def lock_row(model: type[M], *, related: Sequence[str] = (), **equals: Any) -> M | None:
    """The row of ``model`` whose columns equal ``equals`` (``pk=`` or field names; one row
    expected, the first is returned), locked until the transaction ends; None when there is
    none. ``related``: forward foreign keys to load in the same statement."""
    if not connection.in_atomic_block:  # what the ORM's select_for_update refuses too
        raise TransactionManagementError("lock_row outside a transaction locks nothing")
    return _row(model, tuple(related), equals, lock=True)


def read_row(model: type[M], *, related: Sequence[str] = (), **equals: Any) -> M | None:
    """`lock_row` without the lock: the row as the ORM's ``filter(**equals).first()`` would
    read it (without its ORDER BY), for hot read paths."""
    return _row(model, tuple(related), equals, lock=False)


def _row(
    model: type[M], related: tuple[str, ...], equals: dict[str, Any], *, lock: bool
) -> M | None:
    keys = tuple(sorted(equals))
    if not keys:
        raise ValueError("a row statement needs at least one lookup")
    shape_key = (connection.vendor, model, related, keys, lock)
    shape = _LOCK_SHAPES.get(shape_key)
    if shape is None:
        shape = _LOCK_SHAPES[shape_key] = _lock_shape(model, related, keys, lock)
    params = [_prep_lookup(f, equals[k]) for f, k in zip(shape.lookups, keys, strict=True)]
    if not all(_in_range(f, v) for f, v in zip(shape.lookups, params, strict=True)):
        return None  # no such row, and no query (the ORM answers an empty result too)
    with connection.cursor() as cursor:
        cursor.execute(shape.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj = _build(shape.parts[0], row)
    assert obj is not None
    for part in shape.parts[1:]:
        part.field.set_cached_value(obj, _build(part, row))
    return obj  # type: ignore[return-value]


def update_row(
    obj: models.Model, fields: Sequence[str], *, expect: dict[str, Any] | None = None
) -> bool:
    """Write ``fields`` of ``obj`` to its row (``pre_save`` applied, like
    ``save(update_fields=fields)``) where the primary key and the ``expect`` columns match;
    True when a row was updated."""
    expect = expect or {}
    model = type(obj)
    opts = model._meta
    shape_key = (connection.vendor, model, tuple(fields), tuple(sorted(expect)))
    shape = _UPDATE_SHAPES.get(shape_key)
    if shape is None:
        qn = connection.ops.quote_name
        set_fields = [_field(model, name) for name in fields]
        checks = [_field(model, name) for name in sorted(expect)]
        assignments = ", ".join(f"{qn(f.column)} = %s" for f in set_fields)
        conditions = " AND ".join(
            [f"{qn(opts.pk.column)} = %s"] + [f"{qn(f.column)} = %s" for f in checks]
        )
        # Identifiers from the model's metadata, quoted; every value is a parameter.
        sql = f"UPDATE {qn(opts.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
        shape = _UPDATE_SHAPES[shape_key] = (sql, set_fields, checks)
    sql, set_fields, checks = shape
    params = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in set_fields]
    params.append(opts.pk.get_db_prep_value(obj.pk, connection))
    params += [f.get_db_prep_value(expect[f.name], connection, prepared=False) for f in checks]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.rowcount == 1)
