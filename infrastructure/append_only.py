"""The event table refuses rewriting history: triggers reject UPDATE and DELETE (and TRUNCATE on
PostgreSQL) of stored events. Snapshots and read models stay writable."""

from __future__ import annotations

from infrastructure.sql_database import SqlDatabase

REFUSAL = "chatledger: the event log is append-only"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS stored_events_refuse_{operation} BEFORE {operation.upper()} "
    f"ON stored_events BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    for operation in ("update", "delete")
]

POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION chatledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL} (% refused)', TG_OP "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE OR REPLACE TRIGGER chatledger_events_refuse_rewrite BEFORE UPDATE OR DELETE "
    "ON chatledger_events FOR EACH ROW EXECUTE FUNCTION chatledger_refuse_rewrite()",
    "CREATE OR REPLACE TRIGGER chatledger_events_refuse_truncate BEFORE TRUNCATE "
    "ON chatledger_events FOR EACH STATEMENT EXECUTE FUNCTION chatledger_refuse_rewrite()",
]


INSTALLED = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
    "AND name LIKE 'stored_events_refuse_%'",
    "postgres": "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
    "AND tgrelid = 'chatledger_events'::regclass AND tgname LIKE 'chatledger_events_refuse_%'",
}


def protect_event_log(database: SqlDatabase) -> None:
    """Install the triggers once; the event table must exist. An application role without the
    right to create them (least privilege) finds them installed by the owner and leaves them."""
    statements = SQLITE_TRIGGERS if database.dialect == "sqlite" else POSTGRES_TRIGGERS
    with database.transaction() as cursor:
        cursor.execute(INSTALLED[database.dialect])
        if cursor.fetchone()[0] == 2:  # both triggers there
            return
        database.lock_schema(cursor)
        for statement in statements:
            cursor.execute(statement)
