"""Database triggers that make tables append-only (UPDATE/DELETE/TRUNCATE refused).

One definition used by the migrations of every append-only table (audit events and seals,
ledger transactions, entries and snapshots) and by the test-only flush wrapper. PostgreSQL
gets a plpgsql function plus row and statement triggers; SQLite gets BEFORE UPDATE/DELETE
triggers. Only the table owner (``ALTER TABLE ... DISABLE TRIGGER``) can get around them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppendOnlyTriggers:
    function: str  # PostgreSQL function name
    suffix: str  # trigger names: <table>_<suffix>_row / _truncate / _update / _delete
    code: str  # error code at the start of the message (e.g. AUDIT_IMMUTABLE)
    reason: str  # text after "is not allowed", e.g. "(audit records are append-only)"
    tables: tuple[str, ...]

    def pg_function(self) -> str:
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{self.code}: % on %.% is not allowed {self.reason}',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

    def pg_forward(self, table: str) -> list[str]:
        return [
            f"CREATE TRIGGER {table}_{self.suffix}_row BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {self.function}();",
            f"CREATE TRIGGER {table}_{self.suffix}_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {self.function}();",
        ]

    def pg_backward(self, table: str) -> list[str]:
        return [
            f"DROP TRIGGER IF EXISTS {table}_{self.suffix}_row ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_{self.suffix}_truncate ON {table};",
        ]

    def sqlite_forward(self, table: str) -> list[str]:
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_{self.suffix}_{op.lower()} BEFORE {op} "
            f"ON {table} BEGIN SELECT RAISE(ABORT, '{self.code}: {op} on {table} is not "
            f"allowed {self.reason}'); END;"
            for op in ("UPDATE", "DELETE")
        ]

    def sqlite_backward(self, table: str) -> list[str]:
        return [
            f"DROP TRIGGER IF EXISTS {table}_{self.suffix}_{op};" for op in ("update", "delete")
        ]

    def forward(self, vendor: str) -> list[str]:
        if vendor == "postgresql":
            return [self.pg_function()] + [s for t in self.tables for s in self.pg_forward(t)]
        if vendor == "sqlite":
            return [s for t in self.tables for s in self.sqlite_forward(t)]
        raise RuntimeError(f"append-only triggers are not implemented for {vendor!r}")

    def backward(self, vendor: str) -> list[str]:
        if vendor == "postgresql":
            return [s for t in self.tables for s in self.pg_backward(t)] + [
                f"DROP FUNCTION IF EXISTS {self.function}();"
            ]
        if vendor == "sqlite":
            return [s for t in self.tables for s in self.sqlite_backward(t)]
        return []
