"""Money rows are append-only in the database: corrections are new transactions."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from aventide.core.principal import SYSTEM
from aventide.ledger import services
from aventide.ledger.services import EntrySpec

pytestmark = pytest.mark.django_db


def _post() -> int:
    txn = services.ledger_post(
        actor=SYSTEM,
        entries=[EntrySpec("buyer_payments:1", -100), EntrySpec("escrow:order:1", 100)],
        idempotency_key="append-only-1",
        reason="capture",
        currency="ARS",
        order_id=1,
    )
    return txn.pk


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET amount_minor = 1 WHERE txn_id = %s",
        "DELETE FROM ledger_entry WHERE txn_id = %s",
        "UPDATE ledger_transaction SET reason = 'x' WHERE id = %s",
        "DELETE FROM ledger_transaction WHERE id = %s",
    ],
    ids=["update-entry", "delete-entry", "update-transaction", "delete-transaction"],
)
def test_raw_sql_cannot_rewrite_money(sql: str) -> None:
    txn_id = _post()
    with (
        pytest.raises(DatabaseError, match="LEDGER_IMMUTABLE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [txn_id])


def test_escrow_balance_rows_stay_updatable() -> None:
    _post()
    services.ledger_post(
        actor=SYSTEM,
        entries=[EntrySpec("escrow:order:1", -100), EntrySpec("buyer_refund:1", 100)],
        idempotency_key="append-only-2",
        reason="refund",
        currency="ARS",
        order_id=1,
    )
    from aventide.ledger.selectors import balance_of

    assert balance_of("escrow:order:1", "ARS") == 0
