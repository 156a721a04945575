"""The SQLite event store: the file prepared before eventsourcing opens it, an event table
created append-only, and the log read in pages faster than eventsourcing reads it (log_pages)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory

from chatledger.domain.chat_cache import row_digest
from chatledger.infrastructure.store.append_only import sqlite_triggers
from chatledger.infrastructure.store.log_pages import ReadsPagesItself, StoredRow

WAL_ATTEMPTS = 100


def ensure_wal_mode(path: str, lock_timeout_s: float) -> None:
    """Put the file in WAL mode once, with retries. eventsourcing switches a new file to WAL on
    its first connection, and processes that start together on a new file would then fail with
    'database is locked': changing the journal mode needs the file to itself, and SQLite does
    not wait for that. Once the file is in WAL mode, nobody needs to change it again."""
    connection = sqlite3.connect(path, timeout=lock_timeout_s, isolation_level=None)
    try:
        for attempt in range(WAL_ATTEMPTS):
            try:
                if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                    return
            except sqlite3.OperationalError:
                if attempt == WAL_ATTEMPTS - 1:
                    raise
            time.sleep(0.02 * (1 + attempt % 5))
    finally:
        connection.close()


class AppendOnlyApplicationRecorder(ReadsPagesItself, SQLiteApplicationRecorder):
    eventsourcings_query = SQLiteApplicationRecorder.select_notifications

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + sqlite_triggers(self.events_table_name)

    def page_rows(self, start: int, limit: int, stop: int | None) -> list[StoredRow]:
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
            f"FROM {self.events_table_name} WHERE rowid>=? "
            f"{'' if stop is None else 'AND rowid<=? '}ORDER BY rowid LIMIT ?"
        )
        params = (start, limit) if stop is None else (start, stop, limit)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            rows: list[StoredRow] = cursor.fetchall()
        return rows

    def row_digests(self, originator_id: str, after_version: int) -> list[tuple[int, object]]:
        """RowDigests: hashed in this process, beside the file (SQLite has no hash function);
        only the columns needed are read, not eventsourcing's stored events made of them."""
        statement = (
            "SELECT originator_version, topic, state "  # noqa: S608 (the table name is ours)
            f"FROM {self.events_table_name} WHERE originator_id=? AND originator_version>? "
            "ORDER BY originator_version"
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (originator_id, after_version))
            return [(row[0], row_digest(row[1], row[2])) for row in cursor.fetchall()]

    def row_digest(self, topic: str, state: bytes) -> object:
        return row_digest(topic, state)

    def originators_among(self, originator_ids: Sequence[str]) -> set[str]:
        """Which of these streams have events (OriginatorIndex), by the primary key's index."""
        found: set[str] = set()
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(originator_ids), _IDS_PER_QUERY):
                part = list(originator_ids[start : start + _IDS_PER_QUERY])
                marks = ",".join("?" * len(part))  # the ids are bound; the table name is ours
                table = self.events_table_name
                sql = f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})"  # noqa: S608
                cursor.execute(sql, part)
                found.update(row["originator_id"] for row in cursor.fetchall())
        return found


# SQLite builds before 3.32 bind at most 999 parameters per statement.
_IDS_PER_QUERY = 900


class AppendOnlySQLiteFactory(SQLiteFactory):
    application_recorder_class = AppendOnlyApplicationRecorder
