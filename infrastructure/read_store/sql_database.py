"""One small interface over sqlite3 and psycopg for the read models: a transaction yields a
cursor that takes `?` placeholders, and driver errors become eventsourcing's persistence errors
(so the read side can handle them without knowing the driver)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, Self

from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

Rows = Sequence[Sequence[Any]]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class SqlDatabase(Protocol):
    dialect: str

    def transaction(self, *, write: bool = True) -> Any: ...
    def lock_schema(self, cursor: Cursor) -> None: ...
    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...
    def add_to_counters(
        self, cursor: Cursor, table: str, keys: Sequence[str], rows: Rows, *, staging: str
    ) -> None: ...
    def drop_table(self, cursor: Cursor, table: str, *, zero_pages: bool) -> None: ...
    def release_freed_pages(self) -> bool: ...
    def shared(self) -> Self: ...
    def close(self) -> None: ...


class SharedConnections:
    """Connections that several parts of a process hold (the content key store, each view, the
    HTTP service's stores), so that the process opens one pool for them all: each holder
    closes once, and the connections close with the last."""

    def __init__(self) -> None:
        self.holders = 1
        self.holders_lock = threading.Lock()

    def shared(self) -> Self:
        """The same connections, held once more."""
        with self.holders_lock:
            self.holders += 1
        return self

    def close(self) -> None:
        with self.holders_lock:
            if self.holders == 0:
                return
            self.holders -= 1
            if self.holders:
                return
        self.close_connections()

    def close_connections(self) -> None:
        raise NotImplementedError


def counter_upsert(table: str, keys: Sequence[str], source: str) -> str:
    """Add to counters from `source`: `?` marks for one row, or a SELECT of rows."""
    columns = ", ".join([*keys, "value"])
    values = f"VALUES ({', '.join('?' * (len(keys) + 1))})" if source == "?" else source
    return (
        f"INSERT INTO {table} ({columns}) {values} ON CONFLICT ({', '.join(keys)}) "
        f"DO UPDATE SET value = {table}.value + excluded.value"
    )


def translated_error(error: Exception, integrity: type[Exception]) -> PersistenceError:
    """A driver's error as eventsourcing's kind; `integrity` is the driver's IntegrityError."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, integrity):
        return IntegrityError(message)
    return OperationalError(message)


# Called for every None that is bound. The lookup of an empty dict returns None for any key
# and runs no Python frame, unlike a function written in Python.
_NOTHING: dict[object, None] = {}
_bound_as_null = _NOTHING.get


class SQLiteDatabase(SharedConnections):
    """One connection per thread: readers never wait behind a writer's batch (WAL)."""

    dialect = "sqlite"

    def __init__(self, path: str, lock_timeout_s: float = 5.0) -> None:
        super().__init__()
        # sqlite3 (3.11) looks for an adapter for every None it binds, the slow way (a registry
        # miss, then two attribute lookups); a message row binds about nine. An adapter found at
        # once binds the same NULL, and cut a third of the binding time of such rows.
        # (Process-wide, like every sqlite3 adapter; registering it again is harmless.)
        sqlite3.register_adapter(type(None), _bound_as_null)
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self.local = threading.local()
        self.opened: list[sqlite3.Connection] = []

    def connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=self.lock_timeout_s,
                check_same_thread=False,
            )
            connection.execute("PRAGMA journal_mode=WAL")
            # Read models are derived: a batch lost to a power cut rolls back together with its
            # position and is applied again from the (fully durable) event log. So their commits
            # skip the fsync; atomicity and order are unchanged.
            connection.execute("PRAGMA synchronous=NORMAL")
            # A rebuild writes a whole table through the WAL. Copying it back to the database
            # every 40 MB rather than SQLite's 4 MB copies pages that every batch touches once,
            # with a tenth of the fsyncs (paired runs: the messages rebuild about 10% faster).
            # The WAL file may stay that large; the event store's connections keep the default.
            connection.execute("PRAGMA wal_autocheckpoint=10000")
            # Deleted and overwritten content is zeroed, not left in the page's free space or
            # on the free list: after an erasure no plaintext of the user stays in the file.
            connection.execute("PRAGMA secure_delete=ON")
            self.local.connection = connection
            self.opened.append(connection)
        return connection

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Cursor]:
        connection = self.connection()
        cursor = connection.cursor()
        try:
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads first
            # can fail to upgrade in WAL mode when another writer committed meanwhile.
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield cursor
            connection.commit()
        except sqlite3.Error as error:
            connection.rollback()
            raise translated_error(error, sqlite3.IntegrityError) from error
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()

    def lock_schema(self, cursor: Cursor) -> None:
        """BEGIN IMMEDIATE already serialises writers, schema changes included."""

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def add_to_counters(
        self, cursor: Cursor, table: str, keys: Sequence[str], rows: Rows, *, staging: str
    ) -> None:
        """Each row is a counter's key columns, then a value to add to it (one row per key);
        a missing counter starts at the value. The table's columns: keys, then `value`.
        (`staging` names PostgreSQL's temporary table for tables of this shape.)"""
        cursor.executemany(counter_upsert(table, keys, "?"), rows)

    def drop_table(self, cursor: Cursor, table: str, *, zero_pages: bool) -> None:
        """Without zero_pages, the table's pages go to the free list as they are, which
        secure_delete=ON would zero and write through the WAL (0.2 s for the audit index at
        100,000 messages). Only for tables that hold no content: a freed page can become a
        free-list trunk page, and one of those reused as an overflow page keeps its old tail."""
        if zero_pages:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            return
        cursor.execute("PRAGMA secure_delete=FAST")
        try:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            cursor.execute("PRAGMA secure_delete=ON")

    def release_freed_pages(self) -> bool:
        """Copy the WAL into the file and truncate it to nothing: the WAL keeps old versions
        of pages (with content since erased) until it is overwritten. False when a reader kept
        the checkpoint from finishing (it runs again at the next erasure)."""
        busy, _, _ = self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def close_connections(self) -> None:
        for connection in self.opened:
            connection.close()
        self.opened.clear()
