"""The PostgreSQL event store, failing fast, and safe to start from many processes at once.

eventsourcing retries an operational error ten times, 0.2 s apart, inside each recorder call: a
lock timeout or a stopped server would hold one persist for ten times its timeout. ChatLedger
tries once and returns PERSISTENCE_ERROR at once; its commands are idempotent, so the client's
retry (or the next message) is the retry. The log's pages are read in binary, faster than
eventsourcing reads them (log_pages), and also once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresRecorder,
)
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from chatledger.infrastructure.settings import (
    CONNECT_PARAMETERS,
    DatabaseUnreachableError,
    SchemaMissingError,
)
from chatledger.infrastructure.store.append_only import postgres_triggers
from chatledger.infrastructure.store.log_pages import ReadsPagesItself, StoredRow

# Batches of events up to this size are sent in psycopg's pipeline mode (one round trip), larger
# ones statement by statement (see FailFastApplicationRecorder.insert_events_in_turn).
PIPELINED_BYTES = 256 * 1024
# Any constant: the advisory lock that serialises schema creation across processes.
SCHEMA_LOCK_KEY = 0x43484C44  # "CHLD"
# What pg_stat_activity shows for the event store's connections, unless the URL names one.
EVENT_STORE_APPLICATION_NAME = "chatledger events"


class SerialSchemaRecorder(PostgresRecorder):
    """Processes that start together would create the schema together, and PostgreSQL answers
    one of them 'tuple concurrently updated' or a duplicate type. A session advisory lock, held on
    a connection of its own while eventsourcing creates types and tables on others, makes them
    take turns."""

    def create_table(self) -> None:
        with self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


class FailFastAggregateRecorder(SerialSchemaRecorder, PostgresAggregateRecorder):
    """Snapshots: read once, write once."""

    def insert_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.insert_events.__wrapped__(self, *args, **kwargs)

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)


class FailFastApplicationRecorder(
    ReadsPagesItself, SerialSchemaRecorder, PostgresApplicationRecorder
):
    """Events: read once, write once; the table is created append-only."""

    eventsourcings_query = PostgresApplicationRecorder.select_notifications.__wrapped__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        triggers = postgres_triggers(self.datastore.schema, self.events_table_name)
        self.sql_create_statements.extend(SQL(statement).format() for statement in triggers)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if sum(len(event.state) for event in stored_events) <= PIPELINED_BYTES:
            return PostgresApplicationRecorder.insert_events.__wrapped__(
                self, stored_events, **kwargs
            )
        return self.insert_events_in_turn(stored_events)

    def insert_events_in_turn(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """The same statements (lock the table, notify, insert returning the positions) in one
        transaction, one after the other instead of in psycopg's pipeline mode: with a request of
        megabytes, the pipeline could stall for good, the client waiting for results while the
        server waited for the rest of the request (an 8 MB import hung with the table locked)."""
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            self._insert_stored_events(cursor, stored_events)
            return list(self._fetch_ids_after_insert_events(cursor, stored_events) or [])

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)

    def page_rows(self, start: int, limit: int, stop: int | None) -> list[StoredRow]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE notification_id >= %s"
            + ("" if stop is None else " AND notification_id <= %s")
            + " ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        params = (start, limit) if stop is None else (start, stop, limit)
        # Binary: bytea comes as bytes, not as hexadecimal text twice its size.
        with (
            self.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(statement, params, prepare=True)
            rows: list[StoredRow] = cursor.fetchall()
        return rows

    def row_digests(self, originator_id: str, after_version: int) -> list[tuple[int, object]]:
        """RowDigests computed by the server, as row_digest computes them: only the digests
        cross the connection, not the states."""
        statement = SQL(
            "SELECT originator_version, sha256(sha256(convert_to(topic, 'UTF8')) || state) "
            "FROM {schema}.{table} WHERE originator_id = %s AND originator_version > %s "
            "ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with (
            self.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(statement, (originator_id, after_version), prepare=True)
            return [(int(version), bytes(digest)) for version, digest in cursor.fetchall()]

    def row_digest(self, topic: str, state: bytes) -> object:
        """SHA-256 of the topic's SHA-256 and the state."""
        return hashlib.sha256(hashlib.sha256(topic.encode("utf-8")).digest() + state).digest()

    def max_notification_id(self) -> Any:
        return PostgresApplicationRecorder.max_notification_id.__wrapped__(self)

    def originators_among(self, originator_ids: Sequence[str]) -> set[str]:
        """Which of these streams have events (OriginatorIndex), by the primary key's index."""
        statement = SQL(
            "SELECT DISTINCT originator_id FROM {schema}.{table} WHERE originator_id = ANY(%s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, (list(originator_ids),))
            return {row["originator_id"] for row in cursor.fetchall()}


class FailFastPostgresFactory(PostgresFactory):
    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        quick_reconnection(self.datastore.pool)
        # What eventsourcing's own settings do not carry: libpq's connect timeout (without it
        # the pool's attempts wait on a server that never answers for good, and closing the
        # pool waits for them), the pool's name for pg_stat_activity, and the URL's libpq
        # parameters (TLS, application_name, ...). The pool opens on first use, so every
        # connection has them.
        pool_kwargs = self.datastore.pool.kwargs
        assert isinstance(pool_kwargs, dict), "eventsourcing hands the pool a dict"
        pool_kwargs.update(connect_timeout=self.env.get("POSTGRES_CONNECT_TIMEOUT", "5"),
                           fallback_application_name=EVENT_STORE_APPLICATION_NAME)  # fmt: skip
        pool_kwargs.update(json.loads(self.env.get(CONNECT_PARAMETERS) or "{}"))


def quick_reconnection(pool: ConnectionPool[Any]) -> None:
    """psycopg_pool retries a failed connection with doubling pauses (1, 2, 4, ... s) for five
    minutes, so after an outage of a minute the pool would try the server again only half a
    minute after it came back, and every command would fail meanwhile. Giving an attempt up
    after the connect timeout instead lets the next command start a fresh one at once."""
    pool.reconnect_timeout = pool.timeout


def check_database(env: dict[str, str]) -> None:
    """One connection before any pool opens: a server that cannot be reached fails the opening
    within the connect timeout, in libpq's words (a pool's own error says only that it timed
    out); a schema the URL names that does not exist fails saying how to create it."""
    password = env.get("POSTGRES_PASSWORD", "")
    connect = {"dbname": env["POSTGRES_DBNAME"], "host": env["POSTGRES_HOST"],
               "port": env["POSTGRES_PORT"], "user": env["POSTGRES_USER"], "password": password,
               "connect_timeout": env.get("POSTGRES_CONNECT_TIMEOUT", "5"),
               "fallback_application_name": "chatledger",
               **json.loads(env.get(CONNECT_PARAMETERS) or "{}")}  # fmt: skip
    schema = env.get("POSTGRES_SCHEMA", "").strip() or "public"  # as eventsourcing reads it
    try:
        with psycopg.connect(**connect) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        reason = reason.replace(password, "***") if password else reason
        raise DatabaseUnreachableError(f"PostgreSQL: {reason}") from None
    if found is None:
        statement = SQL("CREATE SCHEMA {}").format(Identifier(schema)).as_string()
        raise SchemaMissingError(
            f"the schema {schema!r} that the database URL names does not exist in database "
            f"{env['POSTGRES_DBNAME']!r}: ChatLedger creates its tables but never a schema; "
            f"have the database's owner run `{statement}` (and grant the application's role "
            "USAGE and CREATE on it), or name an existing schema"
        )
