"""The read models' database on PostgreSQL: psycopg with a pool, behind the same interface as
SQLite (sql_database). Imported only where the settings name PostgreSQL: the driver is an extra."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from chatledger.infrastructure.read_store.sql_database import (
    Cursor,
    Rows,
    SharedConnections,
    counter_upsert,
    translated_error,
)

READ_MODEL_SCHEMA_LOCK = 0x43484C52  # "CHLR"


class _QmarkCursor:
    """psycopg takes %s; the read models' SQL is written once, with ?."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.cursor = cursor

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount

    @property
    def description(self) -> Any:
        return self.cursor.description

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # No parameters, no placeholder parsing: DDL may hold a literal %.
        return self.cursor.execute(sql.replace("?", "%s"), params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.cursor.executemany(sql.replace("?", "%s"), rows)

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()

    def fetchone(self) -> Any:
        return self.cursor.fetchone()


class PostgresDatabase(SharedConnections):
    dialect = "postgres"

    def __init__(
        self, conninfo: dict[str, Any], schema: str, pool_size: int, lock_timeout_s: int
    ) -> None:
        super().__init__()
        options = f"-c lock_timeout={lock_timeout_s}s -c idle_in_transaction_session_timeout=60s"
        # Derived data, as for SQLite above: a lost commit is re-applied from the durable log.
        options += " -c synchronous_commit=off"
        if schema:
            options += f" -c search_path={schema}"
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            kwargs={**conninfo, "options": options},
            min_size=1,
            max_size=pool_size,
            timeout=float(conninfo.get("connect_timeout", 5)),
            # A failed connection is given up after the connect timeout, not retried with
            # growing pauses for minutes: the next query then tries the server again at once.
            reconnect_timeout=float(conninfo.get("connect_timeout", 5)),
            check=ConnectionPool.check_connection,
            open=True,
        )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_QmarkCursor]:
        try:
            with (
                self.pool.connection() as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield _QmarkCursor(cursor)
        except psycopg.Error as error:
            raise translated_error(error, psycopg.errors.IntegrityError) from error

    def release_freed_pages(self) -> bool:
        """Old row versions are dead tuples until VACUUM, which pg_dump never shows (the data
        files and the WAL archive keep them until reused or expired: docs/erasure.md)."""
        return True

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """COPY: the rows go to the server as one stream, not as one INSERT each (a rebuild
        inserts every row of the read model, and executemany took 38% of a messages rebuild's
        samples). A duplicate key fails the same way, as an IntegrityError."""
        assert isinstance(cursor, _QmarkCursor)
        if not rows:
            return
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def add_to_counters(
        self, cursor: Cursor, table: str, keys: Sequence[str], rows: Rows, *, staging: str
    ) -> None:
        """As for SQLite, but the rows go by COPY into a temporary table of the session, and
        one INSERT ... SELECT adds them all: an upsert each took most of a statistics
        rebuild's time (a chat's counters are new rows, tens per chat). The temporary table
        is named for the shape, not for `table`: every generation's table shares it, so a
        session makes one, not one per rebuild that it outlives."""
        if not rows:
            return
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        self.insert_rows(cursor, staging, [*keys, "value"], rows)
        # In key order, as the rows come: concurrent writers lock counters in the same order.
        ordered = f"SELECT * FROM {staging} ORDER BY {', '.join(keys)}"
        cursor.execute(counter_upsert(table, keys, ordered))

    def drop_table(self, cursor: Cursor, table: str, *, zero_pages: bool) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")

    def lock_schema(self, cursor: Cursor) -> None:
        # Concurrent CREATE ... IF NOT EXISTS can fail in PostgreSQL's catalog: take turns.
        cursor.execute("SELECT pg_advisory_xact_lock(?)", (READ_MODEL_SCHEMA_LOCK,))

    def close_connections(self) -> None:
        self.pool.close()
