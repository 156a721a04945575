"""The read models' database and views for the configured backend."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

from chatledger.infrastructure.read_store.sql_database import SqlDatabase, SQLiteDatabase
from chatledger.infrastructure.read_store.sql_views import SqlAuditIndex, SqlMessageTable, SqlStats
from chatledger.infrastructure.settings import (
    CONNECT_PARAMETERS,
    Settings,
    eventsourcing_env,
    pool_shares,
)
from chatledger.projections.views import ReadModelView

# What pg_stat_activity shows for the read models' connections, unless the URL names one.
READ_MODELS_APPLICATION_NAME = "chatledger read models"


def read_model_database(settings: Settings) -> SqlDatabase:
    """The read models live beside the events: the same SQLite file, or the same schema. On
    PostgreSQL, one connection first checks that the server answers and the schema exists."""
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
        "fallback_application_name": READ_MODELS_APPLICATION_NAME,
        **json.loads(env[CONNECT_PARAMETERS]),  # TLS and the URL's other libpq parameters
    }
    schema = env["POSTGRES_SCHEMA"]
    # Here, not at the top: the driver is the `postgres` extra, which SQLite users do not install.
    from chatledger.infrastructure.read_store.postgres_database import PostgresDatabase
    from chatledger.infrastructure.store.postgres_store import check_database

    check_database(env)
    pool_size = pool_shares(settings.postgres_pool_size).read_models
    return PostgresDatabase(conninfo, schema, pool_size, settings.lock_timeout_s)


def sql_views(database: SqlDatabase) -> list[ReadModelView]:
    """The three read models, in the order they are caught up; each view holds the database
    (closing the last closes it): the first takes the caller's hold."""
    return [SqlMessageTable(database), SqlStats(database.shared()),
            SqlAuditIndex(database.shared())]  # fmt: skip
