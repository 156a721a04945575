"""The event table refuses rewriting history: triggers reject UPDATE and DELETE (and TRUNCATE on
PostgreSQL) of stored events. They are created with the table, by the recorders that create it;
snapshots and read models stay writable."""

from __future__ import annotations

REFUSAL = "chatledger: the event log is append-only"


def sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_refuse_{operation} BEFORE {operation.upper()} "
        f"ON {table} BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        for operation in ("update", "delete")
    ]


def postgres_triggers(schema: str, table: str) -> list[str]:
    """Identifiers come from eventsourcing's configuration (schema and application name)."""
    function = f'"{schema}".chatledger_refuse_rewrite()'
    return [
        f"CREATE OR REPLACE FUNCTION {function} RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END $$",
        f'CREATE OR REPLACE TRIGGER {table}_refuse_rewrite BEFORE UPDATE OR DELETE ON "{schema}".'
        f'"{table}" FOR EACH ROW EXECUTE FUNCTION {function}',
        f'CREATE OR REPLACE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON "{schema}".'
        f'"{table}" FOR EACH STATEMENT EXECUTE FUNCTION {function}',
    ]
