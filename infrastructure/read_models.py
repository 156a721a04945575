"""Wiring of the read side: the read models' database and views for the configured backend."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from domain.pipeline import PersistencePipeline
from infrastructure.rebuild_worker import ChangesInAnotherProcess
from infrastructure.settings import Settings, eventsourcing_env
from infrastructure.sql_database import PostgresDatabase, SqlDatabase, SQLiteDatabase
from infrastructure.sql_views import SqlAuditIndex, SqlMessageTable, SqlStats
from projections.read_side import ReadSide
from projections.runner import ChangeMaker


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
    }
    schema = parse_qs(parts.query).get("schema", [""])[0]
    return PostgresDatabase(conninfo, schema, settings.postgres_pool_size, settings.lock_timeout_s)


def build_read_side(
    settings: Settings,
    pipeline: PersistencePipeline,
    *,
    catch_up_on_read: bool | None = None,
    batch_size: int = 2000,
    change_maker: ChangeMaker | None = None,
) -> ReadSide:
    """Read-your-writes (catch up on every query) is the embedded default's behaviour. A
    rebuild stages its batches in worker processes where that pays (see
    ChangesInAnotherProcess), unless another change maker is given."""
    database = read_model_database(settings)
    views = [SqlMessageTable(database), SqlStats(database), SqlAuditIndex(database)]
    if catch_up_on_read is None:
        catch_up_on_read = database.dialect == "sqlite"
    return ReadSide(pipeline, views, catch_up_on_read=catch_up_on_read, batch_size=batch_size,
                    change_maker=change_maker or ChangesInAnotherProcess(settings))  # fmt: skip
