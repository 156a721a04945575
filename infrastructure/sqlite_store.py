"""The SQLite event store: the file prepared before eventsourcing opens it, and an event table
created append-only."""

from __future__ import annotations

import sqlite3
import time

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory

from infrastructure.append_only import sqlite_triggers

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


class AppendOnlyApplicationRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + sqlite_triggers(self.events_table_name)


class AppendOnlySQLiteFactory(SQLiteFactory):
    application_recorder_class = AppendOnlyApplicationRecorder
