"""The read models' database and views for the configured backend."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

from chatledger.infrastructure.read_store.sql_database import SqlDatabase, SQLiteDatabase
from chatledger.infrastructure.read_store.sql_views import SqlAuditIndex, SqlMessageTable, SqlStats
from chatledger.infrastructure.settings import CONNECT_PARAMETERS, Settings, eventsourcing_env
from chatledger.projections.views import ReadModelView


def read_model_database(settings: Settings) -> SqlDatabase:
    """The read models live beside the events: the same SQLite file, or the same schema."""
    env = eventsourcing_env(settings)
    if "SQLITE_DBNAME" in env:
        return SQLiteDatabase(env["SQLITE_DBNAME"], lock_timeout_s=settings.lock_timeout_s)
    parts = urlsplit(settings.database_url.get_secret_value())
    conninfo = {
        "host": env["POSTGRES_HOST"],
        "port": int(env["POSTGRES_PORT"]),
        "dbname": env["POSTGRES_DBNAME"],
        "user": env["POSTGRES_USER"],
        "password": unquote(parts.password or ""),
        "connect_timeout": settings.postgres_connect_timeout_s,
        **json.loads(env[CONNECT_PARAMETERS]),  # TLS and the URL's other libpq parameters
    }
    schema = env["POSTGRES_SCHEMA"]
    # Here, not at the top: the driver is the `postgres` extra, which SQLite users do not install.
    from chatledger.infrastructure.read_store.postgres_database import PostgresDatabase

    return PostgresDatabase(conninfo, schema, settings.postgres_pool_size, settings.lock_timeout_s)


def sql_views(database: SqlDatabase) -> list[ReadModelView]:
    """The three read models, in the order they are caught up."""
    return [SqlMessageTable(database), SqlStats(database), SqlAuditIndex(database)]
